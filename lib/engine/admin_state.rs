//! The cluster's administrative state (DESIGN §9): the configuration lock and the license
//! lines, the same on both nodes. Every change bumps a stamp (ties broken by node name); a
//! node whose beat shows an older stamp is sent the whole state (`Message::Admin`), so a node
//! that was down when it changed catches up when it returns.
//!
//! | command | while locked |
//! | --- | --- |
//! | status, review, state, network, license (show), unlock | answered |
//! | create, remove, bringin, bringout, takeover, failover (haadm or APICMD), stop, license (set), reload, lock | refused: `locked by USER since TIME` |
//! | a failover because of a fault | never blocked: it is no command |

use super::interface::{Action, ReplyTo};
use super::Engine;
use crate::config::AlertEvent;
use crate::log::Level;
use crate::request::{valid_expiration, valid_word};
use crate::request::{Command, Reply};

/// One host's license line: `HOST SERIAL EXPIRATION LICENSE`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct License {
    pub host: String,
    pub serial: String,
    /// `YYYY-MM-DD` or `never`.
    pub expiration: String,
    pub key: String,
}

/// Today's date as the executor last told it (licenses expire on it), and the licenses
/// last warned of (warned again only when that changes).
#[derive(Clone, Debug, Default)]
pub(super) struct LicenseWatch {
    pub today: String,
    pub warned: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AdminState {
    pub stamp: u64,
    pub by_node: String,
    /// (who, since when), as the lock command gave them.
    pub lock: Option<(String, String)>,
    pub licenses: Vec<License>,
}

impl AdminState {
    /// The text form: what travels to the peer, and `etc/license` and `etc/lock` hold.
    pub fn encode(&self) -> String {
        let mut t = format!("stamp {} {}\n", self.stamp, self.by_node);
        if let Some((by, since)) = &self.lock {
            t.push_str(&format!("lock {by} {since}\n"));
        }
        for l in &self.licenses {
            t.push_str(&format!(
                "license {} {} {} {}\n",
                l.host, l.serial, l.expiration, l.key
            ));
        }
        t
    }

    pub fn decode(text: &str) -> Option<AdminState> {
        let mut s = AdminState::default();
        for line in text.lines() {
            let w: Vec<&str> = line.split(' ').collect();
            match w.as_slice() {
                ["stamp", n, node] if node.is_empty() || crate::config::valid_node(node) => {
                    s.stamp = n.parse().ok()?;
                    s.by_node = node.to_string();
                }
                ["lock", by, since] if valid_word(by) && valid_word(since) => {
                    s.lock = Some((by.to_string(), since.to_string()))
                }
                ["license", h, serial, exp, key]
                    if [h, serial, key].iter().all(|x| valid_word(x)) && valid_expiration(exp) =>
                {
                    if s.licenses.len() >= 16 {
                        return None;
                    }
                    s.licenses.push(License {
                        host: h.to_string(),
                        serial: serial.to_string(),
                        expiration: exp.to_string(),
                        key: key.to_string(),
                    })
                }
                [""] => {}
                _ => return None,
            }
        }
        Some(s)
    }

    pub(super) fn rank(&self) -> (u64, &str) {
        (self.stamp, self.by_node.as_str())
    }
}

impl Engine {
    /// What `etc/license` and `etc/lock` held at start.
    pub(super) fn admin_loaded(&mut self, state: AdminState) {
        if state.rank() > self.admin.rank() {
            self.admin = state;
        }
        self.note_licenses();
    }

    pub(super) fn today_is(&mut self, today: String) {
        if today != self.licenses.today {
            self.licenses.today = today;
            self.note_licenses();
        }
    }

    /// The lock refuses this command, and says why.
    pub(super) fn locked_against(&self, cmd: &Command) -> Option<String> {
        let (by, since) = self.admin.lock.as_ref()?;
        let blocked = match cmd {
            Command::Unlock(_) | Command::License(None) | Command::Api(..) => false,
            Command::License(Some(_)) | Command::Lock(..) => true,
            c => c.changes_anything(),
        };
        blocked.then(|| format!("locked by {by} since {since}; haadm unlock first"))
    }

    pub(super) fn admin_command(&mut self, cmd: Command, reply: Option<ReplyTo>) {
        let mut next = self.admin.clone();
        let done = match cmd {
            Command::Lock(by, since) => {
                next.lock = Some((by.clone(), since.clone()));
                format!("configuration locked by {by} since {since} on both nodes\n")
            }
            Command::Unlock(by) => {
                if next.lock.take().is_none() {
                    return self.reply(reply, Reply::ok("not locked\n"));
                }
                format!("configuration unlocked by {by}\n")
            }
            Command::License(None) => {
                let text = self.license_lines();
                return self.reply(reply, Reply::ok(text));
            }
            Command::License(Some((host, serial, expiration, key))) => {
                let l = License {
                    host: host.clone(),
                    serial,
                    expiration,
                    key,
                };
                next.licenses.retain(|x| x.host != host);
                next.licenses.push(l);
                next.licenses.sort_by(|a, b| a.host.cmp(&b.host));
                format!("license of {host} stored on both nodes\n")
            }
            _ => return,
        };
        next.stamp = self.admin.stamp + 1;
        next.by_node = self.node.clone();
        if next.lock != self.admin.lock {
            self.log_alert(
                Level::Info,
                AlertEvent::Lock,
                "",
                done.trim_end().to_string(),
            );
        } else {
            self.log(Level::Info, done.trim_end().to_string());
        }
        self.set_admin(next);
        self.reply(reply, Reply::ok(done));
    }

    fn set_admin(&mut self, next: AdminState) {
        self.admin = next;
        self.out.push(Action::WriteAdmin(self.admin.encode()));
        self.send_admin();
        self.note_licenses();
    }

    /// Sends our state to the peer (it is newer than what the peer's beat showed).
    pub(super) fn send_admin(&mut self) {
        let payload = crate::frame::Message::Admin {
            sender: self.node.clone(),
            text: self.admin.encode(),
        }
        .encode();
        self.out.push(Action::Send {
            link: None,
            payload,
        });
    }

    /// The peer's beat shows its stamp: send ours if it is behind (at most once a second).
    pub(super) fn compare_admin(&mut self, stamp: u64, by_node: &str) {
        if (stamp, by_node) < self.admin.rank() && self.sending.admin_due(self.now) {
            self.send_admin();
        }
    }

    /// The peer's whole state: taken when newer.
    pub(super) fn admin_from_peer(&mut self, text: &str) {
        let Some(state) = AdminState::decode(text) else {
            self.log(
                Level::Warning,
                "the peer sent an administrative state (lock, licenses) that does not parse; ignored".into(),
            );
            return;
        };
        if state.rank() > self.admin.rank() {
            let mut state = state;
            // Licenses entered on each server before they were joined are all kept: ours
            // that the peer lacks go back to it under a new stamp.
            let ours: Vec<License> = self
                .admin
                .licenses
                .iter()
                .filter(|l| !state.licenses.iter().any(|x| x.host == l.host))
                .cloned()
                .collect();
            if !ours.is_empty() {
                state.licenses.extend(ours);
                state.licenses.sort_by(|a, b| a.host.cmp(&b.host));
                state.stamp += 1;
                state.by_node = self.node.clone();
            }
            let lock_changed = state.lock != self.admin.lock;
            self.log(
                Level::Info,
                match (&state.lock, lock_changed) {
                    (Some((by, since)), true) => {
                        format!("configuration locked by {by} since {since} (from the peer)")
                    }
                    (None, true) => "configuration unlocked (from the peer)".into(),
                    _ => "license lines updated (from the peer)".into(),
                },
            );
            self.set_admin(state);
        }
    }

    pub(super) fn license_state(&self, host: &str) -> (&'static str, Option<&License>) {
        match self.admin.licenses.iter().find(|l| l.host == host) {
            None => ("MISSING", None),
            Some(l)
                if l.expiration != "never"
                    && !self.licenses.today.is_empty()
                    && l.expiration < self.licenses.today =>
            {
                ("EXPIRED", Some(l))
            }
            Some(l) => ("OK", Some(l)),
        }
    }

    pub(super) fn hosts(&self) -> Vec<String> {
        let mut h: Vec<String> = self
            .config
            .nodes()
            .map(|(a, b)| vec![a.to_string(), b.to_string()])
            .unwrap_or_else(|| vec![self.node.clone()]);
        for l in &self.admin.licenses {
            if !h.contains(&l.host) {
                h.push(l.host.clone());
            }
        }
        h
    }

    /// `LICENSE HOST SERIAL EXPIRATION STATE`, one line a host.
    pub(super) fn license_lines(&self) -> String {
        self.hosts()
            .iter()
            .map(|h| match self.license_state(h) {
                (st, Some(l)) => format!("LICENSE {h} {} {} {st}\n", l.serial, l.expiration),
                (st, None) => format!("LICENSE {h} - - {st}\n"),
            })
            .collect()
    }

    /// A WARNING for each host whose license is missing or expired, once per change.
    fn note_licenses(&mut self) {
        let bad: Vec<String> = self
            .hosts()
            .iter()
            .filter_map(|h| match self.license_state(h).0 {
                "OK" => None,
                st => Some(format!("{h} {st}")),
            })
            .collect();
        if bad != self.licenses.warned {
            if !bad.is_empty() {
                self.log(Level::Warning, format!("license: {}; nothing stops because of it (haadm license HOST SERIAL EXPIRATION LICENSE)", bad.join(", ")));
            }
            self.licenses.warned = bad;
        }
    }

    /// Status records: `LOCKED USER TIME`, and the hosts whose license is not OK.
    pub(super) fn admin_lines(&self) -> String {
        let mut t = String::new();
        if let Some((by, since)) = &self.admin.lock {
            t.push_str(&format!("LOCKED {by} {since}\n"));
        }
        for line in self.license_lines().lines() {
            if !line.ends_with(" OK") {
                t.push_str(line);
                t.push('\n');
            }
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_round_trips_and_dates_are_checked() {
        let s = AdminState {
            stamp: 3,
            by_node: "alpha".into(),
            lock: Some(("admin@192.0.2.10".into(), "2026-11-26T11:00:00".into())),
            licenses: vec![License {
                host: "alpha".into(),
                serial: "SN1".into(),
                expiration: "2027-02-28".into(),
                key: "K-1".into(),
            }],
        };
        assert_eq!(AdminState::decode(&s.encode()), Some(s));
        assert!(valid_expiration("2024-02-29") && valid_expiration("never"));
        assert!(!valid_expiration("2023-02-29") && !valid_expiration("2027-13-01"));
        assert!(!valid_expiration("27-01-01"));
        assert_eq!(AdminState::decode("license a b 2027-99-01 k\n"), None);
        // Blank lines are nothing; a bad node name, an unknown line or a 17th license spoil
        // the whole text.
        let blank = AdminState::decode("stamp 2 beta\n\nlock a b\n").unwrap();
        assert_eq!(
            (blank.stamp, blank.lock),
            (2, Some(("a".into(), "b".into())))
        );
        assert_eq!(AdminState::decode("stamp 2 be/ta\n"), None);
        assert_eq!(AdminState::decode("stamp 2 beta\nunlock x\n"), None);
        let licenses = |n: usize| -> String {
            (0..n)
                .map(|i| format!("license h{i} s 2027-01-01 k\n"))
                .collect()
        };
        let sixteen = AdminState::decode(&licenses(16)).map(|s| s.licenses.len());
        assert_eq!(sixteen, Some(16));
        assert_eq!(AdminState::decode(&licenses(17)), None);
    }

    #[test]
    fn every_month_has_its_length_and_leap_years_their_day() {
        for ok in [
            "2026-01-31",
            "2026-03-31",
            "2026-12-31",
            "2026-04-30",
            "2026-11-30",
        ] {
            assert!(valid_expiration(ok), "{ok}");
        }
        for bad in [
            "2026-04-31",
            "2026-06-31",
            "2026-09-31",
            "2026-11-31",
            "2026-01-32",
        ] {
            assert!(!valid_expiration(bad), "{bad}");
        }
        // Every fourth year, but not the centuries, unless every fourth century.
        assert!(valid_expiration("2000-02-29") && valid_expiration("2028-02-29"));
        assert!(!valid_expiration("2100-02-29") && !valid_expiration("2026-02-29"));
        assert!(valid_expiration("2026-02-28") && !valid_expiration("2026-02-00"));
        // Exactly YYYY-MM-DD: no short or long fields, nothing before 1970.
        for bad in [
            "2026-1-31",
            "2026-01-1",
            "02026-01-01",
            "1969-12-31",
            "2026-01",
            "2026-01-01-01",
            "2026-0x-01",
            "",
        ] {
            assert!(!valid_expiration(bad), "{bad}");
        }
    }

    #[test]
    fn a_word_is_printable_without_spaces_and_at_most_128_bytes() {
        assert!(valid_word("admin@192.0.2.10") && valid_word(&"x".repeat(128)));
        for bad in ["", "a b", "tab\there", "caf\u{e9}", "nul\0"] {
            assert!(!valid_word(bad), "{bad:?}");
        }
        assert!(!valid_word(&"x".repeat(129)));
        assert_eq!(
            AdminState::decode("stamp 1 alpha\nlock a\u{7f}b now\n").and_then(|s| s.lock),
            None
        );
    }
}
