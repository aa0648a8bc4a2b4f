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

use super::interface::{log, Action, ReplyTo};
use super::Engine;
use crate::config::{AlertEvent, Config};
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
struct LicenseWatch {
    today: String,
    warned: Vec<String>,
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

/// The administrative state as this node keeps it, and the watch on its licenses.
#[derive(Clone, Debug, Default)]
pub(super) struct Admin {
    pub state: AdminState,
    watch: LicenseWatch,
}

impl Admin {
    /// What `etc/license` and `etc/lock` held at start.
    pub(super) fn loaded(&mut self, state: AdminState, hosts: &Hosts, out: &mut Vec<Action>) {
        if state.rank() > self.state.rank() {
            self.state = state;
        }
        self.note_licenses(hosts, out);
    }

    pub(super) fn today_is(&mut self, today: String, hosts: &Hosts, out: &mut Vec<Action>) {
        if today != self.watch.today {
            self.watch.today = today;
            self.note_licenses(hosts, out);
        }
    }

    /// The lock refuses this command, and says why.
    pub(super) fn locked_against(&self, cmd: &Command) -> Option<String> {
        let (by, since) = self.state.lock.as_ref()?;
        let blocked = match cmd {
            Command::Unlock(_) | Command::License(None) | Command::Api(..) => false,
            Command::License(Some(_)) | Command::Lock(..) => true,
            c => c.changes_anything(),
        };
        blocked.then(|| format!("locked by {by} since {since}; haadm unlock first"))
    }

    /// lock, unlock, license: the reply, if the command is one of them. A change of the lock
    /// is an alert event when `lock_alert`.
    pub(super) fn command(
        &mut self,
        cmd: Command,
        hosts: &Hosts,
        lock_alert: bool,
        out: &mut Vec<Action>,
    ) -> Option<Reply> {
        let mut next = self.state.clone();
        let done = match cmd {
            Command::Lock(by, since) => {
                next.lock = Some((by.clone(), since.clone()));
                format!("configuration locked by {by} since {since} on both nodes\n")
            }
            Command::Unlock(by) => {
                if next.lock.take().is_none() {
                    return Some(Reply::ok("not locked\n"));
                }
                format!("configuration unlocked by {by}\n")
            }
            Command::License(None) => return Some(Reply::ok(self.license_lines(hosts))),
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
            _ => return None,
        };
        next.stamp = self.state.stamp + 1;
        next.by_node = hosts.node.to_string();
        let text = done.trim_end().to_string();
        if next.lock != self.state.lock && lock_alert {
            out.push(Action::Alert {
                event: AlertEvent::Lock,
                service: String::new(),
                text: text.clone(),
            });
        }
        log(out, Level::Info, text);
        self.set(next, hosts, out);
        Some(Reply::ok(done))
    }

    fn set(&mut self, next: AdminState, hosts: &Hosts, out: &mut Vec<Action>) {
        self.state = next;
        out.push(Action::WriteAdmin(self.state.encode()));
        self.send(hosts.node, out);
        self.note_licenses(hosts, out);
    }

    /// Sends our state to the peer (it is newer than what the peer's beat showed).
    pub(super) fn send(&self, node: &str, out: &mut Vec<Action>) {
        let payload = crate::frame::Message::Admin {
            sender: node.to_string(),
            text: self.state.encode(),
        }
        .encode();
        out.push(Action::Send {
            link: None,
            payload,
        });
    }

    /// The peer's beat shows its stamp: whether ours is newer.
    pub(super) fn ahead_of(&self, stamp: u64, by_node: &str) -> bool {
        (stamp, by_node) < self.state.rank()
    }

    /// The peer's whole state: taken when newer.
    pub(super) fn peer_sent(&mut self, text: &str, hosts: &Hosts, out: &mut Vec<Action>) {
        let Some(state) = AdminState::decode(text) else {
            log(
                out,
                Level::Warning,
                "the peer sent an administrative state (lock, licenses) that does not parse; ignored".into(),
            );
            return;
        };
        if state.rank() > self.state.rank() {
            let mut state = state;
            // Licenses entered on each server before they were joined are all kept: ours
            // that the peer lacks go back to it under a new stamp.
            let ours: Vec<License> = self
                .state
                .licenses
                .iter()
                .filter(|l| !state.licenses.iter().any(|x| x.host == l.host))
                .cloned()
                .collect();
            if !ours.is_empty() {
                state.licenses.extend(ours);
                state.licenses.sort_by(|a, b| a.host.cmp(&b.host));
                state.stamp += 1;
                state.by_node = hosts.node.to_string();
            }
            let lock_changed = state.lock != self.state.lock;
            log(
                out,
                Level::Info,
                match (&state.lock, lock_changed) {
                    (Some((by, since)), true) => {
                        format!("configuration locked by {by} since {since} (from the peer)")
                    }
                    (None, true) => "configuration unlocked (from the peer)".into(),
                    _ => "license lines updated (from the peer)".into(),
                },
            );
            self.set(state, hosts, out);
        }
    }

    pub(super) fn license_state(&self, host: &str) -> (&'static str, Option<&License>) {
        let today = &self.watch.today;
        match self.state.licenses.iter().find(|l| l.host == host) {
            None => ("MISSING", None),
            Some(l) if l.expiration != "never" && !today.is_empty() && l.expiration < *today => {
                ("EXPIRED", Some(l))
            }
            Some(l) => ("OK", Some(l)),
        }
    }

    /// The cluster's hosts, then any other host a license names.
    pub(super) fn hosts(&self, hosts: &Hosts) -> Vec<String> {
        let mut h: Vec<String> = hosts.configured.clone();
        for l in &self.state.licenses {
            if !h.contains(&l.host) {
                h.push(l.host.clone());
            }
        }
        h
    }

    /// `LICENSE HOST SERIAL EXPIRATION STATE`, one line a host.
    pub(super) fn license_lines(&self, hosts: &Hosts) -> String {
        self.hosts(hosts)
            .iter()
            .map(|h| match self.license_state(h) {
                (st, Some(l)) => format!("LICENSE {h} {} {} {st}\n", l.serial, l.expiration),
                (st, None) => format!("LICENSE {h} - - {st}\n"),
            })
            .collect()
    }

    /// A WARNING for each host whose license is missing or expired, once per change.
    fn note_licenses(&mut self, hosts: &Hosts, out: &mut Vec<Action>) {
        let bad: Vec<String> = self
            .hosts(hosts)
            .iter()
            .filter_map(|h| match self.license_state(h).0 {
                "OK" => None,
                st => Some(format!("{h} {st}")),
            })
            .collect();
        if bad != self.watch.warned {
            if !bad.is_empty() {
                log(out, Level::Warning, format!("license: {}; nothing stops because of it (haadm license HOST SERIAL EXPIRATION LICENSE)", bad.join(", ")));
            }
            self.watch.warned = bad;
        }
    }

    /// Status records: `LOCKED USER TIME`, and the hosts whose license is not OK.
    pub(super) fn status_lines(&self, hosts: &Hosts) -> String {
        let mut t = String::new();
        if let Some((by, since)) = &self.state.lock {
            t.push_str(&format!("LOCKED {by} {since}\n"));
        }
        for line in self.license_lines(hosts).lines() {
            if !line.ends_with(" OK") {
                t.push_str(line);
                t.push('\n');
            }
        }
        t
    }
}

/// This node and the cluster's hosts as the configuration names them (this node alone
/// before it names a pair).
pub(super) struct Hosts<'a> {
    pub node: &'a str,
    pub configured: Vec<String>,
}

impl Hosts<'_> {
    pub(super) fn of<'a>(config: &Config, node: &'a str) -> Hosts<'a> {
        let configured = config
            .nodes()
            .map(|(a, b)| vec![a.to_string(), b.to_string()])
            .unwrap_or_else(|| vec![node.to_string()]);
        Hosts { node, configured }
    }
}

impl Engine {
    pub(super) fn hosts_now(&self) -> Hosts<'_> {
        Hosts::of(&self.config, &self.node)
    }

    /// A command of the administrative state (lock, unlock, license), answered.
    pub(super) fn admin_command(&mut self, cmd: Command, reply: Option<ReplyTo>) {
        let hosts = Hosts::of(&self.config, &self.node);
        let lock_alert = self.config.wants_alert(AlertEvent::Lock);
        if let Some(r) = self.admin.command(cmd, &hosts, lock_alert, &mut self.out) {
            self.reply(reply, r);
        }
    }

    /// The peer's beat shows its stamp: ours goes if it is behind (at most once a second).
    pub(super) fn compare_admin(&mut self, stamp: u64, by_node: &str) {
        if self.admin.ahead_of(stamp, by_node) && self.sending.admin_due(self.now) {
            self.admin.send(&self.node, &mut self.out);
        }
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

    fn pair(node: &str) -> Hosts<'_> {
        Hosts {
            node,
            configured: vec!["alpha".into(), "beta".into()],
        }
    }

    fn sent_state(out: &[Action]) -> String {
        out.iter()
            .find_map(|a| match a {
                Action::Send { payload, .. } => match crate::frame::Message::decode(payload) {
                    Ok(crate::frame::Message::Admin { text, .. }) => Some(text),
                    _ => None,
                },
                _ => None,
            })
            .expect("the state is sent to the peer")
    }

    #[test]
    fn a_lock_is_taken_alone_stamped_written_sent_and_then_refuses_changes() {
        let mut a = Admin::default();
        let mut out = Vec::new();
        let lock = Command::Lock("ops".into(), "2026-12-07T10:00:00".into());
        let r = a.command(lock, &pair("alpha"), true, &mut out).unwrap();
        assert_eq!(r.status, crate::request::Status::Ok);
        assert_eq!(a.state.rank(), (1, "alpha"));
        assert!(out.iter().any(|x| matches!(
            x,
            Action::Alert {
                event: AlertEvent::Lock,
                ..
            }
        )));
        assert!(out
            .iter()
            .any(|x| matches!(x, Action::WriteAdmin(t) if t.contains("lock ops"))));
        assert!(sent_state(&out).contains("lock ops 2026-12-07T10:00:00"));
        // No license yet: warned once, for both hosts.
        let warned = |out: &[Action]| {
            out.iter()
                .filter(|x| matches!(x, Action::Log { text, .. } if text.starts_with("license:")))
                .count()
        };
        assert_eq!(warned(&out), 1);
        let words: Vec<String> = ["service", "bringout", "web"].map(String::from).to_vec();
        let bringout = crate::request::parse_command(&words).unwrap();
        let why = a.locked_against(&bringout).expect("locked");
        assert!(
            why.contains("locked by ops since 2026-12-07T10:00:00"),
            "{why}"
        );
        assert_eq!(a.locked_against(&Command::Unlock("ops".into())), None);
        // Unlocking, without an alert program for it: no alert, the same warning not again.
        let mut out = Vec::new();
        a.command(
            Command::Unlock("ops".into()),
            &pair("alpha"),
            false,
            &mut out,
        );
        assert!(!out.iter().any(|x| matches!(x, Action::Alert { .. })));
        assert_eq!(warned(&out), 0);
        assert_eq!(a.locked_against(&bringout), None);
        assert_eq!(a.state.rank(), (2, "alpha"));
    }

    #[test]
    fn a_newer_state_from_the_peer_keeps_our_licenses_it_lacks_and_an_older_one_changes_nothing() {
        let mut ours = Admin::default();
        let mut out = Vec::new();
        let license =
            |h: &str| Command::License(Some((h.into(), "SN".into(), "never".into(), "K".into())));
        ours.command(license("alpha"), &pair("alpha"), false, &mut out);
        let mut theirs = Admin::default();
        theirs.command(license("beta"), &pair("beta"), false, &mut out);
        theirs.command(license("beta"), &pair("beta"), false, &mut out);
        let mut out = Vec::new();
        ours.peer_sent(&theirs.state.encode(), &pair("alpha"), &mut out);
        let hosts: Vec<&str> = ours
            .state
            .licenses
            .iter()
            .map(|l| l.host.as_str())
            .collect();
        assert_eq!(hosts, ["alpha", "beta"]);
        // Ours went back under a newer stamp, so the peer takes them.
        assert_eq!(ours.state.rank(), (3, "alpha"));
        assert!(ours.ahead_of(2, "beta"));
        assert!(sent_state(&out).contains("license alpha"));
        assert_eq!(
            ours.license_lines(&pair("alpha")),
            "LICENSE alpha SN never OK\nLICENSE beta SN never OK\n"
        );
        let mut out = Vec::new();
        ours.peer_sent(&theirs.state.encode(), &pair("alpha"), &mut out);
        assert!(out.is_empty(), "older: nothing happens: {out:?}");
        ours.peer_sent("stamp x", &pair("alpha"), &mut out);
        assert!(matches!(
            &out[..],
            [Action::Log {
                level: Level::Warning,
                ..
            }]
        ));
    }
}
