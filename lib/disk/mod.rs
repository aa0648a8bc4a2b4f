//! Shared disks: the disk link's device (`layout`), direct I/O on it (`device`), the volume
//! lock (`lease`), and writing a node's slot (`slot`); the heartbeat transport over it is
//! `link::disk` (hahb-disk).

pub mod data_path;
pub mod device;
pub mod layout;
pub mod lease;
pub mod slot;

use crate::error::{Error, Result};

/// `havol init DEVICE`: writes the disk header and empties both slots. Refuses a device that
/// is too small, or one that already carries a SureHA disk with a beat written in the last
/// `watch` (a running cluster's disk) unless `force`.
pub fn init(path: &str, force: bool) -> Result<u64> {
    let d = device::Device::open(path).map_err(|e| Error::failed(format!("{path}: {e}")))?;
    let size = d
        .size()
        .map_err(|e| Error::failed(format!("{path}: {e}")))?;
    if size < layout::DEVICE_SIZE {
        return Err(Error::failed(format!(
            "{path}: {size} bytes is too small for a disk link (at least {} bytes; 1 MiB is plenty)",
            layout::DEVICE_SIZE
        )));
    }
    if !force {
        if let Ok(h) = d.read(0, layout::BLOCK) {
            if layout::decode_header(&h).is_ok() && slots_moving(&d) {
                return Err(Error::failed(format!(
                    "{path}: a SureHA disk in use (a node's beat is moving on it); stop both nodes first, or give --force"
                )));
            }
        }
    }
    let id = crate::sys::random_u64();
    let empty = vec![0u8; 2 * layout::BLOCK];
    for slot in 0..2 {
        d.write(layout::slot_offset(slot), &empty)
            .map_err(|e| Error::failed(format!("{path}: {e}")))?;
    }
    d.write(0, &layout::header_block(id))
        .map_err(|e| Error::failed(format!("{path}: {e}")))?;
    Ok(id)
}

/// Whether either slot's beat counter moves within a second.
fn slots_moving(d: &device::Device) -> bool {
    let read = |slot| {
        d.read(layout::beat_offset(slot), layout::BLOCK)
            .ok()
            .and_then(|b| layout::Beat::decode(&b).ok())
            .map(|b| (b.writer, b.counter))
    };
    let before = [read(0), read(1)];
    std::thread::sleep(std::time::Duration::from_secs(1));
    let after = [read(0), read(1)];
    before
        .iter()
        .zip(&after)
        .any(|(b, a)| a.is_some() && a != b)
}
