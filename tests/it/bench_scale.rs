//! How SureHA's cost grows with the work (`make bench`, not a test): for 1, 50, 200 and 256
//! services of two addresses each (the limit is 256), on the namespaces of the cluster tests
//! with 100 ms × 3 beats:
//! - bringing every service in, 20 `haadm` at a time, until the kernel holds every address;
//! - a new configuration of that size reaching the peer (`haadm reload` on alpha until beta's
//!   status lists it);
//! - idle CPU of the pair (each node's whole process tree) per 60 s, and its ratio to one
//!   service's;
//! - alpha losing power: when beta's kernel holds every address, after the carrier went.
//!
//! Addresses are counted where they live (the kernel of beta's namespace, from a thread that
//! entered it), not from what SureHA says.

use crate::bench::{median, ms, runs};
use crate::harness::*;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(60);

/// The n-th floating address of the scale runs (10.20.0.0/16 on eth0).
fn address(i: usize) -> String {
    format!("10.20.{}.{}", i / 200, 1 + i % 200)
}

fn services(n: usize) -> String {
    (0..n)
        .map(|i| {
            format!(
                "\n[service s{i}]\nactive_server = alpha\nstandby_server = beta\nactive_nic = eth0\nstandby_nic = eth0\nsubnetmask = 255.255.0.0\nactive_ip = {} {}\nstart = svc.start\nstop = svc.stop\n",
                address(2 * i),
                address(2 * i + 1)
            )
        })
        .collect()
}

/// How many of the scale addresses the kernel of namespace `ns` holds now.
fn count_in(ns: &str) -> usize {
    let path = std::path::PathBuf::from(format!("/run/netns/{ns}"));
    std::thread::spawn(move || {
        sureha::sys::enter_netns(&path).expect("enter the namespace");
        scale_addresses()
    })
    .join()
    .unwrap()
}

fn scale_addresses() -> usize {
    sureha::sys::interface_addresses()
        .iter()
        .filter(|(_, ip, _)| matches!(ip, std::net::IpAddr::V4(a) if a.octets()[..2] == [10, 20]))
        .count()
}

/// Waits in namespace `ns` until it holds `want` scale addresses; when it did.
fn when_held(ns: &str, want: usize) -> Instant {
    let path = std::path::PathBuf::from(format!("/run/netns/{ns}"));
    std::thread::spawn(move || {
        sureha::sys::enter_netns(&path).expect("enter the namespace");
        let began = Instant::now();
        while began.elapsed() < T {
            if scale_addresses() >= want {
                return Instant::now();
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        panic!("{want} addresses not held within {T:?}");
    })
    .join()
    .unwrap()
}

struct Row {
    n: usize,
    bringin: Duration,
    config: Duration,
    idle: f64,
    crash: Duration,
}

fn one_run(n: usize, idle_secs: u64) -> Row {
    let c = NsCluster::new(&ns_config("100ms", &services(n)));
    c.start();
    let names: Vec<String> = (0..n).map(|i| format!("s{i}")).collect();
    // Bring in: 20 haadm at a time, until alpha's kernel holds every address.
    let t0 = Instant::now();
    for chunk in names.chunks(20) {
        std::thread::scope(|s| {
            for name in chunk {
                let alpha = &c.alpha;
                s.spawn(move || alpha.ok(&["service", "bringin", name]));
            }
        });
    }
    let bringin = when_held(&c.topo.node_ns("alpha"), 2 * n) - t0;
    // A configuration of that size reaching the peer: the last service changed on alpha and
    // reloaded, until beta reviews it as alpha does.
    let conf = c.alpha.home.join("etc/sureha.conf");
    let text = std::fs::read_to_string(&conf).unwrap();
    std::fs::write(&conf, format!("{text}restart_times = 2\n")).unwrap();
    let last = format!("s{}", n - 1);
    let t1 = Instant::now();
    c.alpha.ok(&["reload"]);
    // The keys only (the comments after them are each node's state).
    let keys = |text: String| -> String {
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let want = keys(c.alpha.ok(&["service", "review", &last]));
    assert!(want.contains("restart_times"), "{want}");
    let mut seen = String::new();
    let began = Instant::now();
    while seen != want {
        assert!(
            began.elapsed() < T,
            "beta reviews {last} as\n{seen}\nalpha as\n{want}\n{}",
            c.beta.log()
        );
        std::thread::sleep(Duration::from_millis(5));
        seen = keys(c.beta.ok(&["service", "review", &last]));
    }
    let config = t1.elapsed();
    // Idle.
    std::thread::sleep(Duration::from_secs(3));
    let cpu = |node: &Node| -> f64 {
        node.processes()
            .iter()
            .map(|p| crate::bench_keepalived::cpu_of(*p))
            .sum()
    };
    let before = cpu(&c.alpha) + cpu(&c.beta);
    std::thread::sleep(Duration::from_secs(idle_secs));
    let idle = (cpu(&c.alpha) + cpu(&c.beta) - before) * 60.0 / idle_secs as f64;
    // alpha loses power: every address on beta.
    assert_eq!(count_in(&c.topo.node_ns("beta")), 0);
    let t2 = c.power_off("alpha");
    let crash = when_held(&c.topo.node_ns("beta"), 2 * n) - t2;
    Row {
        n,
        bringin,
        config,
        idle,
        crash,
    }
}

#[test]
#[ignore]
fn bench_scale() {
    let sizes: Vec<usize> = std::env::var("SCALE_SIZES")
        .ok()
        .map(|v| v.split(',').filter_map(|x| x.parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 50, 200, 256]);
    let idle_secs: u64 = std::env::var("IDLE_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    let mut rows: Vec<Row> = Vec::new();
    for &n in &sizes {
        let all: Vec<Row> = (0..runs().min(3)).map(|_| one_run(n, idle_secs)).collect();
        let mut idles: Vec<f64> = all.iter().map(|r| r.idle).collect();
        idles.sort_by(f64::total_cmp);
        rows.push(Row {
            n,
            bringin: median(all.iter().map(|r| r.bringin).collect()),
            config: median(all.iter().map(|r| r.config).collect()),
            idle: idles[idles.len() / 2],
            crash: median(all.iter().map(|r| r.crash).collect()),
        });
    }
    let base = rows.first().map_or(1.0, |r| r.idle.max(1e-9));
    println!("\nscale, 100 ms x 3 beats, two addresses a service (medians of {} runs, idle over {idle_secs} s):", runs().min(3));
    println!("| services | addresses | bring all in (20 haadm at a time) | configuration to the peer | idle CPU of the pair per 60 s | × one service | power lost: every address on the peer |");
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    for r in &rows {
        println!(
            "| {} | {} | {} | {} | {:.3} s | {:.2} | {} |",
            r.n,
            2 * r.n,
            ms(r.bringin),
            ms(r.config),
            r.idle,
            r.idle / base,
            ms(r.crash)
        );
    }
}
