//! `[alert NAME]` sections (DESIGN §14): a program told of what happened to the cluster.

use super::*;

pub(super) const ALERT_KEYS: [&str; 3] = ["program", "events", "timeout"];

/// At most this many `[alert]` sections: each event starts one program per section.
pub const MAX_ALERTS: usize = 8;

/// What an alert program may be told of (`events`, and `HA_ALERT_EVENT`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AlertEvent {
    /// A service leaves this node for the peer: it cannot run here any more.
    Failover,
    /// A service comes to this node from the peer: the peer is down or cannot run it.
    Takeover,
    /// A service returns to its primary (`switchback = yes`).
    Switchback,
    /// A service is left in ERROR here.
    Error,
    NodeDown,
    NodeUp,
    Partition,
    BothClaim,
    /// The administrative lock was set or lifted.
    Lock,
    /// A service's readiness here changed (it could no longer, or again, run here).
    Readiness,
}

impl AlertEvent {
    pub const ALL: [AlertEvent; 10] = [
        AlertEvent::Failover,
        AlertEvent::Takeover,
        AlertEvent::Switchback,
        AlertEvent::Error,
        AlertEvent::NodeDown,
        AlertEvent::NodeUp,
        AlertEvent::Partition,
        AlertEvent::BothClaim,
        AlertEvent::Lock,
        AlertEvent::Readiness,
    ];

    pub fn word(self) -> &'static str {
        match self {
            AlertEvent::Failover => "failover",
            AlertEvent::Takeover => "takeover",
            AlertEvent::Switchback => "switchback",
            AlertEvent::Error => "error",
            AlertEvent::NodeDown => "node-down",
            AlertEvent::NodeUp => "node-up",
            AlertEvent::Partition => "partition",
            AlertEvent::BothClaim => "both-claim",
            AlertEvent::Lock => "lock",
            AlertEvent::Readiness => "readiness",
        }
    }

    pub fn from_word(w: &str) -> Option<AlertEvent> {
        AlertEvent::ALL.into_iter().find(|e| e.word() == w)
    }
}

/// One `[alert NAME]` section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alert {
    pub name: String,
    /// Absolute path.
    pub program: String,
    pub events: Vec<AlertEvent>,
    pub timeout: Millis,
    pub line: usize,
}

impl Alert {
    pub fn wants(&self, event: AlertEvent) -> bool {
        self.events.contains(&event)
    }
}

pub(super) fn build_alert(sec: &Section, err: &mut impl FnMut(usize, String)) -> Option<Alert> {
    let program = required(sec, "program", err).and_then(|p| {
        if p.starts_with('/') && !p.contains("/../") && !p.ends_with("/..") {
            Some(p.to_string())
        } else {
            let line = sec.get("program").map_or(sec.line, |(_, l)| l);
            err(
                line,
                format!(
                    "{}: program: '{}' is not an absolute path",
                    sec.label(),
                    shown(p)
                ),
            );
            None
        }
    });
    let events = match sec.get("events") {
        None => Some(AlertEvent::ALL.to_vec()),
        Some(_) => value(sec, "events", err, |v| {
            let mut list = Vec::new();
            for w in parse_list(v) {
                let e = AlertEvent::from_word(&w.to_ascii_lowercase()).ok_or_else(|| {
                    format!(
                        "unknown event '{}' (known: {})",
                        shown(&w),
                        AlertEvent::ALL.map(AlertEvent::word).join(" ")
                    )
                })?;
                if !list.contains(&e) {
                    list.push(e);
                }
            }
            Ok(list)
        }),
    };
    let timeout = match sec.get("timeout") {
        None => Some(10_000),
        Some(_) => value(sec, "timeout", err, |v| parse_duration_in(v, 100, 600_000)),
    };
    Some(Alert {
        name: sec.name.clone(),
        program: program?,
        events: events?,
        timeout: timeout?,
        line: sec.line,
    })
}
