//! Child processes: each in its own session and process group, with a clean environment,
//! stdin on /dev/null, output to a file, and an optional deadline after which the whole group
//! gets TERM, then KILL after a grace period. Every child is reaped.

use crate::clock::Millis;
use crate::sys::{self, ExitStatus};
use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::os::fd::RawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// Grace between TERM and KILL.
pub const KILL_GRACE: Millis = 2000;

/// What to run.
#[derive(Clone, Debug)]
pub struct Spec {
    pub program: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// stdout and stderr go here (created anew each run), else to /dev/null.
    pub output: Option<PathBuf>,
    /// Descriptors handed down across exec (lifeline pipes).
    pub keep_fds: Vec<RawFd>,
}

impl Spec {
    pub fn new(program: PathBuf) -> Spec {
        Spec {
            program,
            args: Vec::new(),
            env: Vec::new(),
            output: None,
            keep_fds: Vec::new(),
        }
    }

    pub fn describe(&self) -> String {
        let mut s = self.program.display().to_string();
        for a in &self.args {
            s.push(' ');
            s.push_str(a);
        }
        s
    }
}

/// The environment every child starts from: a fixed PATH, nothing inherited.
pub fn base_env(home: &crate::paths::Home) -> Vec<(String, String)> {
    vec![
        (
            "PATH".into(),
            format!(
                "{}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                home.bin().display()
            ),
        ),
        ("HAHOME".into(), home.root.display().to_string()),
        ("HANODE".into(), home.node.clone()),
        ("LANG".into(), "C".into()),
    ]
}

/// Starts a child in its own session; returns its pid, which is also its process group.
pub fn spawn(spec: &Spec) -> std::io::Result<u32> {
    let mut cmd = Command::new(&spec.program);
    cmd.args(&spec.args)
        .env_clear()
        .envs(spec.env.iter().cloned());
    cmd.stdin(Stdio::null());
    match &spec.output {
        Some(path) => {
            let _ = std::fs::remove_file(path);
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(path)?;
            cmd.stdout(f.try_clone()?).stderr(f);
        }
        None => {
            cmd.stdout(Stdio::null()).stderr(Stdio::null());
        }
    }
    sys::child_setup(&mut cmd, spec.keep_fds.clone());
    let child = cmd.spawn()?;
    // Reaped by `reap_any` in the owner's loop, not through the std handle.
    Ok(child.id())
}

/// Starts a child like `spawn`, with its stdin and stdout on pipes to us (non-blocking, and
/// close-on-exec on our side so no other child inherits them).
pub fn spawn_piped(
    spec: &Spec,
) -> std::io::Result<(u32, std::os::fd::OwnedFd, std::os::fd::OwnedFd)> {
    let mut cmd = Command::new(&spec.program);
    cmd.args(&spec.args)
        .env_clear()
        .envs(spec.env.iter().cloned());
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped());
    match &spec.output {
        Some(path) => {
            // A fresh file each time, so what is read after it dies is its own last words.
            let _ = std::fs::remove_file(path);
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(path)?;
            cmd.stderr(f);
        }
        None => {
            cmd.stderr(Stdio::null());
        }
    }
    sys::child_setup(&mut cmd, spec.keep_fds.clone());
    let mut child = cmd.spawn()?;
    let stdin: std::os::fd::OwnedFd = child
        .stdin
        .take()
        .ok_or_else(|| std::io::Error::other("no stdin pipe"))?
        .into();
    let stdout: std::os::fd::OwnedFd = child
        .stdout
        .take()
        .ok_or_else(|| std::io::Error::other("no stdout pipe"))?
        .into();
    sys::set_nonblock(&stdin, true)?;
    sys::set_nonblock(&stdout, true)?;
    Ok((child.id(), stdin, stdout))
}

struct Tracked<T> {
    tag: T,
    deadline: Option<Millis>,
    term_sent: Option<Millis>,
    kill_sent: bool,
}

/// The children one daemon owns, by pid.
pub struct Children<T> {
    map: BTreeMap<u32, Tracked<T>>,
}

impl<T> Default for Children<T> {
    fn default() -> Self {
        Children {
            map: BTreeMap::new(),
        }
    }
}

/// A child that ended.
pub struct Ended<T> {
    pub pid: u32,
    pub tag: T,
    pub status: ExitStatus,
    /// It ran past its deadline and was killed.
    pub timed_out: bool,
}

impl<T: Clone + PartialEq> Children<T> {
    pub fn add(&mut self, pid: u32, tag: T, deadline: Option<Millis>) {
        self.map.insert(
            pid,
            Tracked {
                tag,
                deadline,
                term_sent: None,
                kill_sent: false,
            },
        );
    }

    pub fn pid_of(&self, tag: &T) -> Option<u32> {
        self.map
            .iter()
            .find(|(_, t)| &t.tag == tag)
            .map(|(pid, _)| *pid)
    }

    /// TERM to the child's whole group now; KILL follows after the grace period.
    pub fn stop(&mut self, pid: u32, now: Millis) {
        if let Some(t) = self.map.get_mut(&pid) {
            if t.term_sent.is_none() {
                let _ = sys::kill_group(pid, sys::SIGTERM);
                t.term_sent = Some(now);
            }
        }
    }

    /// Reaps every ended child.
    pub fn reap(&mut self) -> Vec<Ended<T>> {
        let mut out = Vec::new();
        while let Some((pid, status)) = sys::reap_any() {
            if let Some(t) = self.map.remove(&pid) {
                let timed_out =
                    t.deadline.is_some() && t.term_sent.is_some() && t.deadline <= t.term_sent;
                // The leader is gone; make sure nothing of a timed-out group lingers.
                if t.term_sent.is_some() {
                    let _ = sys::kill_group(pid, sys::SIGKILL);
                }
                out.push(Ended {
                    pid,
                    tag: t.tag,
                    status,
                    timed_out,
                });
            }
        }
        out
    }

    /// Enforces deadlines: TERM at the deadline, KILL after the grace.
    pub fn enforce(&mut self, now: Millis) {
        for (&pid, t) in self.map.iter_mut() {
            match (t.deadline, t.term_sent) {
                (Some(d), None) if now >= d => {
                    let _ = sys::kill_group(pid, sys::SIGTERM);
                    t.term_sent = Some(now);
                }
                (_, Some(sent)) if now >= sent + KILL_GRACE && !t.kill_sent => {
                    let _ = sys::kill_group(pid, sys::SIGKILL);
                    let _ = sys::kill(pid, sys::SIGKILL);
                    t.kill_sent = true;
                }
                _ => {}
            }
        }
    }

    /// Children killed long ago that still do not die (stuck in the kernel on a hung device):
    /// given up on, so whoever waits for them can go on. Their exit is reaped, unreported,
    /// whenever it comes.
    pub fn abandon_unkillable(&mut self, now: Millis) -> Vec<(u32, T)> {
        let gone: Vec<u32> = self
            .map
            .iter()
            .filter(|(_, t)| t.term_sent.is_some_and(|s| now >= s + 3 * KILL_GRACE))
            .map(|(p, _)| *p)
            .collect();
        gone.into_iter()
            .filter_map(|p| self.map.remove(&p).map(|t| (p, t.tag)))
            .collect()
    }

    /// The nearest moment `enforce` or `abandon_unkillable` has work.
    pub fn next_deadline(&self) -> Option<Millis> {
        self.map
            .values()
            .filter_map(|t| match (t.deadline, t.term_sent) {
                (Some(d), None) => Some(d),
                (_, Some(sent)) if t.kill_sent => Some(sent + 3 * KILL_GRACE),
                (_, Some(sent)) => Some(sent + KILL_GRACE),
                _ => None,
            })
            .min()
    }
}

/// Reads at most `limit` bytes of a child's output file.
pub fn read_output(path: &std::path::Path, limit: usize) -> String {
    use std::io::Read;
    let mut buf = Vec::new();
    if let Ok(f) = std::fs::File::open(path) {
        let _ = f.take(limit as u64).read_to_end(&mut buf);
    }
    String::from_utf8_lossy(&buf).into_owned()
}
