//! `haadm metrics` as hasvrd answers it: the engine's figures and what only hasvrd knows
//! (its processes' uptime, the alert programs' runs).

use super::*;
use crate::metrics::Metrics;

impl Hasvrd {
    pub(super) fn metrics_text(&self) -> String {
        let mut m = Metrics::default();
        let node = self.home.node.as_str();
        m.gauge(
            "sureha_hasvrd_up",
            "1 when this node's hasvrd answers.",
            &[("node", node)],
            1.0,
        );
        self.engine.metrics(&mut m);
        let uptime = "How long the process has run.";
        m.gauge(
            "sureha_process_uptime_seconds",
            uptime,
            &[("node", node), ("program", "hasvrd"), ("link", "")],
            self.clock.uptime() as f64 / 1000.0,
        );
        if let Some(age) = self.partner.pid().and_then(sys::process_age_millis) {
            m.gauge(
                "sureha_process_uptime_seconds",
                uptime,
                &[("node", node), ("program", "hamond"), ("link", "")],
                age as f64 / 1000.0,
            );
        }
        let config = self.engine.shared_config();
        for (name, l) in &self.links {
            let program = config.link(name).map_or("link", |c| match c.kind {
                config::LinkKind::Socket { .. } => "hahb-sock",
                config::LinkKind::Rs232 { .. } => "hahb-serial",
                config::LinkKind::Disk { .. } => "hahb-disk",
            });
            if let Some(age) = l.pid.and_then(sys::process_age_millis) {
                m.gauge(
                    "sureha_process_uptime_seconds",
                    uptime,
                    &[("node", node), ("program", program), ("link", name)],
                    age as f64 / 1000.0,
                );
            }
        }
        m.counter(
            "sureha_alert_runs_total",
            "Alert program runs started since hasvrd started.",
            &[("node", node)],
            self.alerts.started_total as f64,
        );
        m.counter(
            "sureha_alert_runs_dropped_total",
            "Alert program runs dropped since hasvrd started (more waiting than the limit).",
            &[("node", node)],
            self.alerts.dropped_total as f64,
        );
        m.gauge(
            "sureha_alert_runs_running",
            "Alert programs running now.",
            &[("node", node)],
            self.alerts.running() as f64,
        );
        m.text()
    }
}
