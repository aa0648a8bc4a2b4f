//! Idle cost with the service checked every second by both products, side by side (`make
//! bench`, not a test): keepalived runs a shell check as its vrrp_script on both nodes;
//! SureHA's shell agent (`ha_ag_tmp.sh`, one `APIOK.x` a check) runs where the service does.
//! Each node's CPU is its processes' own and their reaped children's (the checks), over
//! `IDLE_SECS`, in seconds per 60 s; medians of `RUNS`.

use crate::bench::runs;
use crate::bench_agent::children_cpu;
use crate::bench_keepalived::{address_only, cpu_of, idle_secs, Keepalived};
use crate::harness::*;
use std::time::Duration;

fn tree_cpu(pids: &[u32]) -> f64 {
    pids.iter().map(|&p| cpu_of(p) + children_cpu(p)).sum()
}

/// CPU of each node's processes over `secs`, scaled to 60 s.
fn over(secs: u64, pids: &dyn Fn() -> [Vec<u32>; 2]) -> [f64; 2] {
    let before = pids().map(|p| tree_cpu(&p));
    std::thread::sleep(Duration::from_secs(secs));
    let after = pids().map(|p| tree_cpu(&p));
    [0, 1].map(|i| (after[i] - before[i]) * 60.0 / secs as f64)
}

fn keepalived_checked(secs: u64) -> [f64; 2] {
    let topo = Topology::new();
    let dir = std::env::temp_dir().join(format!("ka-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let watched = dir.join("agent.web");
    std::fs::write(&watched, "").unwrap();
    let script = dir.join("check.sh");
    std::fs::write(
        &script,
        format!("#!/bin/sh\n[ -e {} ]\n", watched.display()),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let check = Some(script.display().to_string());
    let a = Keepalived::checked(&topo, "alpha", "1", check.clone());
    let b = Keepalived::checked(&topo, "beta", "1", check);
    std::thread::sleep(Duration::from_secs(5));
    let cpu = over(secs, &|| [a.pids(), b.pids()]);
    drop((a, b));
    let _ = std::fs::remove_dir_all(&dir);
    cpu
}

fn sureha_checked(secs: u64) -> [f64; 2] {
    let svc = format!(
        "{}agent = ha_ag_tmp.sh\ncheck_interval = 1s\n",
        address_only()
    );
    let c = NsCluster::new(&ns_config("1s", &svc));
    c.start();
    // The template's service is well while its file exists.
    for n in [&c.alpha, &c.beta] {
        std::fs::write(n.home.join("tmp/agent.web"), "").unwrap();
    }
    c.alpha.ok(&["service", "bringin", "web"]);
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(c.alpha.state("web"), "ACTIVE", "{}", c.alpha.log());
    over(secs, &|| [c.alpha.processes(), c.beta.processes()])
}

fn medians(f: fn(u64) -> [f64; 2]) -> ([f64; 2], Vec<[f64; 2]>) {
    let all: Vec<[f64; 2]> = (0..runs()).map(|_| f(idle_secs())).collect();
    let med = |i: usize| {
        let mut v: Vec<f64> = all.iter().map(|r| r[i]).collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    ([med(0), med(1)], all)
}

#[test]
#[ignore]
fn bench_checked_idle_side_by_side() {
    let (k, kr) = medians(keepalived_checked);
    let (s, sr) = medians(sureha_checked);
    println!(
        "| idle CPU, the service checked every 1 s, s per 60 s (medians of {}) | SureHA (shell agent) | keepalived 2.2.7 (vrrp_script) | ratio |",
        runs()
    );
    println!("| --- | --- | --- | --- |");
    println!(
        "| per node (alpha / beta) | {:.4} / {:.4} | {:.4} / {:.4} | |",
        s[0], s[1], k[0], k[1]
    );
    println!(
        "| the pair | {:.4} | {:.4} | {:.2} |",
        s[0] + s[1],
        k[0] + k[1],
        (s[0] + s[1]) / (k[0] + k[1]).max(1e-9)
    );
    println!("checked idle runs (alpha, beta): SureHA {sr:.4?}; keepalived {kr:.4?}");
}
