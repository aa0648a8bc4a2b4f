//! Small memory shared with a child process: a link's heard page.

use super::check;
use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, RawFd};

/// A small file in memory, shared with a child through an inherited descriptor (a link's
/// heard page): nothing on a disk, no path anybody else can open. Close-on-exec; the
/// caller keeps it open in the child with `Spec::keep_fds`.
#[cfg(target_os = "linux")]
pub fn shared_page(name: &str) -> io::Result<std::fs::File> {
    let cname = CString::new(name).map_err(|_| io::Error::other("a NUL in the name"))?;
    // SAFETY: a valid C string and flags; the new descriptor is owned by the File.
    let fd = check(unsafe { libc::memfd_create(cname.as_ptr(), libc::MFD_CLOEXEC) })?;
    // SAFETY: fd was just created and is owned by nobody else.
    let f = unsafe { std::fs::File::from_raw_fd(fd) };
    f.set_len(8)?;
    Ok(f)
}

/// Elsewhere: an unlinked temporary file.
#[cfg(not(target_os = "linux"))]
pub fn shared_page(name: &str) -> io::Result<std::fs::File> {
    let path = std::env::temp_dir().join(format!(".sureha-{name}-{}", super::getpid()));
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)?;
    let _ = std::fs::remove_file(&path);
    f.set_len(8)?;
    Ok(f)
}

/// A u64 in a shared page (a link's heard page): the link stores, hasvrd loads, both as
/// plain memory accesses (no syscall a beat). The page is a `shared_page`, which nobody
/// else can open or shorten, so an access never faults.
pub struct SharedU64 {
    ptr: std::ptr::NonNull<u64>,
    _file: std::fs::File,
}

impl SharedU64 {
    pub fn map(file: std::fs::File) -> io::Result<SharedU64> {
        if file.metadata()?.len() < 8 {
            return Err(io::Error::other("the shared page is shorter than 8 bytes"));
        }
        // SAFETY: a fresh shared mapping of the first 8 bytes of a file at least that long;
        // the kernel picks the address, and the result is checked.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                8,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr = std::ptr::NonNull::new(p.cast::<u64>())
            .ok_or_else(|| io::Error::other("mmap returned null"))?;
        Ok(SharedU64 { ptr, _file: file })
    }

    fn cell(&self) -> &std::sync::atomic::AtomicU64 {
        // SAFETY: the mapping is page-aligned, 8 bytes long, and lives as long as self;
        // another process writes it only through atomics of the same size.
        unsafe { std::sync::atomic::AtomicU64::from_ptr(self.ptr.as_ptr()) }
    }

    pub fn store(&self, v: u64) {
        self.cell().store(v, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn load(&self) -> u64 {
        self.cell().load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl Drop for SharedU64 {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `map`, which nothing uses any more.
        unsafe {
            libc::munmap(self.ptr.as_ptr().cast(), 8);
        }
    }
}

/// A descriptor this process inherited and was told about (by number, in its environment),
/// if it is open and a regular or memory file; it is made close-on-exec.
pub fn inherited_file(fd: RawFd) -> Option<std::fs::File> {
    if fd <= 2 {
        return None;
    }
    // SAFETY: fcntl and fstat only look at the descriptor; st is a valid buffer.
    unsafe {
        if libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) < 0 {
            return None;
        }
        let mut st: libc::stat = std::mem::zeroed();
        if libc::fstat(fd, &mut st) < 0 || st.st_mode & libc::S_IFMT != libc::S_IFREG {
            return None;
        }
        // SAFETY: the descriptor is open, ours (inherited for this), and owned from here on.
        Some(std::fs::File::from_raw_fd(fd))
    }
}
