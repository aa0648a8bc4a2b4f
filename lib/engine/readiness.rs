//! Standby readiness and drift (DESIGN §13): could this node run each service if it had to,
//! and do both nodes run the same files for it?
//!
//! The executor looks at the files a service uses (`Service::files_used`) and its volume
//! devices every few seconds and reports what it found (`Input::Readiness`); NICs and data
//! paths come from their own watches. Each node tells the peer its file digests, its verdicts
//! and its last moves in a `Report` frame: when they change, when the peer restarts, and
//! every two minutes besides (a lost frame is not lost for long; an idle pair does not wake
//! for it more often).
//!
//! Report text, one record a line: `FILE SERVICE DIGEST ROLE…: NAME` (DIGEST is 16 hex
//! digits of SHA-256, `-x` appended when not executable, or `missing`), `READY SERVICE yes` or
//! `READY SERVICE no REASON`, `MOVE SERVICE …` (its last move there).

use super::interface::{Action, FileFact, LocalFacts};
use super::{Engine, PeerStatus};
use crate::clock::Millis;
use crate::config::AlertEvent;
use crate::log::Level;
use std::collections::BTreeMap;
use std::sync::Arc;
/// What this node knows of both nodes' readiness.
#[derive(Clone, Debug, Default)]
pub(super) struct Knowing {
    local: Option<LocalFacts>,
    /// Where each service's files are in `local.files` (grouped by service on arrival: every
    /// verdict looks up its own, and a pass judges every service).
    files_at: BTreeMap<String, std::ops::Range<usize>>,
    /// The peer's report: digests by (service, role and path), verdicts and last moves.
    peer_files: BTreeMap<(String, String), String>,
    peer_ready: BTreeMap<String, String>,
    peer_moves: BTreeMap<String, String>,
    /// This node's verdict per service, as last logged.
    ready_was: BTreeMap<String, bool>,
    /// What was last sent: the report as built, and the IPv6 lines before it (compared
    /// apart, so a pass copies no report that did not change).
    sent: String,
    sent6: String,
    sent_at: Millis,
    sent_to_boot: u64,
    /// The report as last built, and when to build it again: at once when an input that
    /// bears on it arrived (`dirty`: facts, NICs, data paths, the peer's report, a move),
    /// else every `JUDGE_EVERY` (what changes with time alone: the lease, the peer's state).
    built: String,
    next_build: Millis,
    pub(super) dirty: bool,
}

impl Knowing {
    /// When the readiness report is built again, while this node judges readiness.
    pub(super) fn next_look(&self) -> Option<Millis> {
        self.local.is_some().then_some(self.next_build)
    }

    /// What the executor found on this node.
    pub(super) fn facts_arrived(&mut self, mut facts: LocalFacts) {
        facts.files.sort_by(|a, b| a.service.cmp(&b.service));
        self.files_at.clear();
        let mut start = 0;
        for (i, f) in facts.files.iter().enumerate() {
            if facts
                .files
                .get(i + 1)
                .is_none_or(|next| next.service != f.service)
            {
                self.files_at.insert(f.service.clone(), start..i + 1);
                start = i + 1;
            }
        }
        self.local = Some(facts);
        self.dirty = true;
    }

    /// The files this node found for a service.
    fn files_of(&self, name: &str) -> &[FileFact] {
        match (&self.local, self.files_at.get(name)) {
            (Some(local), Some(at)) => local.files.get(at.clone()).unwrap_or(&[]),
            _ => &[],
        }
    }

    /// The files of a service whose digest differs between the nodes: (role and path, ours,
    /// the peer's).
    pub(super) fn drift(&self, name: &str) -> Vec<(String, String, String)> {
        self.files_of(name)
            .iter()
            .filter_map(|f| {
                let what = format!("{}: {}", f.role, f.name);
                let theirs = self.peer_files.get(&(name.to_string(), what.clone()))?;
                let ours = digest_word(f);
                (ours != *theirs).then(|| (what, ours, theirs.clone()))
            })
            .collect()
    }

    /// Why this node's own files and devices cannot run the service, if they cannot.
    fn local_problem(&self, name: &str) -> Result<(), String> {
        if self.local.is_none() {
            return Err("not checked yet".into());
        }
        for f in self.files_of(name) {
            match &f.digest {
                Err(why) => return Err(format!("{} {} {why}", f.role, f.path)),
                Ok((_, false)) if f.must_execute => {
                    return Err(format!("{} {} is not executable", f.role, f.path))
                }
                Ok(_) => {}
            }
        }
        Ok(())
    }

    /// A volume device of the service this node cannot use, and why.
    fn device_problem(&self, name: &str) -> Option<String> {
        let d = self
            .local
            .as_ref()?
            .devices
            .iter()
            .find(|d| d.service == name && d.problem.is_some())?;
        let why = d.problem.as_deref().unwrap_or("");
        Some(format!("volume device {} {why}", d.device))
    }

    /// The peer's report (lines it cannot mean, or of services `known` does not know, are
    /// skipped); the IPv6 addresses it names on the public network.
    pub(super) fn peer_report(
        &mut self,
        text: &str,
        known: impl Fn(&str) -> bool,
    ) -> Vec<std::net::IpAddr> {
        let mut files = BTreeMap::new();
        let mut ready = BTreeMap::new();
        let mut moves = BTreeMap::new();
        // What status will show: printable lines only.
        let mut public6 = Vec::new();
        for line in text.lines().filter(|l| !l.chars().any(char::is_control)) {
            let mut w = line.splitn(3, ' ');
            let (kind, svc, rest) = (w.next(), w.next(), w.next().unwrap_or(""));
            if kind == Some("PUBLIC6") {
                public6.extend(
                    rest.split(' ')
                        .filter_map(|a| a.parse::<std::net::Ipv6Addr>().ok())
                        .map(std::net::IpAddr::V6)
                        .take(64),
                );
                continue;
            }
            let Some(svc) = svc.filter(|s| known(s)) else {
                continue;
            };
            match kind {
                Some("FILE") => {
                    if let Some((digest, what)) = rest.split_once(' ') {
                        files.insert((svc.to_string(), what.to_string()), digest.to_string());
                    }
                }
                Some("READY") => {
                    ready.insert(svc.to_string(), rest.to_string());
                }
                Some("MOVE") => {
                    moves.insert(svc.to_string(), format!("{svc} {rest}"));
                }
                _ => {}
            }
        }
        self.peer_files = files;
        self.peer_ready = ready;
        self.peer_moves = moves;
        self.dirty = true;
        public6
    }

    /// The peer's last move of a service, as it reported it.
    pub(super) fn peer_move(&self, name: &str) -> Option<&String> {
        self.peer_moves.get(name)
    }
}

pub use crate::frame::MAX_REPORT;
const RESEND: Millis = 120_000;
/// As often as the executor looks at the files: judging every service costs in proportion to
/// them (256 services judged every second were most of an idle hasvrd's work).
const JUDGE_EVERY: Millis = 5000;

fn digest_word(f: &FileFact) -> String {
    match &f.digest {
        Ok((d, true)) => d.clone(),
        Ok((d, false)) => format!("{d}-x"),
        Err(_) => "missing".into(),
    }
}

impl Engine {
    /// Where the service runs, or should (the node whose files count when they differ).
    fn home_of(&self, name: &str) -> String {
        self.services
            .get(name)
            .map(|s| {
                if s.intent.runner.is_empty() {
                    s.intent.primary.clone()
                } else {
                    s.intent.runner.clone()
                }
            })
            .unwrap_or_default()
    }

    /// Could this node run the service now, and if not, the first reason why.
    pub(super) fn ready_here(&self, name: &str) -> Result<(), String> {
        let Some(cfg) = self.config.service(name) else {
            return Err("no such service".into());
        };
        self.knowing.local_problem(name)?;
        if let Some(why) = self.unable_here(name) {
            return Err(why);
        }
        if let Some(why) = self.knowing.device_problem(name) {
            return Err(why);
        }
        // Files that differ count against the node the service would move to.
        if self.home_of(name) != self.node {
            if let Some((what, _, _)) = self.knowing.drift(name).first() {
                let peer = cfg.other_server(&self.node);
                return Err(format!("{what} differs from {peer}'s"));
            }
        }
        Ok(())
    }

    /// Once a pass: a WARNING when this node stops being ready for a service, an INFO when
    /// it is again; the report to the peer when it changed (or is due).
    pub(super) fn note_readiness(&mut self) {
        if self.knowing.local.is_none() {
            return;
        }
        if self.knowing.dirty || self.now >= self.knowing.next_build {
            self.knowing.dirty = false;
            self.knowing.next_build = self.now + JUDGE_EVERY;
            self.knowing.built = self.judge_readiness();
        }
        self.send_report();
    }

    /// Each service's verdict (logged when it changes), and the report that carries them.
    fn judge_readiness(&mut self) -> String {
        let layout = Arc::clone(&self.layout);
        let names = &layout.names;
        let mut report = String::new();
        for name in names {
            let verdict = self.ready_here(name);
            let now_ready = verdict.is_ok();
            let was = self.knowing.ready_was.insert(name.clone(), now_ready);
            match (&verdict, was) {
                (Err(why), Some(true) | None) => self.log_alert(
                    Level::Warning,
                    AlertEvent::Readiness,
                    name,
                    format!("service {name}: this node is not ready to run it: {why}"),
                ),
                (Ok(()), Some(false)) => self.log_alert(
                    Level::Info,
                    AlertEvent::Readiness,
                    name,
                    format!("service {name}: this node is ready to run it again"),
                ),
                _ => {}
            }
            for f in self.knowing.files_of(name) {
                report.push_str(&format!(
                    "FILE {name} {} {}: {}\n",
                    digest_word(f),
                    f.role,
                    f.name
                ));
            }
            match verdict {
                Ok(()) => report.push_str(&format!("READY {name} yes\n")),
                Err(why) => report.push_str(&format!("READY {name} no {why}\n")),
            }
            if let Some(m) = self.services.get(name).and_then(|s| s.last_move.as_ref()) {
                report.push_str(&format!("MOVE {m}\n"));
            }
        }
        self.knowing.ready_was.retain(|n, _| names.contains(n));
        report
    }

    /// The report to the peer, when it changed, the peer restarted, or it is due again.
    fn send_report(&mut self) {
        let Some(boot) = self.peer.view.as_ref().map(|p| p.boot) else {
            return;
        };
        if self.peer_status() != PeerStatus::Up {
            return;
        }
        let public6 = self.public6_lines();
        let due = self.knowing.built != self.knowing.sent
            || public6 != self.knowing.sent6
            || boot != self.knowing.sent_to_boot
            || self.now >= self.knowing.sent_at + RESEND;
        let Some(link) = self.peer.best_link(self.now).filter(|_| due) else {
            return;
        };
        // The IPv6 addresses first: a report cut to its limit keeps them.
        let mut text = format!("{public6}{}", self.knowing.built);
        if text.len() > MAX_REPORT {
            let cut = text[..MAX_REPORT].rfind('\n').map_or(0, |i| i + 1);
            text.truncate(cut);
        }
        let payload = crate::frame::Message::Report {
            sender: self.node.clone(),
            text,
        }
        .encode();
        // What was built, not what fitted: a report cut short is not sent again every pass.
        self.knowing.sent = self.knowing.built.clone();
        self.knowing.sent6 = public6;
        self.knowing.sent_at = self.now;
        self.knowing.sent_to_boot = boot;
        self.out.push(Action::Send {
            link: Some(link),
            payload,
        });
    }

    /// The peer's report.
    pub(super) fn report_from_peer(&mut self, text: &str) {
        let config = &self.config;
        let public6 = self
            .knowing
            .peer_report(text, |s| config.service(s).is_some());
        self.peer.public.learned6(public6);
    }

    /// `READY`, `DRIFT` and the peer's last moves, for status (all services, or one).
    pub(super) fn readiness_lines(&self, only: Option<&str>) -> String {
        let mut t = String::new();
        let peer = self.peer_name().to_string();
        let peer_known = self.peer_status() == PeerStatus::Up;
        for s in &self.config.services {
            let name = s.name.as_str();
            if only.is_some_and(|o| o != name) {
                continue;
            }
            if self.knowing.local.is_some() {
                match self.ready_here(name) {
                    Ok(()) => t.push_str(&format!("READY {name} {} yes\n", self.node)),
                    Err(why) => t.push_str(&format!("READY {name} {} no {why}\n", self.node)),
                }
            }
            if let Some(r) = self.knowing.peer_ready.get(name).filter(|_| peer_known) {
                t.push_str(&format!("READY {name} {peer} {r}\n"));
            }
            for (what, ours, theirs) in self.knowing.drift(name) {
                t.push_str(&format!(
                    "DRIFT {name} {}={ours} {peer}={theirs} {what}\n",
                    self.node
                ));
            }
        }
        t
    }

    /// Whether this node, and the peer, could run the service (as status's `READY` lines;
    /// `None`: not known yet).
    pub(super) fn ready_on_both(&self, name: &str) -> (Option<bool>, Option<bool>) {
        let here = self
            .knowing
            .local
            .is_some()
            .then(|| self.ready_here(name).is_ok());
        let there = self
            .knowing
            .peer_ready
            .get(name)
            .filter(|_| self.peer_status() == PeerStatus::Up)
            .map(|r| r == "yes" || r.starts_with("yes "));
        (here, there)
    }

    /// The peer's moves, for status (`PEERMOVE NODE line`).
    pub(super) fn peer_move_lines(&self) -> String {
        let peer = self.peer_name().to_string();
        self.config
            .services
            .iter()
            .filter_map(|s| self.knowing.peer_moves.get(&s.name))
            .map(|m| format!("PEERMOVE {peer} {m}\n"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::Knowing;
    use crate::engine::interface::{DeviceFact, FileFact, LocalFacts};

    fn file(service: &str, name: &str, digest: Result<(String, bool), String>) -> FileFact {
        FileFact {
            service: service.into(),
            role: "start",
            name: name.into(),
            path: format!("/opt/ha/{name}"),
            digest,
            must_execute: true,
        }
    }

    #[test]
    fn files_are_found_by_service_and_what_differs_from_the_peer_is_drift() {
        let mut k = Knowing::default();
        assert_eq!(k.local_problem("web"), Err("not checked yet".into()));
        k.facts_arrived(LocalFacts {
            files: vec![
                file("web", "web.start", Ok(("aaaa".into(), true))),
                file("db", "db.start", Ok(("bbbb".into(), false))),
                file("web", "web.stop", Err("is missing".into())),
                FileFact {
                    must_execute: false,
                    ..file("conf", "app.conf", Ok(("dddd".into(), false)))
                },
            ],
            devices: vec![DeviceFact {
                service: "db".into(),
                device: "/dev/loop7".into(),
                problem: Some("is not there".into()),
            }],
        });
        assert!(k.dirty);
        assert_eq!(k.files_of("web").len(), 2);
        assert_eq!(k.files_of("db").len(), 1);
        assert_eq!(
            k.local_problem("web"),
            Err("start /opt/ha/web.stop is missing".into())
        );
        assert_eq!(
            k.local_problem("db"),
            Err("start /opt/ha/db.start is not executable".into())
        );
        assert_eq!(k.local_problem("conf"), Ok(()), "a file it only reads");
        assert_eq!(
            k.device_problem("db").as_deref(),
            Some("volume device /dev/loop7 is not there")
        );
        assert_eq!(k.device_problem("web"), None);

        let report = "FILE web aaaa start: web.start\nFILE db cccc start: db.start\n\
             FILE gone dddd start: gone.start\nREADY db no disk\nMOVE web 12:00 start 40ms\n\
             READY web \u{7}yes\nPUBLIC6 eth0 fd00::2 nonsense fd00::3\n";
        let six = k.peer_report(report, |s| s == "web" || s == "db");
        assert_eq!(six.len(), 2, "{six:?}");
        assert_eq!(k.drift("web"), vec![]);
        assert_eq!(
            k.drift("db"),
            vec![("start: db.start".into(), "bbbb-x".into(), "cccc".into())]
        );
        assert_eq!(
            k.peer_move("web").map(String::as_str),
            Some("web 12:00 start 40ms")
        );
        assert_eq!(k.peer_ready.get("db").map(String::as_str), Some("no disk"));
        assert!(
            !k.peer_ready.contains_key("web"),
            "a line with a control character"
        );
        assert!(
            !k.peer_files.keys().any(|(s, _)| s == "gone"),
            "unknown service"
        );
    }
}
