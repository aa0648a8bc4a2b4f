//! haadm and the daemons facing bad input: configuration errors, usage, garbage requests.
//! Not tested here: the interactive menus beyond one round trip (they send the same words).

use crate::harness::*;
use std::time::Duration;

#[test]
fn check_reports_every_error_with_file_and_line() {
    let n = Node::new("alpha", &base_config());
    let bad = n.path("etc/bad.conf");
    std::fs::write(&bad, format!("{}interval = 99s\n[service web]\nactive_server = alpha\nstandby_server = gamma\nstart = a\nbogus = 1\n", base_config())).unwrap();
    let r = n.haadm(&["check", bad.to_str().unwrap()]);
    assert_eq!(r.code, 1, "{r:?}");
    let f = bad.display();
    assert_eq!(r.stderr, format!(
        "haadm: {f}:10: [privnet lan]: 'interval' is given twice (first at line 8)\n\
         {f}:11: [service web]: 'stop' is required\n\
         {f}:11: [service web]: standby_server 'gamma' is not joined by any [privnet] (the links join alpha and beta)\n\
         {f}:15: unknown key 'bogus' in [service web] (known: type active_server standby_server active_nic standby_nic active_ip subnetmask prefixlen agent start stop check_interval start_timeout restart_times switchback switchback_delay switchback_max groupid volume sid server_name username path description, and ha_NAME for an OCF agent's parameter NAME)\n"
    ));
    let r = n.haadm(&["check"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r
        .stdout
        .ends_with("sureha.conf: OK (1 link(s), 0 service(s))\n"));
}

#[test]
fn check_names_a_missing_type_key_with_file_and_line() {
    let conf = format!(
        "{}\n[service www]\ntype = WWW\nactive_server = alpha\nstandby_server = beta\nstart = a\nstop = b\n",
        base_config()
    );
    let n = Node::new("alpha", &conf);
    let r = n.haadm(&["check"]);
    assert_eq!(r.code, 1, "{r:?}");
    let line = conf.lines().position(|l| l == "type = WWW").unwrap() + 1;
    assert!(
        r.stderr.contains(&format!(
            "sureha.conf:{line}: [service www]: type WWW needs 'path'"
        )),
        "{r:?}"
    );
}

#[test]
fn check_warns_when_volumes_have_no_disk_link() {
    let n = Node::new(
        "alpha",
        &format!(
            "{}\n[service db]\nactive_server = alpha\nstandby_server = beta\nstart = a\nstop = b\nvolume = /dev/sdb1 /dev/sdb1 /srv/db\n",
            base_config()
        ),
    );
    let r = n.haadm(&["check"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout
            .contains("WARNING: [service db] has volumes but there is no disk link"),
        "{r:?}"
    );
}

#[test]
fn daemons_refuse_a_bad_configuration_with_a_distinct_status() {
    let n = Node::new("alpha", "[service x]\n");
    let r = n.run("hamond", &[]);
    assert_eq!(r.code, 3, "{r:?}");
    assert!(
        r.stderr
            .contains("sureha.conf:1: [service x]: 'active_server' is required"),
        "{r:?}"
    );
    let r = n.run("hasvrd", &["-n"]);
    assert_eq!(r.code, 3);
    // A node the configuration does not name.
    let n = Node::new("gamma", &base_config());
    let r = n.run("hamond", &[]);
    assert_eq!(r.code, 3);
    assert!(r.stderr.contains("this node is 'gamma'"), "{r:?}");
}

#[test]
fn commands_without_a_running_hasvrd_say_so_and_usage_errors_exit_2() {
    let n = Node::new("alpha", &base_config());
    let r = n.haadm(&["status"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("hasvrd is not running on this node"),
        "{r:?}"
    );
    for args in [
        &["service", "bringin"][..],
        &["service", "frob", "x"],
        &["frobnicate"],
        &["service", "state", "../../x"],
    ] {
        let r = n.haadm(args);
        assert_eq!(r.code, 2, "{args:?}: {r:?}");
        assert!(r.stderr.starts_with("haadm: "), "{r:?}");
    }
    let r = n.run("APIOK.x", &["web"]);
    assert_eq!(r.code, 1);
    assert!(r.stdout.is_empty(), "API tools print nothing on stdout");
}

#[test]
fn a_second_hamond_refuses_and_garbage_on_the_fifo_harms_nothing() {
    let n = Node::new(
        "alpha",
        &(base_config() + &service("web", Some("ha_ag_tmp.sh"), "")),
    );
    std::fs::write(n.path("tmp/agent.web"), "").unwrap();
    n.start();
    n.ok(&["service", "bringin", "web"]);
    let r = n.run("hamond", &[]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("already running"), "{r:?}");

    let fifo = n.path("tmp/hasvrd.fifo");
    let mut junk = Vec::new();
    junk.extend_from_slice(b"hello\n\xff\xfe\nsureha1 - 1\nsureha1 ../../etc/passwd 1 status\nsureha1 - 1 apiok ../../x\n");
    junk.extend_from_slice(b"sureha1 - 1 apiok %ZZ\nsureha1 - 1 service bringout nosuch\n");
    junk.extend(std::iter::repeat_n(b'x', 9000));
    junk.extend_from_slice(b"\nsureha1 - 1 apicmd EXPLODE web\n");
    std::fs::write(&fifo, &junk).unwrap();
    let r = n.run("APIOK.x", &["nosuch"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("no service named 'nosuch'"), "{r:?}");
    let r = n.run("APICMD.x", &["EXPLODE", "web"]);
    assert_eq!(r.code, 2, "an unknown command is a usage error: {r:?}");
    n.wait_for("the warnings in the log", Duration::from_secs(5), || {
        n.log().contains("longer than 4000 bytes")
    });
    let log = n.log();
    assert!(log.contains("WARNING request FIFO: ignored a bad line (unknown protocol 'hello' (expected sureha1))"), "{log}");
    assert!(log.contains("bad reply name '../../etc/passwd'"), "{log}");
    assert_eq!(n.state("web"), "ACTIVEACT");
    assert_eq!(n.events(), vec!["start web"], "nothing was restarted");
    let status = n.ok(&["status"]);
    assert!(
        status.contains("SERVICE web USERDEF alpha=ACTIVEACT beta=UNKNOWN"),
        "{status}"
    );
}

#[test]
fn service_changes_are_refused_while_the_peer_is_unreachable() {
    let n = Node::new("alpha", &base_config());
    n.start();
    let r = n.haadm(&[
        "service",
        "create",
        "db",
        "active_server=beta",
        "standby_server=alpha",
        "start=svc.start",
        "stop=svc.stop",
    ]);
    assert_eq!(r.code, 1);
    assert_eq!(r.stderr, "haadm: peer beta is not reachable: creating or removing a service or link needs both nodes, so that they keep one configuration\n");
    // What is wrong with the change itself is said first, peer or no peer.
    let bad = n.haadm(&[
        "service",
        "create",
        "db",
        "active_server=beta",
        "standby_server=alpha",
        "start=svc.start",
        "stop=svc.stop",
        "check_interval=9h",
    ]);
    assert_eq!(bad.code, 1, "{bad:?}");
    assert!(bad.stderr.contains("check_interval"), "{bad:?}");
    let missing = n.haadm(&[
        "service",
        "create",
        "db",
        "active_server=beta",
        "standby_server=alpha",
        "start=no-such.start",
        "stop=svc.stop",
    ]);
    assert_eq!(missing.code, 1, "{missing:?}");
    assert!(
        missing.stderr.contains("start script") && missing.stderr.contains("no-such.start"),
        "{missing:?}"
    );
    // Reload still works alone, and a change by hand raises the generation.
    std::fs::write(n.path("etc/sureha.conf"), base_config() + "# hand edit\n").unwrap();
    n.ok(&["reload"]);
    assert!(n.ok(&["status"]).contains("CONFIG generation=2 UNKNOWN"));
}

#[test]
fn hup_reload_keeps_the_running_configuration_when_the_new_one_is_invalid() {
    let n = Node::new("alpha", &(base_config() + &service("web", None, "")));
    n.start();
    n.ok(&["service", "bringin", "web"]);
    std::fs::write(
        n.path("etc/sureha.conf"),
        base_config() + "[service web]\nstart = x\n",
    )
    .unwrap();
    let hasvrd = n.pid("hasvrd").unwrap();
    let _ = std::process::Command::new("kill")
        .args(["-HUP", &hasvrd.to_string()])
        .status();
    n.wait_for("the reload error", Duration::from_secs(5), || {
        n.log()
            .contains("configuration not reloaded, keeping the running one")
    });
    assert_eq!(n.state("web"), "ACTIVEACT");
    let _ = std::process::Command::new("kill")
        .args(["-USR1", &hasvrd.to_string()])
        .status();
    n.wait_for("the dump", Duration::from_secs(5), || {
        n.log().contains("dump: service web state ACTIVEACT")
    });
    let menu = n
        .cmd("haadm")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(b"4\n0\n")?;
            c.wait_with_output()
        })
        .unwrap();
    let out = String::from_utf8_lossy(&menu.stdout);
    assert!(
        out.contains("4) Status") && out.contains("SERVICE web USERDEF alpha=ACTIVEACT"),
        "{out}"
    );
}

#[test]
fn haadm_gives_up_with_a_clear_message_when_hasvrd_does_not_take_its_request() {
    let n = Node::new("alpha", &base_config());
    n.start();
    let pid = n.pid("hasvrd").expect("hasvrd runs");
    // hamond would replace a hasvrd that stands still (within 5 s): stopped first, so that
    // this one hangs for as long as haadm waits.
    let hamond = n.pid("hamond").expect("hamond runs");
    let signal = |sig: &str, pid: u32| {
        std::process::Command::new("kill")
            .args([sig, &pid.to_string()])
            .status()
            .unwrap()
    };
    signal("-STOP", hamond);
    // A hasvrd that hangs (here: stopped) never takes the request.
    signal("-STOP", pid);
    let t = std::time::Instant::now();
    let r = n.haadm(&["status"]);
    signal("-CONT", pid);
    signal("-CONT", hamond);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains("did not take the request within 10s"),
        "{r:?}"
    );
    assert!(t.elapsed() < Duration::from_secs(20), "{:?}", t.elapsed());
    // And once it runs again, it answers.
    assert!(n.ok(&["status"]).contains("NODE alpha UP local"));
}

#[test]
fn uninstall_stops_the_node_and_keeps_etc_unless_purged() {
    let n = Node::new("alpha", &base_config());
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rc/uninstall");
    std::fs::copy(&script, n.path("bin/uninstall")).unwrap();
    n.start();
    let r = n.run("uninstall", &["--bogus"]);
    assert_eq!(r.code, 2, "{r:?}");
    let r = n.run("uninstall", &[]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("kept"), "{r:?}");
    assert!(n.processes().is_empty(), "the daemons still run");
    assert!(!n.path("bin").exists() && !n.path("tmp").exists());
    assert!(n.path("etc/sureha.conf").exists() && n.path("etc/authkey").exists());
    // --purge takes etc/ too (the script is run from elsewhere now: bin/ is gone).
    let r: Ran = std::process::Command::new("sh")
        .arg(&script)
        .arg("--purge")
        .env("HAHOME", n.path(""))
        .output()
        .unwrap()
        .into();
    assert_eq!(r.code, 0, "{r:?}");
    assert!(!n.path("etc").exists());
    // Not a SureHA home: refused.
    let r: Ran = std::process::Command::new("sh")
        .arg(&script)
        .env("HAHOME", "/tmp")
        .output()
        .unwrap()
        .into();
    assert_eq!(r.code, 1, "{r:?}");
}
