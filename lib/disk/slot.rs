//! Writing this node's slot of the disk link: its last frames into the slot's entries, then
//! the beat block that names them (hahb-disk, and an orphaned one repeating hasvrd's last).

use super::device::Device;
use super::layout::{self, Beat, Entry, ENTRIES};

/// Writes the last frames (at most one per entry), then the beat block that names them.
pub(crate) fn write_frames(
    d: &Device,
    slot: usize,
    beat: &mut Beat,
    number: &mut u64,
    frames: &[Vec<u8>],
) -> std::io::Result<()> {
    for f in &frames[frames.len().saturating_sub(ENTRIES)..] {
        if f.len() > layout::ENTRY_SIZE {
            continue;
        }
        *number += 1;
        let e = (*number % ENTRIES as u64) as usize;
        // The beat block stops naming the entry before it is overwritten.
        beat.entries[e] = Entry::default();
        d.write(layout::entry_offset(slot, e), f)?;
        beat.entries[e] = Entry {
            number: *number,
            len: f.len() as u32,
            crc: crate::frame::crc32(f),
        };
    }
    beat.counter += 1;
    d.write(layout::beat_offset(slot), &beat.encode())
}
