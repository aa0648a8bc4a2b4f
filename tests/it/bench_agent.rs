//! What one health check of an agent costs (`make bench`, not a test): a node with one
//! service checked every second, its whole process tree's CPU over `IDLE_SECS`, with no agent,
//! with the shell template (`ha_ag_tmp.sh`: a loop that runs `APIOK.x` once a check) and with
//! the C template built against libhaapi (`ha_ag_tmp.x`: no process spawned). The difference
//! to no agent, divided by the checks, is the cost of one.

use crate::bench::runs;
use crate::bench_keepalived::cpu_of;
use crate::harness::*;
use std::time::Duration;

/// CPU seconds of a node's processes (hamond, hasvrd, links, agent and what it spawns: a
/// spawned APIOK.x counts through its parent's reaped children) over `secs`.
fn cpu_over(node: &Node, secs: u64) -> f64 {
    let tree = |n: &Node| -> f64 {
        n.processes()
            .iter()
            .map(|&p| cpu_of(p) + children_cpu(p))
            .sum()
    };
    let before = tree(node);
    std::thread::sleep(Duration::from_secs(secs));
    tree(node) - before
}

/// The CPU of a process's waited-for children (cutime + cstime, in clock ticks).
pub(crate) fn children_cpu(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0.0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After the command: state is field 3 of stat(5), so cutime (16) and cstime (17) are at
    // 13 and 14 here.
    let ticks: f64 = [13, 14]
        .iter()
        .filter_map(|&i| f.get(i)?.parse::<f64>().ok())
        .sum();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    ticks / hz
}

fn one(agent: Option<&str>, secs: u64) -> f64 {
    let c = Cluster::new(&(base_config() + &service("web", agent, "")));
    if agent == Some("ha_ag_tmp.x") {
        c.alpha.build_c_agent();
    }
    c.start();
    c.alpha.ok(&["service", "bringin", "web"]);
    // The template's service is well while its file exists.
    std::fs::write(c.alpha.home.join("tmp/agent.web"), "").unwrap();
    std::thread::sleep(Duration::from_secs(3));
    cpu_over(&c.alpha, secs)
}

#[test]
#[ignore]
fn bench_agent_check_cost() {
    let secs: u64 = std::env::var("IDLE_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    let median = |agent: Option<&str>| {
        let mut v: Vec<f64> = (0..runs().min(3)).map(|_| one(agent, secs)).collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let none = median(None);
    let shell = median(Some("ha_ag_tmp.sh"));
    let c_agent = median(Some("ha_ag_tmp.x"));
    let per = |x: f64| (x - none) / secs as f64 * 1000.0;
    println!("\nagent checks, one a second, node alpha's CPU over {secs} s (medians):");
    println!("| agent | CPU per {secs} s | one check costs |");
    println!("| --- | --- | --- |");
    println!("| none | {none:.3} s | |");
    println!(
        "| shell template (APIOK.x spawned) | {shell:.3} s | {:.2} ms |",
        per(shell)
    );
    println!(
        "| C template (libhaapi) | {c_agent:.3} s | {:.2} ms |",
        per(c_agent)
    );
}
