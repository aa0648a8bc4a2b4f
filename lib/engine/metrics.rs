//! The engine's figures for `haadm metrics` (DESIGN §14): the same facts as `haadm status`,
//! as Prometheus samples. Names start with `sureha_`; nodes and services are labels.

use super::{Engine, PeerStatus, Phase};
use crate::clock::Millis;
use crate::metrics::Metrics;

const PEER_STATES: [(PeerStatus, &str); 5] = [
    (PeerStatus::Up, "UP"),
    (PeerStatus::Down, "DOWN"),
    (PeerStatus::Unknown, "UNKNOWN"),
    (PeerStatus::Partitioned, "PARTITIONED"),
    (PeerStatus::Frozen, "LEFT-RUNNING"),
];

/// The reasons a link process counts a frame refused, as its stats line names them.
const REFUSED: [&str; 6] = ["crc", "tag", "unsigned", "replay", "malformed", "foreign"];

fn flag(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}

fn seconds(ms: Millis) -> f64 {
    ms as f64 / 1000.0
}

/// Days from 1970-01-01 to `YYYY-MM-DD`.
fn day_number(date: &str) -> Option<i64> {
    let mut it = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (y, m, d) = (it.next()??, it.next()??, it.next()??);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

impl Engine {
    pub fn metrics(&self, m: &mut Metrics) {
        let me = self.node.as_str();
        let peer = self.peer_name().to_string();
        let status = self.peer_status();
        if self.config.nodes().is_some() {
            for (st, word) in PEER_STATES {
                m.gauge(
                    "sureha_peer_status",
                    "The peer as this node sees it: 1 for its current status.",
                    &[("node", me), ("peer", &peer), ("status", word)],
                    flag(status == st),
                );
            }
        }
        self.link_metrics(m);
        self.service_metrics(m, &peer, status == PeerStatus::Up);
        m.gauge(
            "sureha_config_generation",
            "The generation of the configuration this node runs.",
            &[("node", me)],
            self.generation as f64,
        );
        m.gauge(
            "sureha_admin_locked",
            "1 while the cluster's configuration is locked (haadm lock).",
            &[("node", me)],
            flag(self.admin.state.lock.is_some()),
        );
        for h in self.admin.hosts(&self.hosts_now()) {
            let (state, l) = self.admin.license_state(&h);
            if let Some(l) = l {
                // The end of its last day (UTC): days left are (this - time()) / 86400.
                let end = match day_number(&l.expiration) {
                    _ if l.expiration == "never" => f64::INFINITY,
                    Some(d) => ((d + 1) * 86_400) as f64,
                    None => f64::NAN,
                };
                m.gauge(
                    "sureha_license_expiry_timestamp_seconds",
                    "When the host's license runs out (the end of its expiration day; +Inf: never).",
                    &[("node", me), ("host", &h)],
                    end,
                );
            }
            m.gauge(
                "sureha_license_valid",
                "1 when the host has a license that has not expired.",
                &[("node", me), ("host", &h)],
                flag(state == "OK"),
            );
        }
        if let Some((link, lease)) = self.lock_lease() {
            let age = self.now.saturating_sub(self.last_renewal());
            m.gauge(
                "sureha_lease_renewal_age_seconds",
                "How long ago this node's beat last reached the disk link that holds the volume locks.",
                &[("node", me), ("link", link)],
                seconds(age),
            );
            m.gauge(
                "sureha_lease_seconds",
                "How long a volume lock lasts without renewal.",
                &[("node", me), ("link", link)],
                seconds(lease),
            );
            m.gauge(
                "sureha_lease_renewed",
                "1 while this node's volume locks are renewed in time.",
                &[("node", me), ("link", link)],
                flag(!self.disks.lease_lost()),
            );
        }
        for p in &self.disks.paths {
            m.gauge(
                "sureha_disk_path_ok",
                "1 while the data path to the volume device works.",
                &[("node", me), ("device", &p.device)],
                flag(p.ok),
            );
        }
        m.counter(
            "sureha_requests_dropped_total",
            "Request lines that reached the FIFO and were dropped (malformed, overlong).",
            &[("node", me)],
            self.refused.requests_dropped as f64,
        );
    }

    fn link_metrics(&self, m: &mut Metrics) {
        let me = self.node.as_str();
        for l in &self.config.links {
            let labels = [
                ("node", me),
                ("link", l.name.as_str()),
                ("type", l.type_name()),
            ];
            m.gauge(
                "sureha_link_up",
                "1 while frames from the peer arrive on the link.",
                &labels,
                flag(self.peer.link_up(&l.name, self.now)),
            );
            let stats = self
                .peer
                .links
                .get(&l.name)
                .map_or("", |v| v.stats.as_str());
            let count = |key: &str| {
                stats
                    .split_whitespace()
                    .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
                    .and_then(|v| v.parse::<u64>().ok())
            };
            let Some(rx) = count("rx") else { continue };
            let labels = [("node", me), ("link", l.name.as_str())];
            m.counter(
                "sureha_link_frames_received_total",
                "Frames the link process received from the peer.",
                &labels,
                rx as f64,
            );
            for reason in REFUSED {
                m.counter(
                    "sureha_link_frames_refused_total",
                    "Frames the link process dropped, by reason (crc, tag, unsigned, replay, malformed, foreign).",
                    &[("node", me), ("link", l.name.as_str()), ("reason", reason)],
                    count(reason).unwrap_or(0) as f64,
                );
            }
            m.counter(
                "sureha_link_send_errors_total",
                "Frames the link process could not send.",
                &labels,
                count("txerr").unwrap_or(0) as f64,
            );
        }
    }

    fn service_metrics(&self, m: &mut Metrics, peer: &str, peer_known: bool) {
        let me = self.node.as_str();
        for c in &self.config.services {
            let name = c.name.as_str();
            let Some(s) = self.services.get(name) else {
                continue;
            };
            let word = self.state_word(name);
            m.gauge(
                "sureha_service_state",
                "A service's state word on a node (haadm status): 1 for the current one.",
                &[("service", name), ("node", me), ("state", word)],
                1.0,
            );
            if let Some(p) = self.peer_svc(name).filter(|_| peer_known) {
                m.gauge(
                    "sureha_service_state",
                    "A service's state word on a node (haadm status): 1 for the current one.",
                    &[
                        ("service", name),
                        ("node", peer),
                        ("state", crate::frame::word_of(p.word)),
                    ],
                    1.0,
                );
            }
            m.gauge(
                "sureha_service_running",
                "1 while the service runs on this node.",
                &[("service", name), ("node", me)],
                flag(s.phase == Phase::Running),
            );
            m.gauge(
                "sureha_service_protected",
                "1 while the service is in protection.",
                &[("service", name), ("node", me)],
                flag(s.intent.protected),
            );
            let (here, there) = self.ready_on_both(name);
            for (node, ready) in [(me, here), (peer, there)] {
                if let Some(r) = ready {
                    m.gauge(
                        "sureha_service_ready",
                        "1 when the node could run the service (its files and devices are there).",
                        &[("service", name), ("node", node)],
                        flag(r),
                    );
                }
            }
            for (i, direction) in ["out", "in"].into_iter().enumerate() {
                m.counter(
                    "sureha_service_moves_total",
                    "Starts (in) and stops (out) of the service on this node that ended since hasvrd started.",
                    &[("service", name), ("node", me), ("direction", direction)],
                    s.moves_done[i] as f64,
                );
            }
            if let Some(t) = &s.last_timed {
                let direction = if t.starting { "in" } else { "out" };
                m.gauge(
                    "sureha_service_last_move_seconds",
                    "The last start (in) or stop (out) here, from the decision (or the peer's last frame) to its end.",
                    &[("service", name), ("node", me), ("direction", direction)],
                    seconds(t.total),
                );
                for (phase, took) in &t.phases {
                    m.gauge(
                        "sureha_service_last_move_phase_seconds",
                        "The phases of the last start or stop here (as its MOVE line).",
                        &[
                            ("service", name),
                            ("node", me),
                            ("direction", direction),
                            ("phase", phase),
                        ],
                        seconds(*took),
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::day_number;

    #[test]
    fn day_numbers_count_from_the_epoch() {
        assert_eq!(day_number("1970-01-01"), Some(0));
        assert_eq!(day_number("2000-03-01"), Some(11_017));
        assert_eq!(
            day_number("2026-12-31")
                .zip(day_number("2026-12-07"))
                .map(|(a, b)| a - b),
            Some(24)
        );
        assert_eq!(day_number("never"), None);
        assert_eq!(day_number("2026-13-01"), None);
    }
}
