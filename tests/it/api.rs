//! The agent API from the outside: pacing, commands, answers to unwanted agents.
//! Not tested here: libhaapi's shared build (agents link the static one by default).

use crate::harness::*;
use std::time::Duration;

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let f: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, r)| r.split_whitespace().collect())
        .unwrap_or_default();
    f.get(11).and_then(|u| u.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0)
}

#[test]
fn a_c_agent_in_a_tight_loop_is_paced_and_costs_no_cpu() {
    // check_interval 1s: the C template sleeps INTERVAL-1 = 0 s between apiok calls.
    let n = Node::new(
        "alpha",
        &(base_config() + &service("web", Some("ha_ag_tmp.x"), "")),
    );
    n.build_c_agent();
    std::fs::write(n.path("tmp/agent"), "").unwrap();
    n.start();
    n.ok(&["service", "bringin", "web"]);
    let agent = n
        .processes()
        .into_iter()
        .find(|&p| Node::cmdline(p).contains("ha_ag_tmp.x"))
        .unwrap();
    let hasvrd = n.pid("hasvrd").unwrap();
    let (a0, h0) = (cpu_ticks(agent), cpu_ticks(hasvrd));
    std::thread::sleep(Duration::from_secs(3));
    let (a1, h1) = (cpu_ticks(agent), cpu_ticks(hasvrd));
    // A spinning agent would use ~300 ticks in 3 s; paced, it is a few calls.
    assert!(a1 - a0 < 30, "agent used {} ticks in 3 s", a1 - a0);
    assert!(h1 - h0 < 30, "hasvrd used {} ticks in 3 s", h1 - h0);
    assert_eq!(n.state("web"), "ACTIVEACT");
}

#[test]
fn apicmd_brings_a_service_in_and_out_and_unwanted_agents_are_told_to_stop() {
    let n = Node::new("alpha", &(base_config() + &service("web", None, "")));
    n.start();
    let r = n.run("APICMD.x", &["BRINGIN", "web"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.is_empty());
    assert_eq!(n.state("web"), "ACTIVEACT");
    // No agent is configured, so one calling in is not wanted.
    let r = n.run("APIOPEN.x", &["web"]);
    assert_eq!(r.code, 1, "{r:?}");
    let r = n.run("APICMD.x", &["BRINGOUT", "web"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(n.state("web"), "OUTACT");
    let r = n.run("APICMD.x", &["FAILOVER", "web"]);
    assert_eq!(r.code, 1, "nothing to fail over to: {r:?}");
    let r = n.run("APIOK.x", &[]);
    assert_eq!(r.code, 2);
}
