//! Direct, synchronous block I/O on a shared device: every read comes from the device and
//! every write is on it when the call returns, so the other node sees what we wrote and we
//! see what it wrote, past any cache of this kernel.

use super::layout::BLOCK;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// A block-aligned buffer, as O_DIRECT requires.
struct Aligned {
    ptr: *mut u8,
    len: usize,
}

impl Aligned {
    fn new(len: usize) -> Aligned {
        let len = len.div_ceil(BLOCK).max(1) * BLOCK;
        let layout = std::alloc::Layout::from_size_align(len, BLOCK).expect("block layout");
        // SAFETY: the layout has a non-zero size; the pointer is checked for null.
        let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
        if ptr.is_null() {
            std::alloc::handle_alloc_error(layout);
        }
        Aligned { ptr, len }
    }
    fn bytes(&self) -> &[u8] {
        // SAFETY: ptr points to len initialised (zeroed) bytes owned by self.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
    fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as above, and &mut self makes the access exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }
}

impl Drop for Aligned {
    fn drop(&mut self) {
        let layout = std::alloc::Layout::from_size_align(self.len, BLOCK).expect("block layout");
        // SAFETY: allocated in `new` with this very layout.
        unsafe { std::alloc::dealloc(self.ptr, layout) }
    }
}

pub struct Device {
    fd: OwnedFd,
    pub path: String,
}

impl Device {
    /// Opens for direct, synchronous reads and writes. A file system without O_DIRECT (a
    /// test's tmpfs) still gets synchronous writes.
    pub fn open(path: &str) -> io::Result<Device> {
        let c = std::ffi::CString::new(path)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in path"))?;
        let base = libc::O_RDWR | libc::O_CLOEXEC | libc::O_DSYNC;
        for flags in [base | libc::O_DIRECT, base] {
            // SAFETY: c is a valid NUL-terminated string.
            let fd = unsafe { libc::open(c.as_ptr(), flags) };
            if fd >= 0 {
                // SAFETY: fd was just opened and is owned by nobody else.
                let fd = unsafe { OwnedFd::from_raw_fd(fd) };
                return Ok(Device {
                    fd,
                    path: path.to_string(),
                });
            }
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EINVAL) {
                return Err(e);
            }
        }
        Err(io::Error::last_os_error())
    }

    /// Opens for direct reads only (the data path's probe).
    pub fn open_read(path: &str) -> io::Result<Device> {
        use std::os::unix::fs::OpenOptionsExt;
        let f = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECT)
            .open(path)
            .or_else(|e| {
                if e.raw_os_error() == Some(libc::EINVAL) {
                    std::fs::File::open(path)
                } else {
                    Err(e)
                }
            })?;
        Ok(Device {
            fd: f.into(),
            path: path.to_string(),
        })
    }

    /// The device's size in bytes.
    pub fn size(&self) -> io::Result<u64> {
        // SAFETY: a valid descriptor; lseek has no memory effects.
        let end = unsafe { libc::lseek(self.fd.as_raw_fd(), 0, libc::SEEK_END) };
        if end < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(end as u64)
    }

    /// Reads `len` bytes (rounded up to whole blocks) at a block-aligned offset.
    pub fn read(&self, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        let mut buf = Aligned::new(len);
        let total = buf.len;
        whole(total, |done| {
            let rest = &mut buf.bytes_mut()[done..];
            // SAFETY: rest is a valid writable region of rest.len() bytes.
            unsafe {
                libc::pread(
                    self.fd.as_raw_fd(),
                    rest.as_mut_ptr().cast(),
                    rest.len(),
                    (offset + done as u64) as libc::off_t,
                )
            }
        })?;
        Ok(buf.bytes()[..len].to_vec())
    }

    /// Writes whole blocks at a block-aligned offset; on the device when it returns.
    pub fn write(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        let mut buf = Aligned::new(data.len());
        buf.bytes_mut()[..data.len()].copy_from_slice(data);
        whole(buf.len, |done| {
            let rest = &buf.bytes()[done..];
            // SAFETY: rest is a valid readable region of rest.len() bytes.
            unsafe {
                libc::pwrite(
                    self.fd.as_raw_fd(),
                    rest.as_ptr().cast(),
                    rest.len(),
                    (offset + done as u64) as libc::off_t,
                )
            }
        })
    }
}

/// Repeats a pread/pwrite from where the last one stopped until `total` bytes are done.
fn whole(total: usize, mut step: impl FnMut(usize) -> isize) -> io::Result<()> {
    let mut done = 0;
    while done < total {
        match step(done) {
            n if n < 0 => {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
            0 => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the device ends there",
                ))
            }
            n => done += n as usize,
        }
    }
    Ok(())
}

/// Reads one block of a device directly, from a thread, and gives up waiting after
/// `limit`: a dying disk can hang a read for minutes, and the caller must not hang with it.
/// The thread, if stuck, ends whenever the kernel lets the read return.
pub fn probe_read(path: &str, limit: std::time::Duration) -> Result<(), String> {
    let (tx, rx) = std::sync::mpsc::channel();
    let p = path.to_string();
    let spawned = std::thread::Builder::new()
        .name("probe".into())
        .spawn(move || {
            let r = Device::open_read(&p).and_then(|d| d.read(0, BLOCK).map(|_| ()));
            let _ = tx.send(r.map_err(|e| e.to_string()));
        });
    if let Err(e) = spawned {
        return Err(format!("cannot start a reader: {e}"));
    }
    match rx.recv_timeout(limit) {
        Ok(r) => r,
        Err(_) => Err(format!(
            "no answer within {}",
            crate::clock::human(limit.as_millis() as u64)
        )),
    }
}

/// Drops this kernel's cached blocks of a device (BLKFLSBUF), so a file system mounted next
/// reads what the other node last wrote, not what this node remembers. Not a block device:
/// nothing to drop.
pub fn drop_cached_blocks(path: &str) -> io::Result<()> {
    let f = std::fs::File::open(path)?;
    const BLKFLSBUF: libc::c_ulong = 0x1261;
    // SAFETY: BLKFLSBUF takes no argument; the descriptor is valid.
    let r = unsafe { libc::ioctl(f.as_raw_fd(), BLKFLSBUF as _, 0) };
    if r < 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::ENOTTY) {
            return Ok(());
        }
        return Err(e);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_back_what_it_wrote_at_block_offsets() {
        let dir = std::env::temp_dir().join(format!("sureha-dev-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("dev");
        std::fs::write(&path, vec![0u8; 64 * 1024]).unwrap();
        let d = Device::open(path.to_str().unwrap()).unwrap();
        assert_eq!(d.size().unwrap(), 64 * 1024);
        let mut data = vec![7u8; BLOCK];
        data[0] = 1;
        d.write(2 * BLOCK as u64, &data).unwrap();
        assert_eq!(d.read(2 * BLOCK as u64, 100).unwrap(), data[..100].to_vec());
        assert!(d.read(64 * 1024, BLOCK).is_err());
        assert!(probe_read(path.to_str().unwrap(), std::time::Duration::from_secs(5)).is_ok());
        assert!(probe_read("/nonexistent/dev", std::time::Duration::from_secs(5)).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
