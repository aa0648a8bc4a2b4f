//! The processes that keep a mount busy: their working directory, root, executable, open
//! files or mapped files lie under it. Only processes of this mount namespace count (the
//! other node of a test, or a container, has its own mounts at the same paths).

use std::path::Path;

fn namespace(pid: &str) -> Option<std::path::PathBuf> {
    std::fs::read_link(format!("/proc/{pid}/ns/mnt")).ok()
}

fn under(p: &Path, point: &Path) -> bool {
    p == point || p.starts_with(point)
}

fn holds(pid: &str, point: &Path) -> bool {
    let base = format!("/proc/{pid}");
    for l in ["cwd", "root", "exe"] {
        if std::fs::read_link(format!("{base}/{l}")).is_ok_and(|p| under(&p, point)) {
            return true;
        }
    }
    if let Ok(fds) = std::fs::read_dir(format!("{base}/fd")) {
        for fd in fds.flatten() {
            if std::fs::read_link(fd.path()).is_ok_and(|p| under(&p, point)) {
                return true;
            }
        }
    }
    if let Ok(maps) = std::fs::read_to_string(format!("{base}/maps")) {
        let p = point.to_string_lossy();
        if maps
            .lines()
            .filter_map(|l| l.split_whitespace().nth(5))
            .any(|f| under(Path::new(f), point) || f.starts_with(&*p))
        {
            return true;
        }
    }
    false
}

/// The pids of this namespace's processes that use something under `point`.
pub fn holders(point: &Path) -> Vec<u32> {
    let me = crate::sys::getpid();
    let my_ns = namespace("self");
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return vec![];
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != me)
        .filter(|pid| namespace(&pid.to_string()) == my_ns)
        .filter(|pid| holds(&pid.to_string(), point))
        .collect()
}

/// Stops every process holding the mount: TERM, then KILL after `grace`. Returns the pids
/// that were found.
pub fn kill_holders(point: &Path, grace: std::time::Duration) -> Vec<u32> {
    let found = holders(point);
    for &p in &found {
        let _ = crate::sys::kill(p, libc::SIGTERM);
    }
    let until = std::time::Instant::now() + grace;
    while std::time::Instant::now() < until && found.iter().any(|&p| crate::sys::pid_exists(p)) {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    for p in holders(point) {
        let _ = crate::sys::kill(p, libc::SIGKILL);
    }
    // Killed processes let go once they are gone; give them a moment.
    let until = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while std::time::Instant::now() < until && !holders(point).is_empty() {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    found
}
