//! `haadm` alone: the manual's menus, fed by a script and used at a terminal.

use crate::harness::*;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

fn feed(mut c: Command, input: &str) -> Ran {
    let mut child = c
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap().into()
}

#[test]
fn a_script_creates_and_brings_in_a_service_through_the_menus_each_answer_checked() {
    let c = Cluster::new(&base_config());
    c.start();
    // Services > Create, every key asked in turn (empty: the default); one bad answer is
    // refused at once and asked again; then Services > Bring In, Status, Exit.
    let answers = [
        "3",
        "1",
        "web2", // Services, Create, name
        "",
        "",
        "", // type, active_server, standby_server: defaults
        "",
        "",
        "",
        "", // active_ip, active_nic, standby_nic, subnetmask
        "no-such.start",
        "svc.start",
        "svc.stop",
        "", // start (missing, then right), stop, agent
        "5ms",
        "1s", // check_interval: out of range, then right
        "",
        "",
        "maybe",
        "yes",
        "",
        "", // start_timeout, restart_times, switchback x2, groupid, volume
        "3",
        "2",
        "web2", // Services, Bring In
        "4",
        "0", // Status, Exit
    ];
    let r = feed(c.alpha.cmd("haadm"), &(answers.join("\n") + "\n"));
    assert_eq!(r.code, 0, "{r:?}");
    for said in [
        "check_interval (100ms–120s) [20s]>",
        "error: [service web2]: check_interval: 5ms is out of range 100ms–120s",
        "error: refused: start script",
        "error: [service web2]: switchback:",
        "service web2 created",
        "SERVICE web2 USERDEF alpha=ACTIVE beta=STANDBY",
    ] {
        assert!(r.stdout.contains(said), "{said:?} not in:\n{}", r.stdout);
    }
    c.beta
        .wait_for("web2 on beta", Duration::from_secs(10), || {
            c.beta.state("web2") == "STANDBY"
        });
    let review = c.beta.ok(&["service", "review", "web2"]);
    assert!(
        review.contains("check_interval = 1s") && review.contains("switchback = yes"),
        "{review}"
    );
}

#[test]
fn at_a_terminal_the_menus_lock_and_unlock_the_configuration() {
    let c = Cluster::new(&base_config());
    c.start();
    let at_terminal = |input: &str| {
        let mut cmd = Command::new("script");
        cmd.args([
            "-qec",
            &c.alpha.path("bin/haadm").display().to_string(),
            "/dev/null",
        ])
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("HAHOME", c.alpha.path(""))
        .env("HANODE", "alpha");
        feed(cmd, input)
    };
    // Tools > Lock, then Exit.
    let r = at_terminal("1\n4\n0\n");
    assert!(r.stdout.contains("locked by"), "{r:?}");
    c.beta
        .wait_for("the lock on beta", Duration::from_secs(10), || {
            c.beta.ok(&["status"]).contains("LOCKED ")
        });
    // Tools > Unlock.
    let r = at_terminal("1\n5\n0\n");
    assert!(r.stdout.contains("unlocked"), "{r:?}");
    c.beta
        .wait_for("the unlock on beta", Duration::from_secs(10), || {
            !c.beta.ok(&["status"]).contains("LOCKED ")
        });
}
