//! Timing figures (not tests: machines are shared and noisy). Run by `make bench` with
//! `--ignored` on a release build; each prints the median of several runs.

use crate::harness::*;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(30);

pub(crate) fn runs() -> usize {
    std::env::var("RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5)
}

pub(crate) fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

pub(crate) fn ms(d: Duration) -> String {
    let v = d.as_secs_f64() * 1000.0;
    if v < 100.0 {
        format!("{v:.1} ms")
    } else {
        format!("{v:.0} ms")
    }
}

/// Client-observed outage when the active node crashes, per heartbeat interval.
#[test]
#[ignore]
fn bench_crash_outage() {
    for interval in ["100ms", "1s"] {
        let mut outages = Vec::new();
        for _ in 0..runs() {
            let c = NsCluster::new(&ns_config(interval, &web_service("")));
            c.start();
            // Every millisecond, by five clients of 5 ms patience each: a request caught by
            // the crash blinds none of the others, and the outage is the move's own.
            let probe = Probe::start_fine(
                &c.topo.ns("c"),
                Duration::from_millis(1),
                5,
                Duration::from_millis(5),
            );
            c.alpha.ok(&["service", "bringin", "web"]);
            probe.wait_for("alpha", T);
            // Steady state: alpha's own spaced announcements (900 ms) are over; a neighbour
            // ignores a new claim within its ARP locktime (1 s) of the last one.
            std::thread::sleep(Duration::from_millis(1500));
            let t0 = c.power_off("alpha");
            probe.wait_for("beta", T);
            outages.push(probe.outage_since(t0));
            if std::env::var_os("SHOW_LOGS").is_some() {
                std::thread::sleep(Duration::from_millis(300));
                // What the client saw from the crash on, one line per change of outcome.
                let mut last = String::new();
                for x in probe.samples().iter().filter(|x| x.at >= t0) {
                    let what = format!("{:?} {}", x.who, x.how);
                    if what != last {
                        println!("  client +{:?}: {what}", x.at - t0);
                        last = what;
                    }
                }
                let all = std::env::var_os("SHOW_ALL").is_some();
                for l in c.beta.log().lines().filter(|l| {
                    all || l.contains("carrier") || l.contains(" MOVE ") || l.contains("is down")
                }) {
                    println!("  {l}");
                }
            }
        }
        println!(
            "crash of the active node, interval {interval}, maxmiss 3: client outage median {} (runs: {})",
            ms(median(outages.clone())),
            outages.iter().map(|d| ms(*d)).collect::<Vec<_>>().join(", ")
        );
    }
}

/// Client-observed outage of a planned FailOver with instant scripts.
#[test]
#[ignore]
fn bench_planned_failover() {
    let c = NsCluster::new(&ns_config("100ms", &web_service("")));
    c.start();
    let probe = Probe::start_fine(
        &c.topo.ns("c"),
        Duration::from_millis(1),
        5,
        Duration::from_millis(5),
    );
    c.alpha.ok(&["service", "bringin", "web"]);
    probe.wait_for("alpha", T);
    let mut outages = Vec::new();
    let mut on = "alpha";
    for _ in 0..runs() {
        std::thread::sleep(Duration::from_millis(500));
        let t0 = Instant::now();
        c.node(on).ok(&["service", "failover", "web"]);
        on = if on == "alpha" { "beta" } else { "alpha" };
        probe.wait_for(on, T);
        std::thread::sleep(Duration::from_millis(200));
        outages.push(probe.outage_since(t0));
    }
    if std::env::var_os("SHOW_LOGS").is_some() {
        let mut lines: Vec<String> = c
            .alpha
            .log()
            .lines()
            .chain(c.beta.log().lines())
            .map(String::from)
            .collect();
        lines.sort();
        println!(
            "{}",
            lines
                .iter()
                .rev()
                .take(40)
                .rev()
                .cloned()
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    println!(
        "planned FailOver: client outage median {} (runs: {})",
        ms(median(outages.clone())),
        outages
            .iter()
            .map(|d| ms(*d))
            .collect::<Vec<_>>()
            .join(", ")
    );
}

/// Client-observed outage when the NIC holding the address loses its carrier and the address
/// moves to the second NIC of the same node (local NIC failover, no move to the peer).
#[test]
#[ignore]
fn bench_nic_failover() {
    let mut outages = Vec::new();
    for _ in 0..runs() {
        let c = crate::links::web_cluster("", true);
        let probe = Probe::start(&c.topo.ns("c"), Duration::from_millis(10));
        c.alpha.ok(&["service", "bringin", "web"]);
        probe.wait_for("alpha", T);
        std::thread::sleep(Duration::from_millis(1500));
        let t0 = Instant::now();
        c.topo.set_cable("pa", false);
        c.alpha.wait_for("the address on eth1", T, || {
            c.topo.has_vip_on("alpha", "eth1")
        });
        probe.wait_since("alpha", Instant::now(), T);
        outages.push(probe.outage_since(t0));
    }
    println!(
        "local NIC failover (carrier lost): client outage median {} (runs: {})",
        ms(median(outages.clone())),
        outages
            .iter()
            .map(|d| ms(*d))
            .collect::<Vec<_>>()
            .join(", ")
    );
}

/// What encryption costs a frame: a beat of 50 services sealed by hasvrd (version 1, HMAC),
/// then as it crosses: encrypted by the sending link and decrypted by the receiving one
/// (version 2), against checking its HMAC alone (the release before); and whether a
/// 9600-baud line still carries that beat within a 1 s interval.
#[test]
#[ignore]
fn bench_frame_encryption_cost() {
    use sureha::frame::{self, Beat, Message, ReplayGuard, ServiceRecord, Wire};
    let services: Vec<ServiceRecord> = (0..50u16)
        .map(|index| ServiceRecord {
            index,
            word: 1,
            phase: 2,
            protected: true,
            error: false,
            error_was_active: false,
            unable: false,
            both: false,
            primary: 0,
            runner: 0,
            epoch: 7,
            resets: 0,
        })
        .collect();
    let payload = Message::Beat(Beat {
        sender: "alpha".into(),
        generation: 3,
        digest: 0xdead_beef,
        hears_you: true,
        leaving: false,
        keeping: false,
        services,
        nics: vec![],
        disks: vec![],
        admin: (0, String::new()),
        heard: 1,
    })
    .encode();
    let key = b"0123456789abcdef0123456789abcdef";
    const FRAMES: u64 = 20_000;
    let (mut clear_runs, mut crypt_runs) = (Vec::new(), Vec::new());
    let (mut v1_len, mut v2_len) = (0, 0);
    for _ in 0..runs() {
        // The release before: the receiving link checks CRC and HMAC.
        let started = Instant::now();
        for seq in 1..=FRAMES {
            let f = frame::seal(Some(key), 1, seq, &payload).unwrap();
            v1_len = f.len();
            assert!(frame::open(Some(key), &f).is_ok());
        }
        clear_runs.push(started.elapsed() / FRAMES as u32);
        // Now: the same, plus encryption on the way out and decryption on the way in.
        let (out, mut inn) = (Wire::new(Some(key)), Wire::new(Some(key)));
        let mut guard = ReplayGuard::default();
        let started = Instant::now();
        for seq in 1..=FRAMES {
            let f = frame::seal(Some(key), 1, seq, &payload).unwrap();
            let wire = out.outgoing(&f).unwrap();
            v2_len = wire.len();
            assert!(inn.accept(&wire, &mut guard).is_ok());
        }
        crypt_runs.push(started.elapsed() / FRAMES as u32);
    }
    let us = |d: Duration| format!("{:.1} µs", d.as_secs_f64() * 1e6);
    let (clear, crypt) = (median(clear_runs), median(crypt_runs));
    // Ten bits a byte on an RS-232 line (start, 8 data, stop).
    let line_ms = |len: usize| len as f64 * 10.0 / 9600.0 * 1000.0;
    println!(
        "frame cost, a beat of 50 services (median of {} runs of {FRAMES} frames):",
        runs()
    );
    println!(
        "  version 1, signed (the release before): {v1_len} bytes, seal + check {}",
        us(clear)
    );
    println!(
        "  version 2, encrypted: {v2_len} bytes, seal + encrypt + decrypt + check {} (+{})",
        us(crypt),
        us(crypt.saturating_sub(clear))
    );
    println!(
        "  on a 9600-baud line: {:.0} ms a beat (version 1: {:.0} ms), within a 1 s interval",
        line_ms(v2_len),
        line_ms(v1_len)
    );
    assert!(line_ms(v2_len) < 1000.0, "a 9600-baud line cannot carry it");
}
