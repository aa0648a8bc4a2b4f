//! The only home of `unsafe` and raw libc calls. Everything here is a thin, safe wrapper;
//! callers above this layer never see a raw pointer.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::Path;

mod dir_watch;
mod net;
mod poll;
mod shared;
pub use dir_watch::DirWatch;
pub use net::*;
pub use poll::{poll, PollFd, PollSet, POLLERR, POLLHUP, POLLIN, POLLOUT};
pub use shared::{inherited_file, shared_page, SharedU64};

fn cstr(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))
}

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Creates a FIFO with `mode`; an existing path is left alone (the caller verifies it).
pub fn mkfifo(path: &Path, mode: u32) -> io::Result<()> {
    let c = cstr(path)?;
    // SAFETY: `c` is a valid NUL-terminated string that outlives the call.
    match check(unsafe { libc::mkfifo(c.as_ptr(), mode as libc::mode_t) }) {
        Ok(_) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Opens `path` with raw flags (always close-on-exec, never follows a final symlink).
pub fn open(path: &Path, flags: libc::c_int) -> io::Result<OwnedFd> {
    let c = cstr(path)?;
    // SAFETY: `c` is valid for the call; the returned descriptor is owned by nobody else.
    let fd = check(unsafe {
        libc::open(
            c.as_ptr(),
            flags | libc::O_CLOEXEC | libc::O_NOFOLLOW,
            0o600 as libc::c_uint,
        )
    })?;
    // SAFETY: `fd` was just returned by open(2) and is not owned elsewhere.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

pub const O_RDONLY: libc::c_int = libc::O_RDONLY;
pub const O_WRONLY: libc::c_int = libc::O_WRONLY;
pub const O_RDWR: libc::c_int = libc::O_RDWR;
pub const O_NONBLOCK: libc::c_int = libc::O_NONBLOCK;

/// True when the descriptor is a FIFO.
pub fn is_fifo(fd: &impl AsRawFd) -> io::Result<bool> {
    // SAFETY: `st` is plain data fully written by fstat on success.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `fd` is a live descriptor and `st` a valid out-pointer.
    check(unsafe { libc::fstat(fd.as_raw_fd(), &mut st) })?;
    Ok(st.st_mode & libc::S_IFMT == libc::S_IFIFO)
}

/// The descriptor's file type bits (`S_IFMT`) and size.
// mode_t is u32 on Linux but u16 on some Unixes: the casts are for those.
#[allow(clippy::unnecessary_cast)]
pub fn file_kind_and_size(fd: &impl AsRawFd) -> io::Result<(u32, u64)> {
    // SAFETY: `st` is plain data fully written by fstat on success.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `fd` is a live descriptor and `st` a valid out-pointer.
    check(unsafe { libc::fstat(fd.as_raw_fd(), &mut st) })?;
    Ok((st.st_mode as u32 & libc::S_IFMT as u32, st.st_size as u64))
}

#[allow(clippy::unnecessary_cast)]
pub const S_IFREG: u32 = libc::S_IFREG as u32;

/// Device and inode of an open descriptor.
pub fn file_identity(fd: &impl AsRawFd) -> io::Result<(u64, u64)> {
    // SAFETY: `st` is plain data fully written by fstat on success.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `fd` is a live descriptor and `st` a valid out-pointer.
    check(unsafe { libc::fstat(fd.as_raw_fd(), &mut st) })?;
    Ok((st.st_dev as u64, st.st_ino as u64))
}

/// A pipe whose both ends are close-on-exec.
pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` has room for the two descriptors pipe(2) writes.
    check(unsafe { libc::pipe(fds.as_mut_ptr()) })?;
    // SAFETY: both descriptors were just created and are owned by nobody else.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    set_cloexec(&r, true)?;
    set_cloexec(&w, true)?;
    Ok((r, w))
}

pub fn set_cloexec(fd: &impl AsRawFd, on: bool) -> io::Result<()> {
    let raw = fd.as_raw_fd();
    // SAFETY: fcntl on a live descriptor with integer arguments only.
    let flags = check(unsafe { libc::fcntl(raw, libc::F_GETFD) })?;
    let new = if on {
        flags | libc::FD_CLOEXEC
    } else {
        flags & !libc::FD_CLOEXEC
    };
    // SAFETY: as above.
    check(unsafe { libc::fcntl(raw, libc::F_SETFD, new) })?;
    Ok(())
}

pub fn set_nonblock(fd: &impl AsRawFd, on: bool) -> io::Result<()> {
    let raw = fd.as_raw_fd();
    // SAFETY: fcntl on a live descriptor with integer arguments only.
    let flags = check(unsafe { libc::fcntl(raw, libc::F_GETFL) })?;
    let new = if on {
        flags | libc::O_NONBLOCK
    } else {
        flags & !libc::O_NONBLOCK
    };
    // SAFETY: as above.
    check(unsafe { libc::fcntl(raw, libc::F_SETFL, new) })?;
    Ok(())
}

/// Takes an exclusive `flock` without waiting; `Ok(false)` when another process holds it.
pub fn try_lock(fd: &impl AsRawFd) -> io::Result<bool> {
    // SAFETY: flock on a live descriptor.
    match check(unsafe { libc::flock(fd.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) }) {
        Ok(_) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::EWOULDBLOCK) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Milliseconds since this machine booted (CLOCK_BOOTTIME): comparable between processes of
/// one boot, unlike `Instant`.
/// A random number from the kernel, or failing that one made of the time and the pid.
pub fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b))
        .is_ok()
    {
        return u64::from_be_bytes(b);
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    nanos ^ (u64::from(getpid()) << 40)
}

pub fn boottime_millis() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid timespec for the call to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    ts.tv_sec as u64 * 1000 + ts.tv_nsec as u64 / 1_000_000
}

/// Reboots (or halts) this machine at once, without syncing: a fence must not wait on a
/// dying disk. Returns only if the kernel refused.
pub fn reboot_now(halt: bool) -> io::Error {
    let cmd = if halt {
        libc::RB_HALT_SYSTEM
    } else {
        libc::RB_AUTOBOOT
    };
    // SAFETY: reboot(2) takes a command constant and nothing else.
    unsafe { libc::reboot(cmd) };
    io::Error::last_os_error()
}

/// gethostid(3): this host's 32-bit identity.
pub fn hostid() -> u32 {
    // SAFETY: gethostid takes nothing and returns a number.
    unsafe { libc::gethostid() as u32 }
}

/// Whether standard input is a terminal.
pub fn is_terminal_stdin() -> bool {
    // SAFETY: isatty only looks at the descriptor.
    unsafe { libc::isatty(libc::STDIN_FILENO) == 1 }
}

/// Reads one line from the terminal with echo off (a password), after writing `prompt` to
/// stderr; `None` when standard input is not a terminal.
pub fn read_hidden_line(prompt: &str) -> Option<io::Result<String>> {
    let fd = libc::STDIN_FILENO;
    // SAFETY: a termios for tcgetattr to fill; isatty and tcgetattr only read the descriptor.
    let mut old: libc::termios = unsafe { std::mem::zeroed() };
    if unsafe { libc::isatty(fd) } != 1 || unsafe { libc::tcgetattr(fd, &mut old) } != 0 {
        return None;
    }
    let mut quiet = old;
    quiet.c_lflag &= !libc::ECHO;
    quiet.c_lflag |= libc::ECHONL;
    eprint!("{prompt}");
    // SAFETY: a valid termios for a terminal descriptor.
    unsafe { libc::tcsetattr(fd, libc::TCSAFLUSH, &quiet) };
    let mut line = String::new();
    let r = std::io::stdin().read_line(&mut line);
    // SAFETY: as above, putting back what was there.
    unsafe { libc::tcsetattr(fd, libc::TCSAFLUSH, &old) };
    Some(r.map(|_| line.trim_end_matches(['\n', '\r']).to_string()))
}

/// Takes an exclusive `flock`, waiting for it.
pub fn lock_wait(fd: &impl AsRawFd) -> io::Result<()> {
    loop {
        // SAFETY: flock on a live descriptor.
        match check(unsafe { libc::flock(fd.as_raw_fd(), libc::LOCK_EX) }) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            r => return r.map(|_| ()),
        }
    }
}

/// How a reaped child ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    Code(i32),
    Signal(i32),
}

impl std::fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExitStatus::Code(c) => write!(f, "exit status {c}"),
            ExitStatus::Signal(s) => write!(f, "killed by signal {s}"),
        }
    }
}

/// Reaps the child `pid` if it has exited, without blocking.
pub fn reap(pid: u32) -> Option<ExitStatus> {
    let mut status: libc::c_int = 0;
    // SAFETY: `status` is a valid out-pointer.
    let r = unsafe { libc::waitpid(pid as libc::pid_t, &mut status, libc::WNOHANG) };
    if r <= 0 {
        return None;
    }
    if libc::WIFEXITED(status) {
        Some(ExitStatus::Code(libc::WEXITSTATUS(status)))
    } else if libc::WIFSIGNALED(status) {
        Some(ExitStatus::Signal(libc::WTERMSIG(status)))
    } else {
        None
    }
}

/// Reaps one exited child without blocking.
pub fn reap_any() -> Option<(u32, ExitStatus)> {
    let mut status: libc::c_int = 0;
    // SAFETY: `status` is a valid out-pointer.
    let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
    if pid <= 0 {
        return None;
    }
    let st = if libc::WIFEXITED(status) {
        ExitStatus::Code(libc::WEXITSTATUS(status))
    } else if libc::WIFSIGNALED(status) {
        ExitStatus::Signal(libc::WTERMSIG(status))
    } else {
        return reap_any();
    };
    Some((pid as u32, st))
}

pub const SIGTERM: i32 = libc::SIGTERM;
pub const SIGKILL: i32 = libc::SIGKILL;
pub const SIGHUP: i32 = libc::SIGHUP;
pub const SIGINT: i32 = libc::SIGINT;
pub const SIGQUIT: i32 = libc::SIGQUIT;
pub const SIGUSR1: i32 = libc::SIGUSR1;
pub const SIGCHLD: i32 = libc::SIGCHLD;

/// Sends `sig` to a process.
pub fn kill(pid: u32, sig: i32) -> io::Result<()> {
    if pid == 0 || pid > i32::MAX as u32 {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "bad pid"));
    }
    // SAFETY: kill(2) with a positive pid only; no memory is involved.
    check(unsafe { libc::kill(pid as libc::pid_t, sig) }).map(|_| ())
}

/// Sends `sig` to a whole process group.
pub fn kill_group(pgid: u32, sig: i32) -> io::Result<()> {
    if pgid <= 1 || pgid > i32::MAX as u32 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "bad process group",
        ));
    }
    // SAFETY: kill(2) with a negative pid addresses the group; no memory is involved.
    check(unsafe { libc::kill(-(pgid as libc::pid_t), sig) }).map(|_| ())
}

/// True while a process with this pid exists (it may be another user's).
pub fn pid_exists(pid: u32) -> bool {
    match kill(pid, 0) {
        Ok(()) => true,
        Err(e) => e.raw_os_error() == Some(libc::EPERM),
    }
}

/// True while some process is in this group.
pub fn group_exists(pgid: u32) -> bool {
    match kill_group(pgid, 0) {
        Ok(()) => true,
        Err(e) => e.raw_os_error() == Some(libc::EPERM),
    }
}

/// The process group of `pid`, if that process exists.
pub fn process_group(pid: u32) -> Option<u32> {
    if pid == 0 || pid > i32::MAX as u32 {
        return None;
    }
    // SAFETY: getpgid only reads the process table.
    let g = unsafe { libc::getpgid(pid as libc::pid_t) };
    (g > 0).then_some(g as u32)
}

pub fn getpid() -> u32 {
    std::process::id()
}

pub fn getppid() -> u32 {
    // SAFETY: getppid cannot fail.
    unsafe { libc::getppid() as u32 }
}

/// The node name of `uname -n`.
pub fn nodename() -> String {
    // SAFETY: `u` is plain data fully written by uname on success.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `u` is a valid out-pointer.
    if unsafe { libc::uname(&mut u) } != 0 {
        return "localhost".into();
    }
    let bytes: Vec<u8> = u
        .nodename
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Broken-down local time of a Unix time: (year, month, day, hour, minute, second).
pub fn localtime(secs: i64) -> (i32, u32, u32, u32, u32, u32) {
    let t = secs as libc::time_t;
    // SAFETY: `tm` is plain data fully written by localtime_r on success.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the call.
    if unsafe { libc::localtime_r(&t, &mut tm) }.is_null() {
        return (1970, 1, 1, 0, 0, 0);
    }
    (
        tm.tm_year + 1900,
        (tm.tm_mon + 1) as u32,
        tm.tm_mday as u32,
        tm.tm_hour as u32,
        tm.tm_min as u32,
        tm.tm_sec as u32,
    )
}

/// Sets how a `Command` child starts: its own session (so its own process group and no
/// controlling terminal), and `keep` descriptors inherited across exec.
pub fn child_setup(cmd: &mut std::process::Command, keep: Vec<RawFd>) {
    // SAFETY: the closure runs between fork and exec and calls only async-signal-safe
    // functions (setsid, fcntl); it allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setsid() < 0 {
                return Err(io::Error::last_os_error());
            }
            for &fd in &keep {
                let flags = libc::fcntl(fd, libc::F_GETFD);
                if flags < 0 || libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) < 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
}

/// What `fork` returned in this process.
pub enum Forked {
    Parent(u32),
    Child,
}

/// fork(2). Only called by single-threaded programs before they start any thread.
pub fn fork() -> io::Result<Forked> {
    // SAFETY: callers are single-threaded at this point (daemon start-up), so the child
    // may run arbitrary code.
    let pid = check(unsafe { libc::fork() })?;
    Ok(if pid == 0 {
        Forked::Child
    } else {
        Forked::Parent(pid as u32)
    })
}

/// Detaches the calling process: new session, `/` as working directory, stdio on /dev/null.
pub fn detach() -> io::Result<()> {
    // SAFETY: setsid takes no arguments.
    check(unsafe { libc::setsid() })?;
    std::env::set_current_dir("/")?;
    let null = open(Path::new("/dev/null"), libc::O_RDWR)?;
    for target in 0..3 {
        // SAFETY: dup2 onto the standard descriptors, which this process owns.
        check(unsafe { libc::dup2(null.as_raw_fd(), target) })?;
    }
    Ok(())
}

/// Runs `f` with SIGPIPE blocked in this thread, then discards any SIGPIPE it raised, so a
/// library call writing to a vanished reader gets EPIPE instead of killing the host program.
pub fn without_sigpipe<T>(f: impl FnOnce() -> T) -> T {
    // SAFETY: the sigset_t values are plain data initialised by sigemptyset before use;
    // every pointer passed is valid for the call.
    unsafe {
        let mut block: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut block);
        libc::sigaddset(&mut block, libc::SIGPIPE);
        let was_pending = {
            let mut pending: libc::sigset_t = std::mem::zeroed();
            libc::sigpending(&mut pending);
            libc::sigismember(&pending, libc::SIGPIPE) == 1
        };
        libc::pthread_sigmask(libc::SIG_BLOCK, &block, &mut old);
        let out = f();
        if !was_pending {
            let zero = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            #[cfg(target_os = "linux")]
            while libc::sigtimedwait(&block, std::ptr::null_mut(), &zero) > 0 {}
            #[cfg(not(target_os = "linux"))]
            let _ = zero;
        }
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        out
    }
}

/// Writes as much of `buf` as the descriptor takes now (it may be non-blocking).
pub fn write_some(fd: &impl AsRawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for `buf.len()` bytes.
    let n = unsafe { libc::write(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len()) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// Reads what the descriptor has now; `Ok(0)` is end of file.
pub fn read_some(fd: &impl AsRawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes.
    let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// Takes ownership of a descriptor number handed down by our parent (lifeline pipes).
/// Verifies it is open first, so a wrong number is an error and not undefined behaviour.
pub fn adopt_inherited_fd(fd: RawFd) -> io::Result<OwnedFd> {
    if fd < 3 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "descriptor below 3",
        ));
    }
    // SAFETY: F_GETFD only queries the descriptor.
    check(unsafe { libc::fcntl(fd, libc::F_GETFD) })?;
    // SAFETY: the descriptor is open and, by the calling convention, handed to us alone.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    set_cloexec(&owned, true)?;
    Ok(owned)
}

/// Current file mode bits of a path (no symlink following).
pub fn mode_of(path: &Path) -> io::Result<u32> {
    use std::os::unix::fs::MetadataExt;
    Ok(std::fs::symlink_metadata(path)?.mode() & 0o7777)
}

/// A new pseudo-terminal: our master side, and the path of the slave side (a serial line
/// for tests and demos).
#[cfg(target_os = "linux")]
pub fn open_pty() -> io::Result<(OwnedFd, std::path::PathBuf)> {
    // SAFETY: posix_openpt returns a new descriptor or -1.
    let fd = check(unsafe { libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC) })?;
    // SAFETY: `fd` is a fresh descriptor owned by nobody else.
    let master = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: grantpt/unlockpt on our master descriptor.
    check(unsafe { libc::grantpt(master.as_raw_fd()) })?;
    // SAFETY: as above.
    check(unsafe { libc::unlockpt(master.as_raw_fd()) })?;
    let mut name = [0 as libc::c_char; 128];
    // SAFETY: `name` is valid for its length; ptsname_r writes a NUL-terminated string.
    let r = unsafe { libc::ptsname_r(master.as_raw_fd(), name.as_mut_ptr(), name.len()) };
    if r != 0 {
        return Err(io::Error::from_raw_os_error(r));
    }
    // SAFETY: ptsname_r succeeded, so `name` holds a NUL-terminated string.
    let path = unsafe { std::ffi::CStr::from_ptr(name.as_ptr()) };
    let path = std::path::PathBuf::from(path.to_string_lossy().into_owned());
    // Raw from the start: a slave's default echo would bounce bytes back to the master.
    let slave = open(&path, libc::O_RDWR | libc::O_NOCTTY)?;
    // SAFETY: termios is plain data, filled by tcgetattr before use.
    let mut t: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: valid descriptor and pointer.
    check(unsafe { libc::tcgetattr(slave.as_raw_fd(), &mut t) })?;
    // SAFETY: `t` is a valid termios.
    unsafe { libc::cfmakeraw(&mut t) };
    // SAFETY: valid descriptor and pointer.
    check(unsafe { libc::tcsetattr(slave.as_raw_fd(), libc::TCSANOW, &t) })?;
    Ok((master, path))
}

/// How long ago a process started, from `/proc/PID/stat` (Linux); `None` elsewhere or when
/// it is gone.
pub fn process_age_millis(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Field 22, counted after the command's closing parenthesis (field 2 may hold spaces).
    let start_ticks: u64 = stat
        .rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(19)?
        .parse()
        .ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if hz <= 0 {
        return None;
    }
    let started = start_ticks.saturating_mul(1000) / hz as u64;
    // /proc's start time counts from boot, as CLOCK_BOOTTIME does.
    Some(boottime_millis().saturating_sub(started))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_dual_stack_socket_takes_ipv4_and_ipv6_datagrams() {
        let Ok(s) = super::udp_dual_stack(0) else {
            return; // a kernel without IPv6: the caller falls back to IPv4
        };
        let port = s.local_addr().unwrap().port();
        let v4 = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        v4.send_to(b"four", ("127.0.0.1", port)).unwrap();
        let mut want = vec![b"four".to_vec()];
        // Where loopback has IPv6 (it may not in a container).
        if let Ok(v6) = std::net::UdpSocket::bind("[::1]:0") {
            if v6.send_to(b"six", ("::1", port)).is_ok() {
                want.push(b"six".to_vec());
            }
        }
        let mut got = Vec::new();
        let mut buf = [0u8; 16];
        for _ in 0..200 {
            if let Ok((n, _)) = s.recv_from(&mut buf) {
                got.push(buf[..n].to_vec());
            }
            if got.len() == want.len() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        got.sort();
        assert_eq!(got, want);
    }
}
