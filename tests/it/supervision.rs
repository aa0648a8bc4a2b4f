//! hamond and hasvrd repair each other; a restarted hasvrd adopts running services.
//! Not tested here: the 1 s repair time as a number (bench/footprint.sh measures it), both
//! daemons killed at the same instant (nothing can repair that but the rc system).

use crate::harness::*;
use std::time::Duration;

#[test]
fn kill_9_of_either_daemon_is_repaired_and_services_are_neither_restarted_nor_stopped() {
    let cfg = base_config()
        + &service("cweb", Some("ha_ag_tmp.x"), "")
        + &service("sweb", Some("ha_ag_tmp.sh"), "");
    let n = Node::new("alpha", &cfg);
    n.build_c_agent();
    std::fs::write(n.path("tmp/agent"), "").unwrap();
    std::fs::write(n.path("tmp/agent.sweb"), "").unwrap();
    n.start();
    n.ok(&["service", "bringin", "cweb"]);
    n.ok(&["service", "bringin", "sweb"]);
    let hasvrd = n.pid("hasvrd").unwrap();
    let agents: Vec<u32> = n
        .processes()
        .into_iter()
        .filter(|&p| Node::cmdline(p).contains("ha_ag_tmp") && Node::ppid(p) == hasvrd)
        .collect();
    assert_eq!(
        agents.len(),
        2,
        "two agents: {:?}",
        agents
            .iter()
            .map(|&p| (p, Node::cmdline(p)))
            .collect::<Vec<_>>()
    );

    for daemon in ["hasvrd", "hamond", "hasvrd"] {
        let old = n.pid(daemon).unwrap();
        Node::kill9(old);
        n.wait_for(&format!("a new {daemon}"), Duration::from_secs(5), || {
            n.pid(daemon)
                .is_some_and(|p| p != old && std::path::Path::new(&format!("/proc/{p}")).exists())
        });
        assert!(
            n.haadm(&["status"]).code == 0 || {
                std::thread::sleep(Duration::from_millis(300));
                n.haadm(&["status"]).code == 0
            }
        );
        // Longer than 3 × check_interval: the adopted agents keep reporting to the new hasvrd.
        std::thread::sleep(Duration::from_millis(3500));
        assert_eq!(n.state("cweb"), "ACTIVEACT", "after kill -9 {daemon}");
        assert_eq!(n.state("sweb"), "ACTIVEACT", "after kill -9 {daemon}");
    }
    assert_eq!(
        n.events(),
        vec!["start cweb", "start sweb"],
        "nothing was restarted or stopped"
    );
    for a in agents {
        assert!(
            std::path::Path::new(&format!("/proc/{a}")).exists(),
            "agent {a} ({}) still runs",
            Node::cmdline(a)
        );
    }
    let log = n.log();
    assert!(
        log.contains("WARNING hasvrd died (killed by signal 9); started a new one"),
        "{log}"
    );
    assert!(
        log.contains("WARNING hamond died (lifeline closed); started a new one"),
        "{log}"
    );
    assert!(
        log.contains("INFO service cweb: adopted, running since before this hasvrd started"),
        "{log}"
    );
    n.ok(&["stop"]);
    n.wait_for(
        "every process of the node to end",
        Duration::from_secs(5),
        || n.processes().is_empty(),
    );
}

#[test]
fn sigterm_to_hamond_stops_the_services_here_then_both_daemons() {
    let n = Node::new("alpha", &(base_config() + &service("web", None, "")));
    n.start();
    n.ok(&["service", "bringin", "web"]);
    let hamond = n.pid("hamond").unwrap();
    let _ = sureha::sys::kill(hamond, sureha::sys::SIGTERM);
    n.wait_for(
        "every process of the node to end",
        Duration::from_secs(10),
        || n.processes().is_empty(),
    );
    assert_eq!(n.events(), vec!["start web", "stop web"]);
    let log = n.log();
    assert!(
        log.contains("asked to stop: telling hasvrd to stop the services here and leave"),
        "{log}"
    );
    assert!(log.contains("hamond leaves too"), "{log}");
}
