//! Every file SureHA uses, named once.
//!
//! `$HAHOME` comes from the environment, else it is the parent of the program's own `bin/`.
//! The node name is `$HANODE`, else `uname -n`.
//!
//! Entries under `$HAHOME/tmp` (the directory is 0700):
//!
//! | name | kind | writer | readers | format | mode |
//! | --- | --- | --- | --- | --- | --- |
//! | `hasvrd.fifo` | FIFO | haadm, API tools, libhaapi, hamond | hasvrd | one request line < PIPE_BUF (see `request`) | 0600 |
//! | `reply.PID.SEQ` | FIFO | hasvrd, once | the client that made it, which removes it | reply text, then EOF | 0600 |
//! | `hamond.pid`, `hasvrd.pid` | file | that daemon, atomically | haadm, rc script | pid and a newline | 0644 |
//! | `hamond.lock`, `hasvrd.lock` | file | that daemon holds a `flock` | the other instance | empty | 0600 |
//! | `hasvrd.state` | file | hasvrd, atomically | hasvrd after a restart | `state` module, versioned | 0600 |
//! | `hasvrd.instance` | file | hasvrd at start, atomically | the next hasvrd | the last boot id its frames carried, decimal | 0600 |
//! | `shutdown` | file | the daemon leaving on purpose | its partner, which then leaves too | empty | 0600 |
//! | `out.SVC.start`, `out.SVC.stop` | file | the script (stdout, stderr) | hasvrd, which logs it | free text | 0600 |
//! | `out.SVC.agent` | file | the agent (stdout, stderr) | people | free text | 0600 |
//! | `agent`, `agent.SVC` | file | the administrator | the template agents | presence only | any |
//!
//! Under `$HAHOME/etc`: `sureha.conf`, `sureha.log`, `authkey`, `passwd`, `license`.

use std::path::{Path, PathBuf};

/// A SureHA installation, and this node's name.
#[derive(Clone, Debug)]
pub struct Home {
    pub root: PathBuf,
    pub node: String,
}

impl Home {
    /// `$HAHOME` and `$HANODE`, with the documented fall-backs.
    pub fn from_env() -> Home {
        let root = match std::env::var_os("HAHOME") {
            Some(h) if !h.is_empty() => PathBuf::from(h),
            _ => std::env::current_exe()
                .ok()
                .and_then(|exe| exe.parent()?.parent().map(Path::to_path_buf))
                .unwrap_or_else(|| PathBuf::from("/opt/sureha")),
        };
        let node = match std::env::var("HANODE") {
            Ok(n) if !n.is_empty() => n,
            _ => crate::sys::nodename(),
        };
        Home { root, node }
    }

    pub fn bin(&self) -> PathBuf {
        self.root.join("bin")
    }
    pub fn etc(&self) -> PathBuf {
        self.root.join("etc")
    }
    pub fn tmp(&self) -> PathBuf {
        self.root.join("tmp")
    }
    pub fn config(&self) -> PathBuf {
        self.etc().join("sureha.conf")
    }
    pub fn log(&self) -> PathBuf {
        self.etc().join("sureha.log")
    }
    pub fn authkey(&self) -> PathBuf {
        self.etc().join("authkey")
    }
    pub fn passwd(&self) -> PathBuf {
        self.etc().join("passwd")
    }
    pub fn license(&self) -> PathBuf {
        self.etc().join("license")
    }
    pub fn lock_state(&self) -> PathBuf {
        self.etc().join("lock")
    }
    pub fn fifo(&self) -> PathBuf {
        self.tmp().join("hasvrd.fifo")
    }
    pub fn pid_file(&self, daemon: Daemon) -> PathBuf {
        self.tmp().join(format!("{}.pid", daemon.name()))
    }
    pub fn lock_file(&self, daemon: Daemon) -> PathBuf {
        self.tmp().join(format!("{}.lock", daemon.name()))
    }
    pub fn state(&self) -> PathBuf {
        self.tmp().join("hasvrd.state")
    }
    pub fn instance(&self) -> PathBuf {
        self.tmp().join("hasvrd.instance")
    }
    pub fn shutdown_marker(&self) -> PathBuf {
        self.tmp().join("shutdown")
    }
    /// Where the output of a service's script or agent goes.
    pub fn output(&self, service: &str, what: &str) -> PathBuf {
        self.tmp().join(format!("out.{service}.{what}"))
    }
    /// A reply FIFO by its name (which `is_reply_name` has accepted).
    pub fn reply(&self, name: &str) -> PathBuf {
        self.tmp().join(name)
    }
    /// A program: absolute as given, else under `$HAHOME/bin`.
    pub fn program(&self, name: &str) -> PathBuf {
        let p = Path::new(name);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.bin().join(p)
        }
    }
}

/// The two supervised daemons.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Daemon {
    Hamond,
    Hasvrd,
}

impl Daemon {
    pub fn name(self) -> &'static str {
        match self {
            Daemon::Hamond => "hamond",
            Daemon::Hasvrd => "hasvrd",
        }
    }
    pub fn partner(self) -> Daemon {
        match self {
            Daemon::Hamond => Daemon::Hasvrd,
            Daemon::Hasvrd => Daemon::Hamond,
        }
    }
}

/// The name of a client's reply FIFO: `reply.PID.SEQ`.
pub fn reply_name(pid: u32, seq: u64) -> String {
    format!("reply.{pid}.{seq}")
}

/// Accepts only names `reply_name` makes, so a request can never point hasvrd elsewhere.
pub fn is_reply_name(name: &str) -> bool {
    let mut parts = name.split('.');
    parts.next() == Some("reply")
        && parts
            .next()
            .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        && parts
            .next()
            .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        && parts.next().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_names_are_confined() {
        assert!(is_reply_name(&reply_name(12, 3)));
        for bad in [
            "reply",
            "reply.1",
            "reply.1.x",
            "../etc/passwd",
            "reply.1.2.3",
            "reply..1",
        ] {
            assert!(!is_reply_name(bad), "{bad}");
        }
    }
}
