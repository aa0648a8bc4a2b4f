//! `haadm export pacemaker` (issue "Service types ... and the packaging of a real product"):
//! the exported CIB passes Pacemaker's own `crm_verify -x` for the demo's configuration and
//! for one with every service type, volumes, several addresses, a group and an OCF agent;
//! and `ocf:sureha:service`, which the CIB names, follows the OCF conventions.

use crate::harness::*;
use std::process::Command;

fn crm_verify(n: &Node, what: &str) {
    let r = n.haadm(&["export", "pacemaker"]);
    assert_eq!(r.code, 0, "{what}: {r:?}");
    let file = n.path("tmp/cib.xml");
    std::fs::write(&file, &r.stdout).unwrap();
    let out = Command::new("crm_verify")
        .arg("-V")
        .arg("-x")
        .arg(&file)
        .output()
        .expect("crm_verify (Debian's pacemaker-cli-utils) must be installed");
    let said =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && !said.contains("error:"),
        "{what}: crm_verify refuses the CIB:\n{said}\n{}",
        r.stdout
    );
}

#[test]
fn the_exported_cib_passes_crm_verify_for_the_demo_and_for_every_type() {
    let demo = Node::new("alpha", &ns_config("100ms", &web_service("")));
    crm_verify(&demo, "the demo");
    let mut every = base_config();
    for (name, ty, keys) in [
        ("files", "NFS", "path = /srv/nfs\nvolume = /dev/sdb1 /dev/sdc1 /srv/nfs\n"),
        ("ora", "ORACLE", "sid = ORCL\nusername = oracle\n"),
        ("syb", "SYBASE", "server_name = SYB\nusername = sybase\n"),
        ("ifx", "INFORMIX", "server_name = ifx1\nusername = informix\npath = /opt/informix\n"),
        ("web", "WWW", "path = /var/www\nactive_ip = 192.0.2.100~192.0.2.101\nactive_nic = eth0\nstandby_nic = eth1\n"),
        ("pg", "PGSQL", "path = /srv/pg\ngroupid = db\n"),
        ("my", "MYSQL", "path = /srv/my\ngroupid = db\n"),
        ("own", "USERDEF", "switchback = yes\n"),
        ("dummy", "USERDEF", "agent = ocf:heartbeat:Dummy\n"),
    ] {
        every.push_str(&format!(
            "\n[service {name}]\ntype = {ty}\nactive_server = alpha\nstandby_server = beta\nstart = {name}.start\nstop = {name}.stop\n{keys}"
        ));
    }
    let n = Node::new("alpha", &every);
    assert_eq!(n.haadm(&["check"]).code, 0, "{:?}", n.haadm(&["check"]));
    crm_verify(&n, "every type");
    let cib = n.haadm(&["export", "pacemaker"]).stdout;
    for part in [
        "type=\"Filesystem\"",
        "name=\"ip\" value=\"192.0.2.101\"",
        "provider=\"heartbeat\" type=\"Dummy\"",
        "provider=\"sureha\" type=\"service\"",
        "rsc=\"my-group\" with-rsc=\"pg-group\"",
    ] {
        assert!(cib.contains(part), "{part} missing:\n{cib}");
    }
    // Without a link there are no nodes to name: a clear refusal.
    let empty = Node::new("alpha", "");
    let r = empty.haadm(&["export", "pacemaker"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("create a link first"), "{r:?}");
}

#[test]
fn the_ocf_wrapper_runs_the_scripts_and_answers_with_ocf_codes() {
    let n = Node::new("alpha", &base_config());
    let agent = concat!(env!("CARGO_MANIFEST_DIR"), "/agents/ocf/service");
    let run = |action: &str| {
        Command::new(agent)
            .arg(action)
            .env("OCF_RESKEY_name", "web")
            .env("OCF_RESKEY_start", n.path("bin/demo-web.start"))
            .env("OCF_RESKEY_stop", n.path("bin/demo-web.stop"))
            .env("HA_RSCTMP", n.path("tmp"))
            .env("HAHOME", &n.home)
            .env("HANODE", "alpha")
            .output()
            .unwrap()
            .status
            .code()
    };
    assert_eq!(run("monitor"), Some(7), "not running yet");
    assert_eq!(run("validate-all"), Some(0));
    assert_eq!(run("start"), Some(0));
    assert_eq!(run("monitor"), Some(0));
    assert_eq!(run("stop"), Some(0));
    assert_eq!(run("monitor"), Some(7));
    assert_eq!(run("stop"), Some(0), "stopping what is stopped succeeds");
    let meta = Command::new(agent).arg("meta-data").output().unwrap();
    assert!(String::from_utf8_lossy(&meta.stdout).contains("<resource-agent name=\"service\""));
    let bad = Command::new(agent)
        .arg("start")
        .env("OCF_RESKEY_name", "web")
        .env("OCF_RESKEY_start", "/nonexistent")
        .env("OCF_RESKEY_stop", "/nonexistent")
        .env("HA_RSCTMP", n.path("tmp"))
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(5), "OCF_ERR_INSTALLED");

    // The monitor is the service's agent run once (exit 1: well, 0: not), with the
    // environment hasvrd would give it, built from the parameters alone.
    n.write_script(
        "probe.agent",
        "#!/bin/sh
[ \"$2\" = 0 ] && [ \"$HA_PATH\" = /srv/x ] && [ \"$HANODE\" = beta ] || exit 9
[ -f \"$HAHOME/tmp/well\" ] && exit 1
exit 0
",
    );
    let with_agent = |action: &str| {
        Command::new(agent)
            .arg(action)
            .env_clear()
            .env("OCF_RESKEY_name", "web")
            .env("OCF_RESKEY_start", "demo-web.start")
            .env("OCF_RESKEY_stop", "demo-web.stop")
            .env("OCF_RESKEY_agent", "probe.agent")
            .env("OCF_RESKEY_hahome", &n.home)
            .env("OCF_RESKEY_ha_path", "/srv/x")
            .env("OCF_RESKEY_CRM_meta_on_node", "beta")
            .env("HA_RSCTMP", n.path("tmp"))
            .output()
            .unwrap()
            .status
            .code()
    };
    assert_eq!(with_agent("start"), Some(0));
    assert_eq!(
        with_agent("monitor"),
        Some(1),
        "the agent says it is not well"
    );
    std::fs::write(n.path("tmp/well"), "").unwrap();
    assert_eq!(with_agent("monitor"), Some(0), "the agent says it is well");
    assert_eq!(with_agent("stop"), Some(0));
    assert_eq!(
        with_agent("monitor"),
        Some(7),
        "stopped: the agent is not asked"
    );
}
