//! What the run says at its end (`target/chaos/SEED/report.txt`), and the status watch that
//! records what each node's `haadm status` said, each change once.

use super::checker::Violation;
use super::history::History;
use super::nemesis::KINDS;
use super::pair::Door;
use super::Window;
use serde_json::json;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct StateWatch {
    stop: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl StateWatch {
    pub fn start(doors: [Door; 2], history: History) -> StateWatch {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let handle = std::thread::spawn(move || {
            let until = Instant::now() + Duration::from_secs(6 * 3600);
            let mut last = [String::new(), String::new()];
            while !s.load(Ordering::SeqCst) && Instant::now() < until {
                for (n, d) in doors.iter().enumerate() {
                    let r = d.haadm(&["status"], 3);
                    let now = if r.code == 0 {
                        r.stdout
                            .lines()
                            .filter(|l| {
                                ["SERVICE", "NODE", "LINK"].iter().any(|k| l.starts_with(k))
                            })
                            // A link's counters change every beat: its state is what counts.
                            .map(|l| {
                                if l.starts_with("LINK") {
                                    l.split(' ').take(4).collect::<Vec<_>>().join(" ")
                                } else {
                                    l.to_string()
                                }
                            })
                            .collect::<Vec<_>>()
                            .join("; ")
                    } else {
                        format!("no answer ({})", r.stderr.trim())
                    };
                    if now != last[n] {
                        history.record("state", json!({"node": d.name, "status": now}));
                        last[n] = now;
                    }
                }
                std::thread::sleep(Duration::from_millis(1000));
            }
        });
        StateWatch {
            stop,
            handle: Some(handle),
        }
    }
}

impl Drop for StateWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

pub struct Facts<'a> {
    pub seed: u64,
    pub history: &'a History,
    pub windows: &'a [Window],
    pub violations: &'a [Violation],
    pub availability: &'a BTreeMap<String, (u64, u64)>,
    pub web_outages: &'a [(Instant, Instant)],
    pub db_gaps: &'a [(Instant, Instant)],
    pub acked: usize,
    pub found: usize,
    pub settle_times: &'a [f64],
    pub planted: &'a [String],
    pub samples: u64,
}

fn quantiles(mut xs: Vec<f64>) -> String {
    if xs.is_empty() {
        return format!("{:>7} {:>7} {:>7} {:>4}", "-", "-", "-", 0);
    }
    xs.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let q = |p: f64| xs[((xs.len() - 1) as f64 * p).round() as usize];
    format!(
        "{:>7.3} {:>7.3} {:>7.3} {:>4}",
        q(0.5),
        q(0.99),
        xs[xs.len() - 1],
        xs.len()
    )
}

/// The outages (seconds) that began while a fault of `kind` was in force or its round had
/// not settled yet.
fn outages_of(f: &Facts, kind: super::Kind, outages: &[(Instant, Instant)]) -> Vec<f64> {
    outages
        .iter()
        .filter(|(from, _)| {
            let t = f.history.at(*from);
            f.windows
                .iter()
                .any(|w| w.kind == kind && t >= w.start && t <= w.settled)
        })
        .map(|(a, b)| (*b - *a).as_secs_f64())
        .collect()
}

/// Why no node could serve for long while these faults were in force, when the design
/// leaves no way out or accepts the wait; None when it should have served.
fn no_way_out(faults: &[&Window]) -> Option<&'static str> {
    let has = |k: super::Kind, t: &str| faults.iter().any(|w| w.kind == k && w.target.contains(t));
    use super::Kind::*;
    if has(NicDown, "alpha") && has(NicDown, "beta") {
        return Some("both nodes' public NICs without carrier: no node can hold the addresses");
    }
    if (has(Crash, "alpha") && has(NicDown, "beta"))
        || (has(Crash, "beta") && has(NicDown, "alpha"))
    {
        return Some("one node down, the other without a public NIC");
    }
    if has(Crash, "alpha") && has(Crash, "beta") {
        return Some("both nodes down");
    }
    if has(Quit, "") || has(Stop, "hasvrd") || has(Stop, "hamond") {
        return Some("a node's SureHA gone or frozen: what ran there is left alone (QUIT), or waits for hamond to replace hasvrd");
    }
    if has(Admin, "bringout") {
        return Some("brought out of protection by the administrator: stopped on purpose until brought in again (the heal does it)");
    }
    if has(DataPath, "") {
        return Some("the owner stops the service on a failed or hung disk first (the stop script against the dead device, up to its limit); the peer mounts only after");
    }
    if has(Crash, "") || has(Partition, "") || has(DiskFreeze, "") || has(LinkCut, "all") {
        return Some("the tie-breaker's wait: a silent node's services move a lease and a beat after it fell silent");
    }
    None
}

/// Outages of more than 5 s, with the faults in force when each began.
fn long_outages(f: &Facts, r: &mut String) {
    let mut all: Vec<(&str, f64, f64)> = Vec::new();
    for (client, list) in [("web", f.web_outages), ("database", f.db_gaps)] {
        for (a, b) in list {
            let secs = (*b - *a).as_secs_f64();
            if secs > 5.0 {
                all.push((client, f.history.at(*a), secs));
            }
        }
    }
    all.sort_by(|x, y| x.1.partial_cmp(&y.1).unwrap());
    let _ = writeln!(r, "\n## outages over 5 s: {}\n", all.len());
    for (client, t, secs) in all {
        let faults: Vec<&Window> = f
            .windows
            .iter()
            .filter(|w| t >= w.start - 1.0 && t <= w.settled)
            .collect();
        let names: Vec<String> = faults
            .iter()
            .map(|w| {
                let over = if t > w.end { " (over; settling)" } else { "" };
                format!("{} {}{over}", w.kind.name(), w.target)
            })
            .collect();
        let why = no_way_out(&faults).unwrap_or("not explained by the faults: look at the history");
        let _ = writeln!(
            r,
            "{client} at {t:.1}s for {secs:.1}s: {}; {why}",
            names.join(", ")
        );
    }
}

pub fn write(f: &Facts) -> String {
    let mut r = String::new();
    let _ = writeln!(r, "# chaos run, seed {}", f.seed);
    let _ = writeln!(
        r,
        "\nchecker self-test (planted double holding): caught {:?}",
        f.planted
    );
    let _ = writeln!(
        r,
        "\n## faults by kind, and client outage in seconds (median p99 max count)\n"
    );
    let _ = writeln!(
        r,
        "{:<12} {:>6}   {:<31}   {:<31}",
        "kind", "faults", "web (probe every 10 ms)", "database (writes)"
    );
    let mut kinds = 0;
    let mut total = 0;
    for k in KINDS {
        let n = f.windows.iter().filter(|w| w.kind == k).count();
        total += n;
        if n > 0 {
            kinds += 1;
        }
        let _ = writeln!(
            r,
            "{:<12} {:>6}   {}   {}",
            k.name(),
            n,
            quantiles(outages_of(f, k, f.web_outages)),
            quantiles(outages_of(f, k, f.db_gaps))
        );
    }
    let _ = writeln!(
        r,
        "{:<12} {:>6}   {}   {}",
        "all",
        total,
        quantiles(
            f.web_outages
                .iter()
                .map(|(a, b)| (*b - *a).as_secs_f64())
                .collect()
        ),
        quantiles(
            f.db_gaps
                .iter()
                .map(|(a, b)| (*b - *a).as_secs_f64())
                .collect()
        )
    );
    let _ = writeln!(
        r,
        "\nsettling after each round (seconds, median p99 max count): {}",
        quantiles(f.settle_times.to_vec())
    );
    let run = f.history.t();
    let _ = writeln!(
        r,
        "\nchecker: {} samples in {run:.0} s (one every {:.1} ms)",
        f.samples,
        1000.0 * run / f.samples.max(1) as f64
    );
    let _ = writeln!(
        r,
        "\n## availability (samples in which the service ran whole on exactly one node)\n"
    );
    let mut avail_sum = 0.0;
    for (svc, (ok, all)) in f.availability {
        let p = if *all > 0 {
            100.0 * *ok as f64 / *all as f64
        } else {
            0.0
        };
        avail_sum += p;
        let _ = writeln!(r, "{svc:<6} {p:>7.3}% of {all} samples");
    }
    let availability = if f.availability.is_empty() {
        0.0
    } else {
        avail_sum / f.availability.len() as f64
    };
    long_outages(f, &mut r);
    let _ = writeln!(r, "\n## violations: {}\n", f.violations.len());
    for v in f.violations {
        let _ = writeln!(r, "seed {} at {:.3}s: {}", f.seed, v.t, v.what);
        for line in f.history.around(v.t, 20.0) {
            let _ = writeln!(r, "    {line}");
        }
    }
    let _ = writeln!(r, "\nrows acknowledged {}, found {}", f.acked, f.found);
    let _ = writeln!(
        r,
        "history: {}",
        f.history.dir.join("history.jsonl").display()
    );
    let _ = writeln!(
        r,
        "chaos: seed {}, {} faults of {} kinds, {} violations, rows {} of {} found, availability {:.3}%",
        f.seed,
        total,
        kinds,
        f.violations.len(),
        f.found,
        f.acked,
        availability
    );
    let _ = std::fs::write(f.history.dir.join("report.txt"), &r);
    r
}
