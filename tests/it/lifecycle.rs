//! The service lifecycle on one node (the peer is never heard from, so a service brought in
//! runs as ACTIVEACT). Not tested here: volumes and floating addresses (they need root and
//! network namespaces: see the cluster tests), anything involving the peer.

use crate::harness::*;
use std::time::Duration;

const T: Duration = Duration::from_secs(15);

#[test]
fn c_and_shell_agents_restart_error_bring_out_and_in() {
    let cfg = base_config()
        + &service("cweb", Some("ha_ag_tmp.x"), "restart_times = 1\n")
        + &service("sweb", Some("ha_ag_tmp.sh"), "");
    let n = Node::new("alpha", &cfg);
    n.build_c_agent();
    std::fs::write(n.path("tmp/agent"), "").unwrap();
    std::fs::write(n.path("tmp/agent.sweb"), "").unwrap();
    n.start();
    assert_eq!(n.state("cweb"), "OUTACT");
    n.ok(&["service", "bringin", "cweb"]);
    n.ok(&["service", "bringin", "sweb"]);
    assert_eq!(n.state("cweb"), "ACTIVEACT");
    assert_eq!(n.state("sweb"), "ACTIVEACT");
    // Both agents keep reporting: still ACTIVEACT after more than 3 × check_interval.
    std::thread::sleep(Duration::from_millis(3500));
    assert_eq!(n.state("cweb"), "ACTIVEACT");
    assert_eq!(n.state("sweb"), "ACTIVEACT");
    assert_eq!(n.events(), vec!["start cweb", "start sweb"]);

    // The C agent's file goes: one local restart, then ERRORACT.
    std::fs::remove_file(n.path("tmp/agent")).unwrap();
    n.wait_state("cweb", "ERRORACT", T);
    assert_eq!(
        n.events(),
        vec![
            "start cweb",
            "start sweb",
            "stop cweb",
            "start cweb",
            "stop cweb"
        ]
    );
    let log = n.log();
    assert!(log.contains("WARNING service cweb: agent reported an error (apierr); restarting it here (restart 1 of 1 within 10s)"), "{log}");
    assert!(
        log.contains(
            "ERROR service cweb: agent reported an error (apierr); 1 restarts within 10s used up"
        ),
        "{log}"
    );
    assert!(
        log.contains("INFO service cweb: start says: start cweb on alpha"),
        "{log}"
    );
    assert_eq!(
        n.state("sweb"),
        "ACTIVEACT",
        "the other service is not disturbed"
    );

    // BringOut: the agent stops, the stop script runs, OUTACT.
    n.ok(&["service", "bringout", "sweb"]);
    assert_eq!(n.state("sweb"), "OUTACT");
    assert_eq!(n.events().last().unwrap(), "stop sweb");
    assert!(
        !n.processes()
            .iter()
            .any(|&p| Node::cmdline(p).contains("ha_ag_tmp.sh")),
        "the shell agent is gone"
    );
    // BringIn again, both.
    std::fs::write(n.path("tmp/agent"), "").unwrap();
    n.ok(&["service", "bringin", "sweb"]);
    n.ok(&["service", "bringin", "cweb"]);
    assert_eq!(n.state("sweb"), "ACTIVEACT");
    assert_eq!(n.state("cweb"), "ACTIVEACT");
}

#[test]
fn a_hanging_start_script_is_killed_with_its_process_group_at_start_timeout() {
    let cfg = base_config() + &service("web", None, "start_timeout = 1s\n");
    let n = Node::new("alpha", &cfg);
    n.write_script(
        "web.start-hook",
        "#!/bin/sh\nsleep 1000 &\necho $! > \"$HAHOME/tmp/child.pid\"\nsleep 1000\n",
    );
    n.start();
    let r = n.haadm(&["service", "bringin", "web"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains(
            "start script svc.start failed: did not finish in time; its process group was killed"
        ),
        "{r:?}"
    );
    assert_eq!(n.state("web"), "ERRORACT");
    let child: u32 = std::fs::read_to_string(n.path("tmp/child.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    n.wait_for(
        "the script's background child to be killed",
        Duration::from_secs(5),
        || {
            !std::path::Path::new(&format!("/proc/{child}")).exists()
                || std::fs::read_to_string(format!("/proc/{child}/stat"))
                    .is_ok_and(|s| s.contains(") Z"))
        },
    );
    assert_eq!(
        n.events(),
        vec!["start web", "stop web"],
        "the stop script cleans up after a failed start"
    );
}

#[test]
fn a_start_script_leaving_a_daemon_on_its_stdout_hangs_nothing() {
    let cfg = base_config() + &service("web", None, "");
    let n = Node::new("alpha", &cfg);
    n.write_script("web.start-hook", "#!/bin/sh\n(while :; do echo tick; sleep 1; done) &\necho $! > \"$HAHOME/tmp/daemon.pid\"\necho started\nexit 0\n");
    n.write_script(
        "web.stop-hook",
        "#!/bin/sh\nkill $(cat \"$HAHOME/tmp/daemon.pid\")\n",
    );
    n.start();
    let started = std::time::Instant::now();
    n.ok(&["service", "bringin", "web"]);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "bringin waited for end of output"
    );
    assert_eq!(n.state("web"), "ACTIVEACT");
    let daemon: u32 = std::fs::read_to_string(n.path("tmp/daemon.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        std::path::Path::new(&format!("/proc/{daemon}")).exists(),
        "the service's daemon lives on"
    );
    assert!(n.log().contains("INFO service web: start says: started"));
    // haadm stop: the stop script ends the daemon, and nothing of SureHA is left.
    n.ok(&["stop"]);
    n.wait_for(
        "every process of the node to end",
        Duration::from_secs(5),
        || n.processes().is_empty(),
    );
    assert_eq!(n.events(), vec!["start web", "stop web"]);
}

#[test]
fn haadm_stop_leaves_no_process_and_the_next_start_brings_protected_services_back() {
    let cfg = base_config() + &service("web", Some("ha_ag_tmp.sh"), "");
    let n = Node::new("alpha", &cfg);
    std::fs::write(n.path("tmp/agent.web"), "").unwrap();
    n.start();
    n.ok(&["service", "bringin", "web"]);
    let out = n.ok(&["stop"]);
    assert_eq!(out, "SureHA stopped on this node\n");
    let left = n.processes();
    assert!(
        left.is_empty(),
        "left behind: {:?}",
        left.iter().map(|&p| Node::cmdline(p)).collect::<Vec<_>>()
    );
    assert_eq!(n.events(), vec!["start web", "stop web"]);
    n.start();
    n.wait_for("the start script to run again", T, || n.events().len() == 3);
    n.wait_state("web", "ACTIVEACT", T);
    assert_eq!(n.events(), vec!["start web", "stop web", "start web"]);
}

#[test]
fn agent_templates_answer_one_shot_checks() {
    let n = Node::new("alpha", &base_config());
    n.build_c_agent();
    assert_eq!(n.run("ha_ag_tmp.x", &["web", "0"]).code, 0, "not available");
    assert_eq!(
        n.run("ha_ag_tmp.sh", &["web", "0"]).code,
        0,
        "not available"
    );
    std::fs::write(n.path("tmp/agent"), "").unwrap();
    std::fs::write(n.path("tmp/agent.web"), "").unwrap();
    assert_eq!(n.run("ha_ag_tmp.x", &["web", "0"]).code, 1, "available");
    assert_eq!(n.run("ha_ag_tmp.sh", &["web", "0"]).code, 1, "available");
}

#[test]
fn the_rc_script_starts_reports_and_stops_sureha() {
    let n = Node::new("alpha", &base_config());
    std::fs::copy(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rc/S999sureha"),
        n.path("bin/S999sureha"),
    )
    .unwrap();
    let r = n.run("S999sureha", &["status"]);
    assert_eq!(r.code, 3, "not running: LSB status 3: {r:?}");
    assert_eq!(n.run("S999sureha", &["start"]).code, 0);
    let r = n.run("S999sureha", &["status"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout.contains("hamond is running") && r.stdout.contains("NODE alpha UP local"),
        "{r:?}"
    );
    let r = n.run("S999sureha", &["stop"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(n.processes().is_empty());
    assert_eq!(n.run("S999sureha", &["bogus"]).code, 2);
}
