//! `$HAHOME/tmp/hasvrd.state`: what hasvrd runs, so a restarted hasvrd adopts it instead of
//! starting it again. Written atomically on every change. Format, version first:
//!
//! ```text
//! sureha-state 1
//! boot 5f2c…                (the kernel's boot id: after a reboot nothing is adopted)
//! config generation=3
//! service web protected=1 primary=alpha epoch=7 resets=1 error=0 error_act=0 phase=running agent_pid=4242 agent_token=981
//! ```

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SavedPhase {
    Stopped,
    Running,
    /// Starting or stopping: how far it got is unknown.
    Transition,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PersistedService {
    pub name: String,
    pub protected: bool,
    pub primary: String,
    pub runner: String,
    pub error: bool,
    pub error_was_active: bool,
    pub epoch: u32,
    pub resets: u16,
    pub phase: SavedPhase,
    pub agent_pid: Option<u32>,
    pub agent_token: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Persisted {
    /// Saved before the machine last booted: processes it names are gone.
    pub rebooted: bool,
    /// The configuration's generation (see `engine`).
    pub generation: u64,
    /// The peer's own addresses, for the public-network check after a restart.
    pub peer_public: Vec<std::net::IpAddr>,
    /// The peer left with its services running: nothing moves until it is back.
    pub peer_kept: bool,
    pub services: Vec<PersistedService>,
}

const MAGIC: &str = "sureha-state 1";
/// The largest state file read back (256 services take about 50 KB).
pub const MAX_FILE: usize = 512 * 1024;

impl Persisted {
    /// The service lines (the caller adds the header with the boot id).
    pub fn to_text(&self) -> String {
        use std::fmt::Write;
        // Written on every change of any service: into one string, no line built apart.
        let mut t = String::with_capacity(64 + 160 * self.services.len());
        let _ = writeln!(t, "config generation={}", self.generation);
        if !self.peer_public.is_empty() {
            t.push_str("peer public=");
            for (i, a) in self.peer_public.iter().enumerate() {
                let _ = write!(t, "{}{a}", if i > 0 { "," } else { "" });
            }
            t.push('\n');
        }
        if self.peer_kept {
            t.push_str("peer kept=1\n");
        }
        for s in &self.services {
            let phase = match s.phase {
                SavedPhase::Stopped => "stopped",
                SavedPhase::Running => "running",
                SavedPhase::Transition => "transition",
            };
            let _ = writeln!(
                t,
                "service {} protected={} primary={} runner={} epoch={} resets={} error={} error_act={} phase={phase} agent_pid={} agent_token={}",
                s.name,
                s.protected as u8,
                s.primary,
                if s.runner.is_empty() { "-" } else { &s.runner },
                s.epoch,
                s.resets,
                s.error as u8,
                s.error_was_active as u8,
                s.agent_pid.unwrap_or(0),
                s.agent_token
            );
        }
        t
    }
}

/// The whole file.
pub fn file_text(boot_id: &str, body: &str) -> String {
    format!("{MAGIC}\nboot {boot_id}\n{body}")
}

/// Parses the file; `boot_id` is this boot's. Unknown or broken lines are reported.
pub fn parse(text: &str, boot_id: &str) -> Result<Persisted, String> {
    let mut lines = text.lines();
    if lines.next() != Some(MAGIC) {
        return Err(format!(
            "not a state file of this version (expected '{MAGIC}')"
        ));
    }
    let mut p = Persisted::default();
    for (i, line) in lines.enumerate() {
        let n = i + 2;
        let mut words = line.split_whitespace();
        match words.next() {
            Some("boot") => p.rebooted = words.next() != Some(boot_id),
            Some("peer") => {
                for w in words {
                    if let Some(list) = w.strip_prefix("public=") {
                        p.peer_public = list.split(',').filter_map(|a| a.parse().ok()).collect();
                    }
                    if w == "kept=1" {
                        p.peer_kept = true;
                    }
                }
            }
            Some("config") => {
                for w in words {
                    if let Some(g) = w.strip_prefix("generation=") {
                        p.generation = g
                            .parse()
                            .map_err(|_| format!("line {n}: bad generation '{g}'"))?;
                    }
                }
            }
            Some("service") => {
                let name = words
                    .next()
                    .ok_or(format!("line {n}: service without name"))?;
                let mut s = PersistedService {
                    name: name.to_string(),
                    protected: false,
                    primary: String::new(),
                    runner: String::new(),
                    error: false,
                    error_was_active: false,
                    epoch: 0,
                    resets: 0,
                    phase: SavedPhase::Stopped,
                    agent_pid: None,
                    agent_token: 0,
                };
                for w in words {
                    let (k, v) = w
                        .split_once('=')
                        .ok_or(format!("line {n}: '{w}' is not key=value"))?;
                    let bad = || format!("line {n}: bad value '{v}' for {k}");
                    match k {
                        "protected" => s.protected = v == "1",
                        "primary" => s.primary = v.to_string(),
                        "runner" => {
                            s.runner = if v == "-" {
                                String::new()
                            } else {
                                v.to_string()
                            }
                        }
                        "error" => s.error = v == "1",
                        "error_act" => s.error_was_active = v == "1",
                        "epoch" => s.epoch = v.parse().map_err(|_| bad())?,
                        "resets" => s.resets = v.parse().map_err(|_| bad())?,
                        "phase" => {
                            s.phase = match v {
                                "stopped" => SavedPhase::Stopped,
                                "running" => SavedPhase::Running,
                                "transition" => SavedPhase::Transition,
                                _ => return Err(bad()),
                            }
                        }
                        "agent_pid" => {
                            s.agent_pid = Some(v.parse().map_err(|_| bad())?).filter(|&p| p > 0)
                        }
                        "agent_token" => s.agent_token = v.parse().map_err(|_| bad())?,
                        _ => {}
                    }
                }
                p.services.push(s);
            }
            None => {}
            Some(other) => return Err(format!("line {n}: unknown record '{other}'")),
        }
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_reboot() {
        let p = Persisted {
            rebooted: false,
            generation: 4,
            peer_public: vec!["192.0.2.2".parse().unwrap()],
            peer_kept: true,
            services: vec![PersistedService {
                name: "web".into(),
                protected: true,
                primary: "alpha".into(),
                runner: "alpha".into(),
                error: false,
                error_was_active: true,
                epoch: 9,
                resets: 2,
                phase: SavedPhase::Running,
                agent_pid: Some(42),
                agent_token: 7,
            }],
        };
        let text = file_text("b1", &p.to_text());
        assert_eq!(parse(&text, "b1").unwrap(), p);
        assert!(parse(&text, "b2").unwrap().rebooted);
        assert!(parse("garbage", "b1").is_err());
        assert!(parse("sureha-state 1\nservice web phase=dancing\n", "b1").is_err());
    }
}
