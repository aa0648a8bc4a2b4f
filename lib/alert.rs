//! Alert programs (DESIGN §14): the runs waiting and under way, and what each is told.
//! A flood of events never becomes a flood of processes: at most `MAX_RUNNING` run at once and
//! `MAX_WAITING` wait; beyond that runs are dropped, counted and logged.

use crate::config::{Alert, AlertEvent};
use std::collections::VecDeque;

/// Alert programs running at once.
pub const MAX_RUNNING: usize = 3;
/// Runs waiting for a free place; more are dropped. Room for a take-over of every service
/// and a change of readiness of each (a few hundred bytes a run).
pub const MAX_WAITING: usize = 2 * crate::config::MAX_SERVICES;

/// One run of one `[alert]` section's program for one event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Run {
    pub alert: String,
    pub program: String,
    pub timeout: crate::clock::Millis,
    pub event: AlertEvent,
    pub service: String,
    pub text: String,
    /// When the event happened, ISO 8601 in UTC with milliseconds.
    pub time: String,
}

impl Run {
    /// The program's environment beyond the base one (`HA_ALERT_*`).
    pub fn environment(&self, node: &str) -> Vec<(String, String)> {
        vec![
            ("HA_ALERT_NAME".into(), self.alert.clone()),
            ("HA_ALERT_EVENT".into(), self.event.word().into()),
            ("HA_ALERT_NODE".into(), node.into()),
            ("HA_ALERT_SERVICE".into(), self.service.clone()),
            ("HA_ALERT_DESC".into(), self.text.clone()),
            ("HA_ALERT_TIME".into(), self.time.clone()),
        ]
    }

    /// How the log names it.
    pub fn label(&self) -> String {
        let on = if self.service.is_empty() {
            String::new()
        } else {
            format!(", service {}", self.service)
        };
        format!("alert {} ({}{on})", self.alert, self.event.word())
    }
}

#[derive(Debug, Default)]
pub struct Runs {
    waiting: VecDeque<Run>,
    running: usize,
    /// Dropped since last told (`take_dropped`).
    dropped: u64,
    /// Every run started, and every one dropped, since hasvrd started (metrics).
    pub started_total: u64,
    pub dropped_total: u64,
}

impl Runs {
    /// Queues a run for each section that wants the event.
    pub fn told(
        &mut self,
        alerts: &[Alert],
        event: AlertEvent,
        service: &str,
        text: &str,
        time: &str,
    ) {
        for a in alerts.iter().filter(|a| a.wants(event)) {
            if self.waiting.len() >= MAX_WAITING {
                self.dropped += 1;
                self.dropped_total += 1;
                continue;
            }
            self.waiting.push_back(Run {
                alert: a.name.clone(),
                program: a.program.clone(),
                timeout: a.timeout,
                event,
                service: service.to_string(),
                text: text.to_string(),
                time: time.to_string(),
            });
        }
    }

    /// The next run to start, if a place is free; it counts as running until `ended`.
    pub fn start_next(&mut self) -> Option<Run> {
        if self.running >= MAX_RUNNING {
            return None;
        }
        let r = self.waiting.pop_front()?;
        self.running += 1;
        self.started_total += 1;
        Some(r)
    }

    /// A run started by `start_next` has ended (or could not start).
    pub fn ended(&mut self) {
        self.running = self.running.saturating_sub(1);
    }

    pub fn running(&self) -> usize {
        self.running
    }

    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }

    /// Runs dropped since the last call.
    pub fn take_dropped(&mut self) -> u64 {
        std::mem::take(&mut self.dropped)
    }
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` for milliseconds since the epoch.
pub fn iso8601_utc(unix_ms: u64) -> String {
    let secs = unix_ms / 1000;
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60,
        unix_ms % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(name: &str, events: &[AlertEvent]) -> Alert {
        Alert {
            name: name.into(),
            program: format!("/usr/local/bin/{name}"),
            events: events.to_vec(),
            timeout: 10_000,
            line: 1,
        }
    }

    #[test]
    fn times_are_iso_8601_in_utc_with_milliseconds() {
        assert_eq!(iso8601_utc(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601_utc(951_782_400_007), "2000-02-29T00:00:00.007Z");
        assert_eq!(iso8601_utc(1_796_650_496_123), "2026-12-07T13:34:56.123Z");
    }

    #[test]
    fn each_section_that_wants_the_event_gets_one_run_with_its_fields() {
        let alerts = [
            alert("mail", &[AlertEvent::NodeDown]),
            alert("log", &AlertEvent::ALL),
            alert("pager", &[AlertEvent::Takeover]),
        ];
        let mut runs = Runs::default();
        runs.told(&alerts, AlertEvent::NodeDown, "", "peer beta is down", "T");
        let r = runs.start_next().expect("a run");
        assert_eq!(r.alert, "mail");
        let env = r.environment("alpha");
        assert!(env.contains(&("HA_ALERT_EVENT".into(), "node-down".into())));
        assert!(env.contains(&("HA_ALERT_NODE".into(), "alpha".into())));
        assert!(env.contains(&("HA_ALERT_SERVICE".into(), "".into())));
        assert!(env.contains(&("HA_ALERT_DESC".into(), "peer beta is down".into())));
        assert!(env.contains(&("HA_ALERT_TIME".into(), "T".into())));
        assert_eq!(runs.start_next().map(|r| r.alert), Some("log".into()));
        assert_eq!(runs.start_next(), None);
    }

    #[test]
    fn a_flood_runs_a_few_at_once_and_drops_what_cannot_wait() {
        let alerts = [alert("log", &AlertEvent::ALL)];
        let mut runs = Runs::default();
        for i in 0..2000 {
            runs.told(&alerts, AlertEvent::Readiness, "s", &format!("{i}"), "T");
        }
        assert_eq!(runs.waiting(), MAX_WAITING);
        assert_eq!(runs.take_dropped(), 2000 - MAX_WAITING as u64);
        assert_eq!(runs.take_dropped(), 0);
        let first: Vec<Run> = std::iter::from_fn(|| runs.start_next()).collect();
        assert_eq!(first.len(), MAX_RUNNING);
        assert_eq!(first[0].text, "0", "the oldest runs first");
        assert_eq!(runs.start_next(), None, "no place free");
        runs.ended();
        assert_eq!(
            runs.start_next().map(|r| r.text),
            Some(format!("{MAX_RUNNING}"))
        );
        assert_eq!(runs.started_total, MAX_RUNNING as u64 + 1);
        assert_eq!(runs.dropped_total, 2000 - MAX_WAITING as u64);
    }
}
