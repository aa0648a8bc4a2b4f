//! Alert programs: an event the engine tells is queued (`alert::Runs`) and started after the
//! pass that made it, so a move's own steps are already under way; each run is a child like
//! any other (its own process group, killed at its timeout), its output and exit logged.

use super::*;
use crate::alert;

impl Hasvrd {
    pub(super) fn alert_told(&mut self, event: config::AlertEvent, service: &str, text: &str) {
        let time = alert::iso8601_utc(crate::clock::unix_millis());
        let config = self.engine.shared_config();
        self.alerts
            .told(&config.alerts, event, service, text, &time);
    }

    /// Starts what waits, as places free up; says once per flood how many runs were dropped.
    pub(super) fn start_alerts(&mut self, now: Millis) {
        let dropped = self.alerts.take_dropped();
        if dropped > 0 {
            self.log.warning(&format!(
                "alerts: {dropped} run(s) dropped: more than {} waiting behind {} running (a flood of events)",
                alert::MAX_WAITING,
                alert::MAX_RUNNING
            ));
        }
        while let Some(run) = self.alerts.start_next() {
            self.alert_seq += 1;
            let out = self
                .home
                .output(&format!("alert-{}", run.alert), &self.alert_seq.to_string());
            let mut spec = Spec::new(std::path::PathBuf::from(&run.program));
            spec.env = child::base_env(&self.home);
            spec.env.extend(run.environment(&self.home.node));
            spec.output = Some(out.clone());
            match child::spawn(&spec) {
                Ok(pid) => {
                    let deadline = Some(now + run.timeout);
                    self.children.add(pid, Tag::Alert(run, out), deadline);
                }
                Err(e) => {
                    self.alerts.ended();
                    self.log.error(&format!(
                        "{}: {} could not be started: {e}; nothing else is affected",
                        run.label(),
                        run.program
                    ));
                }
            }
        }
    }

    pub(super) fn alert_ended(
        &mut self,
        run: alert::Run,
        out: std::path::PathBuf,
        status: sys::ExitStatus,
        timed_out: bool,
    ) {
        self.alerts.ended();
        let label = run.label();
        for line in child::read_output(&out, 4096)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .take(20)
        {
            self.log.info(&format!("{label} says: {line}"));
        }
        let _ = std::fs::remove_file(&out);
        match (timed_out, status) {
            (true, _) => self.log.warning(&format!(
                "{label}: {} did not finish within its timeout ({}); its process group was killed",
                run.program,
                crate::clock::human(run.timeout)
            )),
            (false, sys::ExitStatus::Code(0)) => {
                self.log.info(&format!("{label}: {} exited 0", run.program))
            }
            (false, st) => self.log.warning(&format!(
                "{label}: {} failed ({st}); the event stands, only the alert failed",
                run.program
            )),
        }
    }
}
