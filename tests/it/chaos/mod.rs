//! `make chaos` (DESIGN §15): random, overlapping faults on a real pair, judged by a checker
//! that trusts only what the kernel and the clients show. `make test` runs 50 faults;
//! `make chaos FAULTS=2000 CHAOS_SEED=N` the long run. The same seed draws the same faults.
//!
//! The run: the pair of `pair.rs` with its four services, a writer and a web probe in the
//! client's namespace, the checker sampling every 20 ms. First the checker shows it can fail
//! (a planted double holding must be reported), then rounds: one to three faults that
//! overlap, each undone at its end, then a quiet period in which every service in protection
//! must come to run exactly once, with both nodes' status agreeing on where, within
//! `QUIET_LIMIT`. The report (`target/chaos/SEED/report.txt`) ends with the line of §15.

mod checker;
mod history;
mod nemesis;
mod pair;
mod report;
mod workload;

use checker::{runs_on, Checker, NodeView, Watched};
use history::History;
use nemesis::{draw_round, Kind, Nemesis, KINDS};
use pair::{services, www, Door, Pair, DB_IP, NODES, U1_IP, WWW_IPS};
use serde_json::json;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use workload::{query_once, WebProbe, Writer};

/// The quiet period's limit: detection (0.6 s), the tie-breaker's wait (a lease and a
/// beat: 2 s), the owner's stop on a failed disk (its stop script tried twice, each up to
/// the database's `start_timeout` of 20 s), a PostgreSQL start on the other node (up to
/// 20 s on a loaded machine), and margin.
const QUIET_LIMIT: Duration = Duration::from_secs(90);

fn seed() -> u64 {
    std::env::var("CHAOS_SEED")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| {
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap();
            (t.as_nanos() as u64 ^ std::process::id() as u64) % 1_000_000_000
        })
}

fn watched(pair: &Pair) -> Vec<Watched> {
    let ip = |s: &str| s.parse().unwrap();
    vec![
        Watched {
            name: "db".into(),
            addrs: vec![ip(DB_IP)],
            mount: Some(pair.c.rig.mount_point.clone()),
            comm: "postgres".into(),
            arg: None,
            top_only: true,
        },
        Watched {
            name: www(),
            addrs: WWW_IPS.iter().map(|a| ip(a)).collect(),
            mount: None,
            comm: "lighttpd".into(),
            arg: None,
            top_only: false,
        },
        Watched {
            name: "u1".into(),
            addrs: vec![ip(U1_IP)],
            mount: None,
            comm: "chaos-u1.bin".into(),
            arg: None,
            top_only: false,
        },
        Watched {
            name: "u2".into(),
            addrs: vec![],
            mount: None,
            comm: "chaos-u2.bin".into(),
            arg: None,
            top_only: false,
        },
    ]
}

/// Each node's own word for a service (bounded; "?" when its haadm does not answer).
fn words(doors: &[Door; 2], svc: &str) -> [String; 2] {
    [0, 1].map(|n| {
        let r = doors[n].haadm(&["service", "state", svc], 5);
        if r.code == 0 {
            r.stdout.trim().to_string()
        } else {
            "?".to_string()
        }
    })
}

/// Where each node's `haadm status` says each service runs (node names), or why not known.
fn status_where(door: &Door) -> Option<Vec<(String, String)>> {
    let r = door.haadm(&["status"], 5);
    if r.code != 0 {
        return None;
    }
    Some(
        r.stdout
            .lines()
            .filter_map(|l| {
                let mut w = l.split(' ');
                (w.next() == Some("SERVICE")).then_some(())?;
                let name = w.next()?.to_string();
                let _type = w.next();
                let on: Vec<&str> = w
                    .filter_map(|kv| kv.split_once('='))
                    .filter(|(_, s)| s.starts_with("ACTIVE"))
                    .map(|(n, _)| n)
                    .collect();
                Some((name, on.join("+")))
            })
            .collect(),
    )
}

/// The planted bug the checker must see: the standby holds the web address while the active
/// node does, and mounts the volume (read-only, without its journal: a look, no harm) while
/// the database runs on it.
fn planted_self_test(pair: &Pair, checker: &Checker, history: &History) -> Vec<String> {
    let ns_a = pair.ns(0);
    let addr = format!("{}/24", WWW_IPS[0]);
    let before = checker.violations().len();
    history.record(
        "planted",
        json!({"what": "address on both nodes, volume mounted on both"}),
    );
    let ran = |args: &[&str]| {
        std::process::Command::new(args[0])
            .args(&args[1..])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    };
    assert!(ran(&[
        "ip", "-n", &ns_a, "addr", "add", &addr, "dev", "eth0"
    ]));
    let mnt_b = format!("--mount={}", pair.c.mnt_b.file.display());
    let dev = pair.c.rig.data_b.dev.clone();
    let mp = pair.c.rig.mount_point.clone();
    assert!(ran(&[
        "nsenter",
        &mnt_b,
        "mount",
        "-o",
        "ro,noload",
        &dev,
        &mp
    ]));
    std::thread::sleep(Duration::from_secs(1));
    ran(&["ip", "-n", &ns_a, "addr", "del", &addr, "dev", "eth0"]);
    ran(&["nsenter", &mnt_b, "umount", &mp]);
    std::thread::sleep(Duration::from_millis(200));
    let caught: Vec<String> = checker.violations()[before..]
        .iter()
        .map(|v| v.what.clone())
        .collect();
    assert!(
        caught.iter().any(|w| w.contains(WWW_IPS[0]))
            && caught.iter().any(|w| w.contains("mounted on both")),
        "the checker missed the planted double holding: it reported {caught:?}"
    );
    checker.shared.lock().unwrap().violations.truncate(before);
    history.record("planted", json!({"caught": caught}));
    caught
}

/// A node that fenced itself reboots: its SureHA starts again (as its rc script would).
/// Whether one did.
fn reboot_fenced(pair: &Pair, history: &History) -> bool {
    let mut any = false;
    for (n, name) in NODES.iter().enumerate() {
        let running = pair
            .node(n)
            .pid("hamond")
            .is_some_and(sureha::sys::pid_exists);
        if !pair.down[n] && !running {
            let fenced =
                std::fs::read_to_string(pair.node(n).path("tmp/fenced")).unwrap_or_default();
            let ok = pair.start_node(n);
            history.record(
                "heal",
                json!({"node": name, "restarted": ok, "fenced": fenced.trim()}),
            );
            any = true;
        }
    }
    any
}

/// Heals what the faults left to the administrator: services out of protection or in ERROR
/// are brought in again, the lock lifted. Each heal is recorded.
fn heal(doors: &[Door; 2], history: &History) {
    for d in doors {
        let _ = d.haadm(&["unlock"], 10);
    }
    for svc in services() {
        let svc = svc.as_str();
        let w = words(doors, svc);
        let out = w.iter().all(|x| x.starts_with("OUT"));
        let error = w.iter().position(|x| x.starts_with("ERROR"));
        if out || error.is_some() {
            let n = error.map_or(0, |e| 1 - e);
            let r = doors[n].haadm(&["service", "bringin", svc], 60);
            history.record(
                "heal",
                json!({"service": svc, "words": w, "node": NODES[n], "exit": r.code, "stderr": r.stderr.trim()}),
            );
        }
    }
}

/// Why the pair has not settled yet: the first service that does not run exactly once, or
/// whose nodes disagree; None once all do.
fn unsettled(
    doors: &[Door; 2],
    checker: &Checker,
    watched: &[Watched],
    writer: &Writer,
    probe: &WebProbe,
    since: (usize, u64),
) -> Option<String> {
    let held = checker.held();
    for w in watched {
        let words = words(doors, &w.name);
        let active: Vec<usize> = (0..2).filter(|&n| words[n].starts_with("ACTIVE")).collect();
        let Some(on) = runs_on(&held, w) else {
            return Some(format!(
                "service {} does not run whole on one node (words {words:?}, processes {:?})",
                w.name,
                held.procs.get(&w.name)
            ));
        };
        if active != [on] {
            return Some(format!(
                "service {} runs on {} but the nodes say {words:?}",
                w.name, NODES[on]
            ));
        }
    }
    let views: Vec<_> = doors.iter().map(status_where).collect();
    if views[0].is_none() || views[0] != views[1] {
        return Some(format!("the nodes' status disagree: {views:?}"));
    }
    if writer.count() <= since.0 {
        return Some("no write acknowledged since the faults ended".into());
    }
    if probe.answered.lock().unwrap().0 <= since.1 {
        return Some("no web answer since the faults ended".into());
    }
    None
}

/// The acknowledged rows the database does not have. Acknowledged numbers come in runs (one
/// a connection); each run is counted on the server, and only a short run is listed.
fn missing_rows(client: &str, db: SocketAddr, acked: &[u64]) -> Result<Vec<u64>, String> {
    let mut runs: Vec<(u64, u64)> = Vec::new();
    for &n in acked {
        match runs.last_mut() {
            Some((_, last)) if *last + 1 == n => *last = n,
            _ => runs.push((n, n)),
        }
    }
    let mut missing = Vec::new();
    for chunk in runs.chunks(200) {
        let sql: Vec<String> = chunk
            .iter()
            .map(|(a, b)| format!("SELECT count(*) FROM t WHERE n BETWEEN {a} AND {b}"))
            .collect();
        let counts = query_once(client, db, &sql.join(" UNION ALL "))?;
        if counts.len() != chunk.len() {
            return Err(format!("{} counts for {} runs", counts.len(), chunk.len()));
        }
        for ((a, b), c) in chunk.iter().zip(counts) {
            if c.parse::<u64>().ok() != Some(b - a + 1) {
                let present: std::collections::BTreeSet<u64> = query_once(
                    client,
                    db,
                    &format!("SELECT n FROM t WHERE n BETWEEN {a} AND {b}"),
                )?
                .iter()
                .filter_map(|r| r.parse().ok())
                .collect();
                missing.extend((*a..=*b).filter(|n| !present.contains(n)));
            }
        }
    }
    Ok(missing)
}

/// One fault's time line: when it began, and when its round had settled after it.
pub struct Window {
    pub kind: Kind,
    pub target: String,
    pub start: f64,
    pub end: f64,
    pub settled: f64,
}

#[test]
fn chaos_random_overlapping_faults_lose_no_write_and_strand_no_service() {
    let seed = seed();
    let faults: usize = std::env::var("FAULTS")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(50);
    eprintln!("chaos: seed {seed}, {faults} faults (CHAOS_SEED={seed} FAULTS={faults} to replay)");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/chaos")
        .join(seed.to_string());
    let history = History::create(&dir);
    history.record("run", json!({"seed": seed, "faults": faults}));
    let mut pair = Pair::new();
    pair.start();
    let client = pair.client_ns();
    let db: SocketAddr = format!("{DB_IP}:5432").parse().unwrap();
    let www: SocketAddr = format!("{}:8080", WWW_IPS[0]).parse().unwrap();
    query_once(
        &client,
        db,
        "CREATE TABLE IF NOT EXISTS t (n bigint primary key)",
    )
    .expect("the database answers through its floating address");
    let watched = watched(&pair);
    let mut checker = Checker::start(
        [
            NodeView {
                netns: pair.ns(0),
                mountinfo: pair.c.mnt_a.mountinfo(),
            },
            NodeView {
                netns: pair.ns(1),
                mountinfo: pair.c.mnt_b.mountinfo(),
            },
        ],
        watched.clone(),
        history.clone(),
    );
    let mut writer = Writer::start(&client, db, history.clone());
    let mut probe = WebProbe::start(&client, www, history.clone());
    let doors = [Door::of(pair.node(0)), Door::of(pair.node(1))];
    let states = report::StateWatch::start(doors.clone(), history.clone());
    let planted = planted_self_test(&pair, &checker, &history);
    checker.counting(true);

    let mut nemesis = Nemesis::new(seed, history.clone());
    let mut windows: Vec<Window> = Vec::new();
    let mut settle_times: Vec<f64> = Vec::new();
    let mut done = 0;
    let mut round = 0;
    while done < faults {
        round += 1;
        let count = (nemesis.rng.range(1, 3) as usize).min(faults - done);
        let plans = draw_round(&mut nemesis.rng, count, &KINDS);
        done += plans.len();
        // The round's time line: starts and ends in order.
        let began = Instant::now();
        let mut events: Vec<(Duration, bool, usize)> = Vec::new();
        for (i, p) in plans.iter().enumerate() {
            events.push((p.offset, true, i));
            events.push((p.offset + p.length, false, i));
        }
        events.sort_by_key(|e| (e.0, !e.1));
        let mut active: Vec<Option<nemesis::Active>> = plans.iter().map(|_| None).collect();
        for (at, start, i) in events {
            let due = began + at;
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
            if start {
                active[i] = Some(nemesis.start(&mut pair, plans[i].clone()));
            } else if let Some(a) = active[i].take() {
                let (start_t, target) = (a.started, a.target.clone());
                nemesis.end(&mut pair, a);
                windows.push(Window {
                    kind: plans[i].kind,
                    target,
                    start: start_t,
                    end: history.t(),
                    settled: f64::NAN,
                });
            }
        }
        // Quiet: heal what only an administrator may, then wait for the pair to settle.
        let quiet = Instant::now();
        std::thread::sleep(Duration::from_secs(1));
        reboot_fenced(&pair, &history);
        heal(&doors, &history);
        let since = (writer.count(), probe.answered.lock().unwrap().0);
        let mut why = None;
        while quiet.elapsed() < QUIET_LIMIT {
            // A stop that fails as the faults end fences its node during the quiet period.
            if reboot_fenced(&pair, &history) {
                heal(&doors, &history);
            }
            why = unsettled(&doors, &checker, &watched, &writer, &probe, since);
            if why.is_none() {
                break;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        let settled = history.t();
        for w in windows.iter_mut().filter(|w| w.settled.is_nan()) {
            w.settled = settled;
        }
        match why {
            None => {
                settle_times.push(quiet.elapsed().as_secs_f64());
                history.record(
                    "settled",
                    json!({"round": round, "seconds": quiet.elapsed().as_secs_f64()}),
                );
            }
            Some(why) => {
                checker.add_violation(
                    &history,
                    format!(
                        "round {round}: not settled {}s after the faults: {why}",
                        QUIET_LIMIT.as_secs()
                    ),
                );
                // Bring the pair back for the next round (recorded): every service in again.
                heal(&doors, &history);
            }
        }
        eprintln!(
            "chaos: round {round}, {done}/{faults} faults, {} violations, {} rows acknowledged",
            checker.violations().len(),
            writer.count()
        );
    }

    writer.finish();
    probe.finish();
    drop(states);
    let acked = writer.acked();
    // The count needs the database up: what the faults left is healed first (recorded), and
    // it is given the quiet period's limit to answer.
    reboot_fenced(&pair, &history);
    heal(&doors, &history);
    let until = Instant::now() + QUIET_LIMIT;
    while query_once(&client, db, "SELECT 1").is_err() && Instant::now() < until {}
    let counted = missing_rows(&client, db, &acked);
    let (missing, uncounted) = match counted {
        Ok(m) => (m, None),
        Err(e) => {
            checker.add_violation(
                &history,
                format!(
                    "the database did not answer at the end, so its rows could not be counted: {e}"
                ),
            );
            (Vec::new(), Some(e))
        }
    };
    if !missing.is_empty() {
        checker.add_violation(
            &history,
            format!(
                "{} acknowledged rows missing, e.g. {:?}",
                missing.len(),
                &missing[..missing.len().min(10)]
            ),
        );
    }
    checker.finish();
    // Each lock taken and let go before the report (one statement holding two would wait
    // on itself).
    let violations = checker.violations();
    let (availability, samples) = {
        let g = checker.shared.lock().unwrap();
        (g.availability.clone(), g.samples)
    };
    let web_outages = probe.outages.lock().unwrap().clone();
    let text = report::write(&report::Facts {
        seed,
        history: &history,
        windows: &windows,
        violations: &violations,
        availability: &availability,
        web_outages: &web_outages,
        db_gaps: &writer.gaps(Duration::from_millis(200)),
        acked: acked.len(),
        found: if uncounted.is_some() {
            0
        } else {
            acked.len() - missing.len()
        },
        settle_times: &settle_times,
        planted: &planted,
        samples,
    });
    history.flush();
    eprintln!("{text}");
    let v = checker.violations().len();
    assert!(
        v == 0 && missing.is_empty(),
        "chaos: {v} violations, {} rows missing (seed {seed}; history {})",
        missing.len(),
        dir.join("history.jsonl").display()
    );
}
