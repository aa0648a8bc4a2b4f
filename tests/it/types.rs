//! Service types that SureHA runs itself (DESIGN §12): an OCF resource agent (Debian's
//! `ocf:heartbeat:Dummy`), an LSB init script, and a WWW service (Debian's lighttpd serving
//! from the shared volume), each brought in, checked where it runs (and from the client
//! through the floating address), then the active node crashed and checked again on the
//! other node. PGSQL is `postgres.rs`.

use crate::disk_rig::*;
use crate::harness::*;
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

fn service(name: &str, body: &str) -> String {
    format!("\n[service {name}]\nactive_server = alpha\nstandby_server = beta\nactive_nic = eth0\nstandby_nic = eth0\nactive_ip = {VIP}\ncheck_interval = 1s\nstart_timeout = 20s\n{body}")
}

#[test]
fn an_ocf_agent_runs_the_service_and_moves_with_it() {
    let c = NsCluster::new(&ns_config(
        "200ms",
        &service(
            "dummy",
            "type = ocf\nagent = ocf:heartbeat:Dummy\nha_fake = moved\n",
        ),
    ));
    // Each node's agent state, as the adapter keeps it: /run/sureha-ocf/NODE.
    let state =
        |node: &str| std::path::PathBuf::from(format!("/run/sureha-ocf/{node}/Dummy-dummy.state"));
    for n in ["alpha", "beta"] {
        let _ = std::fs::remove_file(state(n));
    }
    c.start();
    assert_eq!(c.alpha.haadm(&["check"]).code, 0);
    c.alpha.ok(&["service", "bringin", "dummy"]);
    c.alpha.wait_state("dummy", "ACTIVE", T);
    c.beta.wait_state("dummy", "STANDBY", T);
    // ACTIVE is said from the start on; the start action itself may still run.
    c.alpha
        .wait_for("Dummy started on alpha", T, || state("alpha").exists());
    assert!(!state("beta").exists(), "and not on beta");
    // The agent's monitor reports: no failure for a few check intervals.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(c.alpha.state("dummy"), "ACTIVE", "{}", c.alpha.log());
    c.crash("alpha");
    c.beta.wait_for("the takeover", T, || {
        c.beta.state("dummy").starts_with("ACTIVE")
    });
    c.beta
        .wait_for("Dummy started on beta", T, || state("beta").exists());
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        c.beta.state("dummy").starts_with("ACTIVE"),
        "{}",
        c.beta.log()
    );
    // A monitor failure (the state file gone, as if the resource died) is a failure.
    std::fs::remove_file(state("beta")).unwrap();
    c.beta.wait_for("the failure seen", T, || {
        c.beta.log().contains("service dummy") && c.beta.state("dummy").starts_with("ERROR")
    });
    for n in ["alpha", "beta"] {
        let _ = std::fs::remove_file(state(n));
    }
}

#[test]
fn ha_keys_reach_the_ocf_agent_as_its_parameters_and_exit_codes_are_kept() {
    let n = Node::new("alpha", &base_config());
    let dir = n.path("tmp/ocf-param");
    std::fs::create_dir_all(&dir).unwrap();
    let run = |script: &str, agent: &str| {
        std::process::Command::new(n.path(&format!("bin/{script}")))
            .arg("p")
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("HAHOME", &n.home)
            .env("HANODE", "alpha-param-test")
            .env("HA_AGENT", agent)
            .env("HA_HA_STATE", dir.join("dummy.state"))
            .output()
            .unwrap()
    };
    let r = run("ocf_start.sh", "ocf:heartbeat:Dummy");
    assert!(r.status.success(), "{r:?}");
    assert!(
        dir.join("dummy.state").exists(),
        "OCF_RESKEY_state came from ha_state"
    );
    assert!(run("ocf_stop.sh", "ocf:heartbeat:Dummy").status.success());
    assert!(!dir.join("dummy.state").exists());
    let r = run("ocf_start.sh", "ocf:heartbeat:NoSuchAgent");
    assert_eq!(r.status.code(), Some(5), "not installed: {r:?}");
    assert!(String::from_utf8_lossy(&r.stderr).contains("resource-agents"));
    let _ = std::fs::remove_dir_all("/run/sureha-ocf/alpha-param-test");
    // At create: the agent must be installed, describe itself, and get what it requires.
    let create = |agent: &str, extra: &[&str]| {
        let mut w = vec![
            "service",
            "create",
            "x",
            "type=OCF",
            agent,
            "active_server=alpha",
            "standby_server=beta",
        ];
        w.extend_from_slice(extra);
        n.haadm(&w)
    };
    let r = create("agent=ocf:heartbeat:NoSuchAgent", &[]);
    assert!(r.code == 1 && r.stderr.contains("cannot run"), "{r:?}");
    // A description bigger than a pipe holds is read whole, not waited out.
    let root = n.path("tmp/ocf-root");
    let agent_dir = root.join("resource.d/test");
    std::fs::create_dir_all(&agent_dir).unwrap();
    let big = agent_dir.join("Big");
    std::fs::write(&big, "#!/bin/sh\necho '<resource-agent name=\"Big\"><parameters>'\ni=0\nwhile [ $i -lt 4000 ]; do echo \"<!-- padding line $i of a long description, long enough -->\"; i=$((i+1)); done\necho '<parameter name=\"size\" required=\"1\"></parameter></parameters></resource-agent>'\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&big, std::fs::Permissions::from_mode(0o755)).unwrap();
    let root_key = format!("ha_ocf_root={}", root.display());
    let r = create("agent=ocf:test:Big", &[&root_key]);
    assert!(
        r.code == 1 && r.stderr.contains("requires size: give ha_size=..."),
        "{r:?}"
    );
    let r = create("agent=ocf:heartbeat:IPaddr2", &[]);
    assert!(
        r.code == 1 && r.stderr.contains("requires ip: give ha_ip=..."),
        "{r:?}"
    );
}

/// An init script of the usual kind: a daemon (socat answering its node's name on 8080),
/// its pid file, start, stop and status with the LSB exit codes.
const INIT: &str = r#"#!/bin/sh
PIDFILE=/run/sureha-lsb-test-$HANODE.pid
running() { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }
case "$1" in
start)
    running && exit 0
    socat TCP-LISTEN:8080,reuseaddr,fork "SYSTEM:echo $HANODE" </dev/null >/dev/null 2>&1 &
    echo $! > "$PIDFILE"
    exit 0 ;;
stop)
    running && kill "$(cat "$PIDFILE")"
    rm -f "$PIDFILE"
    exit 0 ;;
status)
    running && exit 0
    exit 3 ;;
*) exit 2 ;;
esac
"#;

#[test]
fn an_lsb_init_script_runs_the_service_and_the_client_follows_it() {
    let initd = std::env::temp_dir().join(format!("sureha-initd-{}", std::process::id()));
    std::fs::create_dir_all(&initd).unwrap();
    let script = initd.join("echod");
    std::fs::write(&script, INIT).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let c = NsCluster::new(&ns_config(
        "200ms",
        &service(
            "echo",
            &format!(
                "type = lsb\nagent = lsb:echod\nha_initdir = {}\n",
                initd.display()
            ),
        ),
    ));
    c.start();
    let probe = Probe::start(&c.topo.ns("c"), Duration::from_millis(50));
    c.alpha.ok(&["service", "bringin", "echo"]);
    c.alpha.wait_state("echo", "ACTIVE", T);
    probe.wait_for("alpha", T);
    c.crash("alpha");
    c.beta.wait_for("the takeover", T, || {
        c.beta.state("echo").starts_with("ACTIVE")
    });
    probe.wait_for("beta", T);
    // The daemon dies: status says 3, the agent reports it, the service is in error there.
    let pid: i32 = std::fs::read_to_string("/run/sureha-lsb-test-beta.pid")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let _ = sureha::sys::kill(pid as u32, libc::SIGKILL);
    c.beta.wait_for("the failure seen", T, || {
        c.beta.state("echo").starts_with("ERROR")
    });
    drop(probe);
    c.beta.haadm(&["service", "bringout", "echo"]);
    let _ = std::fs::remove_dir_all(&initd);
    for n in ["alpha", "beta"] {
        let _ = std::fs::remove_file(format!("/run/sureha-lsb-test-{n}.pid"));
    }
}

/// The shared-volume service `db` brought in on alpha, then alpha crashed: on each node in
/// turn, the client is served (`serves`), the shipped scripts and `agent` run, and the agent
/// keeps the service ACTIVE for a few checks.
fn served_before_and_after_a_crash(
    c: &DiskCluster,
    family: &str,
    what: &str,
    serves: impl Fn() -> bool,
) {
    let long = Duration::from_secs(60);
    c.alpha.ok(&["service", "bringin", "db"]);
    c.wait_words("db", "ACTIVE", "STANDBY", long);
    for node in [&c.alpha, &c.beta] {
        if node.name == "beta" {
            c.crash_node("alpha");
            node.wait_for("the takeover", long, || {
                node.state("db").starts_with("ACTIVE")
            });
        }
        node.wait_for(&format!("{what}, from {}", node.name), long, &serves);
        // The agent starts once the start script is done.
        node.wait_for("the shipped scripts and agent", T, || {
            let log = node.log();
            log.contains(&format!("{family}_start.sh db"))
                && log.contains(&format!("ha_ag_{family}.sh"))
        });
        std::thread::sleep(Duration::from_secs(3));
        assert!(node.state("db").starts_with("ACTIVE"), "{}", node.log());
    }
}

/// Whether a GET of `/` through the floating address, from the client's namespace, gets 200
/// with `what` in the page.
fn served(client_ns: &str, what: &str) -> bool {
    let to = format!("{VIP}:8080").parse().unwrap();
    crate::webdriver::try_http_to(client_ns, to, Duration::from_secs(5), "GET", "/", &[], "")
        .is_ok_and(|(status, _, body)| status == 200 && body.contains(what))
}

#[test]
fn a_www_service_serves_from_the_shared_volume_on_either_node() {
    let c = DiskCluster::new(
        "200ms",
        &format!("type = WWW\npath = @MOUNT@/www\nha_port = 8080\nactive_nic = eth0\nstandby_nic = eth0\nactive_ip = {VIP}\ncheck_interval = 1s\nstart_timeout = 20s\n"),
    );
    c.rig.with_volume(|v| {
        std::fs::create_dir_all(format!("{v}/www")).unwrap();
        std::fs::write(
            format!("{v}/www/index.html"),
            "served from the shared volume\n",
        )
        .unwrap();
    });
    c.start_all();
    let client = c.topo.ns("c");
    served_before_and_after_a_crash(&c, "www", "the page through the floating address", || {
        served(&client, "served from the shared volume")
    });
    // The server dies: the agent's GET fails, and the service does not stay up there.
    let pid: u32 = std::fs::read_to_string("/run/sureha-www/beta/db.pid")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let _ = sureha::sys::kill(pid, libc::SIGKILL);
    c.beta.wait_for("the failure seen", T, || {
        c.beta.state("db").starts_with("ERROR")
    });
    // Only this test's files: other pairs of this run (the chaos run's) use these
    // directories too, under their own services' names.
    for node in ["alpha", "beta"] {
        for f in ["db.conf", "db.pid", "db.error.log"] {
            let _ = std::fs::remove_file(format!("/run/sureha-www/{node}/{f}"));
        }
    }
}

/// The first bytes a server sends on a new connection to the floating address, from the
/// client's namespace (a database's greeting).
fn greeting(client_ns: &str, port: u16) -> String {
    let ns = std::path::PathBuf::from(format!("/run/netns/{client_ns}"));
    std::thread::scope(|s| {
        s.spawn(|| {
            use std::io::Read;
            if sureha::sys::enter_netns(&ns).is_err() {
                return String::new();
            }
            let addr: std::net::SocketAddr = format!("{VIP}:{port}").parse().unwrap();
            let Ok(mut c) = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2))
            else {
                return String::new();
            };
            let _ = c.set_read_timeout(Some(Duration::from_secs(3)));
            let mut buf = [0u8; 512];
            let n = c.read(&mut buf).unwrap_or(0);
            String::from_utf8_lossy(&buf[..n]).to_string()
        })
        .join()
        .unwrap()
    })
}

#[test]
fn a_mysql_service_runs_mariadb_on_the_shared_volume_on_either_node() {
    let c = DiskCluster::new(
        "200ms",
        &format!("type = MYSQL\npath = @MOUNT@/mydata\nactive_nic = eth0\nstandby_nic = eth0\nactive_ip = {VIP}\ncheck_interval = 1s\nstart_timeout = 60s\n"),
    );
    c.rig.with_volume(|v| {
        let out = std::process::Command::new("mariadb-install-db")
            .args([
                "--no-defaults",
                "--user=mysql",
                "--auth-root-authentication-method=socket",
            ])
            .arg(format!("--datadir={v}/mydata"))
            .output()
            .expect("mariadb-install-db (Debian's mariadb-server) must be installed");
        assert!(out.status.success(), "{out:?}");
    });
    c.start_all();
    let client = c.topo.ns("c");
    served_before_and_after_a_crash(
        &c,
        "mysql",
        "MariaDB's greeting through the floating address",
        || greeting(&client, 3306).contains("MariaDB"),
    );
    c.beta.ok(&["service", "bringout", "db"]);
    let _ = std::fs::remove_dir_all("/run/sureha-mysql/alpha");
    let _ = std::fs::remove_dir_all("/run/sureha-mysql/beta");
}

/// A file read over NFS from the client's namespace (libnfs's nfs-cat, NFSv4).
fn nfs_cat(client_ns: &str, path: &str) -> String {
    let out = std::process::Command::new("ip")
        .args(["netns", "exec", client_ns, "timeout", "10", "nfs-cat"])
        .arg(format!("nfs://{VIP}{path}?version=4"))
        .output()
        .expect("nfs-cat (Debian's libnfs-utils) must be installed");
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[test]
fn an_nfs_service_exports_the_shared_volume_from_either_node() {
    // The kernel here has no NFS server: the scripts run the user-space nfs-ganesha.
    let c = DiskCluster::new(
        "200ms",
        &format!("type = NFS\npath = @MOUNT@/export\nactive_nic = eth0\nstandby_nic = eth0\nactive_ip = {VIP}\ncheck_interval = 2s\nstart_timeout = 40s\n"),
    );
    let export = format!("{}/export", c.rig.mount_point);
    c.rig.with_volume(|v| {
        std::fs::create_dir_all(format!("{v}/export")).unwrap();
        std::fs::write(
            format!("{v}/export/hello.txt"),
            "exported from the shared volume\n",
        )
        .unwrap();
    });
    c.start_all();
    let client = c.topo.ns("c");
    let file = format!("{export}/hello.txt");
    served_before_and_after_a_crash(&c, "nfs", "the file over NFS", || {
        nfs_cat(&client, &file).contains("exported from the shared volume")
    });
    c.beta.ok(&["service", "bringout", "db"]);
    let _ = std::fs::remove_dir_all("/run/sureha-nfs/alpha");
    let _ = std::fs::remove_dir_all("/run/sureha-nfs/beta");
}

#[test]
fn a_real_ocf_agent_runs_postgresql_on_the_shared_volume() {
    // Debian's ocf:heartbeat:pgsql, its parameters given as ha_ keys (pghost is where the
    // agent has PostgreSQL listen and its monitor connect: the floating address).
    let bin = crate::postgres::pg_bin();
    let c = DiskCluster::new(
        "200ms",
        &format!("type = OCF\nagent = ocf:heartbeat:pgsql\nha_pgctl = {bin}/pg_ctl\nha_psql = {bin}/psql\nha_pgdata = @MOUNT@/pgdata\nha_pghost = {VIP}\nactive_nic = eth0\nstandby_nic = eth0\nactive_ip = {VIP}\ncheck_interval = 2s\nstart_timeout = 60s\n"),
    );
    crate::postgres::prepare_database(&c.rig, &bin);
    c.start_all();
    let client = c.topo.ns("c");
    let query = || {
        std::process::Command::new("ip")
            .args([
                "netns",
                "exec",
                &client,
                "psql",
                "-h",
                VIP,
                "-U",
                "postgres",
                "-Atqc",
                "select 41 + 1",
            ])
            .env("PGCONNECT_TIMEOUT", "2")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "42")
    };
    served_before_and_after_a_crash(&c, "ocf", "a query through the floating address", query);
    c.beta.ok(&["service", "bringout", "db"]);
}

/// Found by the chaos run (seed 1001): a server killed with its node left its pid file; the
/// number it named was since given to another process, so the WWW start script took the
/// server for running and started nothing (the agent then failed it on both nodes), and
/// the stop script would have killed that other process. A pid file now counts only when it
/// names the program it belongs to.
#[test]
fn a_stale_pid_file_naming_another_process_is_not_the_server() {
    let n = Node::new("alpha", &base_config());
    let mut other = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    let file = n.path("tmp/server.pid");
    std::fs::write(&file, format!("{}\n", other.id())).unwrap();
    let lib = n.path("bin/shipped_lib.sh");
    let sh = |body: &str| {
        std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(". '{}'; {body}", lib.display()))
            .env("F", &file)
            .status()
            .unwrap()
            .success()
    };
    assert!(sh("pid_alive \"$F\""), "without a name: any process");
    assert!(!sh("pid_alive \"$F\" lighttpd"), "not lighttpd");
    assert!(sh("pid_alive \"$F\" sleep"), "the program named");
    assert!(sh("stop_pidfile \"$F\" lighttpd"));
    assert!(!file.exists(), "the stale file is gone");
    assert!(
        other.try_wait().unwrap().is_none(),
        "and the other process lives"
    );
    let _ = other.kill();
    let _ = other.wait();
}
