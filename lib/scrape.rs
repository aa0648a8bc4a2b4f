//! `haadm metrics` and the console's `/metrics`: hasvrd's figures (or that it does not
//! answer), and the client outages the last drill of each service measured from this node
//! (`tmp/drill.SERVICE`, written by `drill` and read only here).

use crate::fifo::{self, Patience};
use crate::metrics::Metrics;
use crate::paths::Home;
use crate::request::Status;
use std::time::Duration;

/// A scrape must not hang on a hung hasvrd, nor wait for one that restarts.
const PATIENCE: Patience = Patience {
    taken: Duration::from_secs(2),
    reply: Some(Duration::from_secs(5)),
    while_down: Duration::ZERO,
    ask_again: false,
};

/// One move of a drill, as its probe saw it.
#[derive(Clone, Debug, PartialEq)]
pub struct DrillMove {
    /// `away` (to the peer) or `back`.
    pub leg: &'static str,
    /// The longest time the client got no answer (zero: none missed).
    pub outage: Duration,
    pub probes: usize,
    pub unanswered: usize,
}

fn drill_file(home: &Home, service: &str) -> std::path::PathBuf {
    home.tmp().join(format!("drill.{service}"))
}

/// Keeps a drill's probed moves (atomically) for the metrics.
pub fn record_drill(home: &Home, service: &str, moves: &[DrillMove]) -> std::io::Result<()> {
    let mut t = format!("at {}\n", crate::clock::unix_millis());
    for m in moves {
        t.push_str(&format!(
            "{} {} {} {}\n",
            m.leg,
            m.outage.as_micros(),
            m.probes,
            m.unanswered
        ));
    }
    crate::files::write_atomic(&drill_file(home, service), t.as_bytes(), 0o600)
}

/// The drills recorded here: (service, when in ms since the epoch, moves).
fn drills(home: &Home) -> Vec<(String, u64, Vec<DrillMove>)> {
    let Ok(dir) = std::fs::read_dir(home.tmp()) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in dir.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(service) = name.strip_prefix("drill.") else {
            continue;
        };
        if !crate::config::valid_name(service) {
            continue;
        }
        let Ok(text) = crate::files::read_regular_text(&e.path(), 4096) else {
            continue;
        };
        if let Some((at, moves)) = parse_drill(&text) {
            out.push((service.to_string(), at, moves));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// A drill file: when (ms since the epoch) and its moves; lines it does not know are skipped
/// (the file is under `$HAHOME`, anyone with root may have written it).
pub fn parse_drill(text: &str) -> Option<(u64, Vec<DrillMove>)> {
    let mut at = None;
    let mut moves = Vec::new();
    for line in text.lines().take(16) {
        let w: Vec<&str> = line.split_whitespace().collect();
        match w.as_slice() {
            ["at", t] => at = t.parse().ok(),
            [leg @ ("away" | "back"), us, probes, unanswered] => {
                if let (Ok(us), Ok(p), Ok(u)) = (us.parse(), probes.parse(), unanswered.parse()) {
                    moves.push(DrillMove {
                        leg: if *leg == "away" { "away" } else { "back" },
                        outage: Duration::from_micros(us),
                        probes: p,
                        unanswered: u,
                    });
                }
            }
            _ => {}
        }
    }
    Some((at?, moves))
}

/// The exposition, and whether hasvrd answered (if not, the text says so in
/// `sureha_hasvrd_up 0`, and the error is the second value).
pub fn report(home: &Home) -> (String, Option<String>) {
    let asked = fifo::call(home, &["metrics".to_string()], PATIENCE);
    let (mut text, error) = match asked {
        Ok(r) if r.status == Status::Ok => (r.body, None),
        Ok(r) => (
            String::new(),
            Some(format!("hasvrd refused: {:?}", r.status)),
        ),
        Err(e) => (String::new(), Some(e.message)),
    };
    if let Some(e) = &error {
        text.push_str(&format!(
            "# hasvrd does not answer: {}\n",
            e.replace('\n', " ")
        ));
    }
    let node = home.node.as_str();
    let mut m = Metrics::default();
    if error.is_some() {
        m.gauge(
            "sureha_hasvrd_up",
            "1 when this node's hasvrd answers.",
            &[("node", node)],
            0.0,
        );
    }
    for (service, at, moves) in drills(home) {
        m.gauge(
            "sureha_drill_timestamp_seconds",
            "When the last drill of the service ran from this node (seconds since the epoch).",
            &[("service", &service), ("node", node)],
            at as f64 / 1000.0,
        );
        for d in moves {
            m.gauge(
                "sureha_drill_outage_seconds",
                "The longest client outage of each move of the last drill (away: to the peer; back).",
                &[("service", &service), ("node", node), ("move", d.leg)],
                d.outage.as_secs_f64(),
            );
            m.gauge(
                "sureha_drill_probes_unanswered",
                "Probes (one every 10 ms) the client sent and got no answer to, in each move of the last drill.",
                &[("service", &service), ("node", node), ("move", d.leg)],
                d.unanswered as f64,
            );
        }
    }
    text.push_str(&m.text());
    (text, error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_drill_recorded_is_read_back_and_junk_is_skipped() {
        let dir = std::env::temp_dir().join(format!("sureha-scrape-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("tmp")).unwrap();
        let home = Home {
            root: dir.clone(),
            node: "alpha".into(),
        };
        let moves = [
            DrillMove {
                leg: "away",
                outage: Duration::from_micros(12_345),
                probes: 80,
                unanswered: 1,
            },
            DrillMove {
                leg: "back",
                outage: Duration::ZERO,
                probes: 90,
                unanswered: 0,
            },
        ];
        record_drill(&home, "web", &moves).unwrap();
        std::fs::write(dir.join("tmp/drill.bad name"), "at 1\n").unwrap();
        std::fs::write(dir.join("tmp/drill.db"), "garbage\naway x y z\n").unwrap();
        let got = drills(&home);
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(
            (got[0].0.as_str(), got[0].2.as_slice()),
            ("web", &moves[..])
        );
        let (text, error) = report(&home);
        assert!(error.is_some(), "no hasvrd here");
        assert!(
            text.contains("sureha_hasvrd_up{node=\"alpha\"} 0\n"),
            "{text}"
        );
        assert!(
            text.contains("sureha_drill_outage_seconds{service=\"web\",node=\"alpha\",move=\"away\"} 0.012345\n"),
            "{text}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
