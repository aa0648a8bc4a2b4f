//! The way up (issue 26): what `haadm export pacemaker` writes runs on a live Pacemaker.
//! Debian's pacemaker 2.1 and corosync 3 form a pair in the test's namespaces (alpha and
//! beta, each with a mount namespace of its own for Pacemaker's state, /run, /dev/shm, its
//! init scripts and its OCF agents), corosync over the private veth with a 1 s token, and no
//! SureHA daemon anywhere. The exported crm_config, resources and constraints are loaded
//! with `cibadmin --replace`, as the README says. Three services: a USERDEF with its own
//! agent, an LSB init script, and a WWW service (Debian's lighttpd) from the built-in type.
//! Each must start on its active server, come back after its process is killed (Pacemaker's
//! monitor is SureHA's agent), and move when that server crashes; a client in its own
//! namespace judges each through the service's floating address.

use crate::disk_rig::MountNs;
use crate::harness::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(60);

/// The three services: name, floating address, and whether the client speaks HTTP.
const SERVICES: [(&str, &str, bool); 3] = [
    ("own", "192.0.2.100", false),
    ("init", "192.0.2.101", false),
    ("web", "192.0.2.102", true),
];

fn config(docroot: &Path) -> String {
    let common = "active_server = alpha\nstandby_server = beta\nactive_nic = eth0\nstandby_nic = eth0\ncheck_interval = 1s\nstart_timeout = 20s\nrestart_times = 1\n";
    format!(
        "{}\n[service own]\n{common}active_ip = 192.0.2.100\nstart = own.start\nstop = own.stop\nagent = own.agent\n\n[service init]\ntype = LSB\n{common}active_ip = 192.0.2.101\nagent = lsb:hasvc\n\n[service web]\ntype = WWW\n{common}active_ip = 192.0.2.102\npath = {}\nha_port = 8080\n",
        ns_config("200ms", ""),
        docroot.display()
    )
}

/// A USERDEF service: a TCP server on its address that answers with the node's name.
const OWN_START: &str = "#!/bin/sh\nsetsid socat TCP-LISTEN:8080,bind=$HA_ACTIVE_IP,reuseaddr,fork SYSTEM:'echo $HANODE' </dev/null >/dev/null 2>&1 &\necho $! > /run/own.pid\nexit 0\n";
const OWN_STOP: &str = "#!/bin/sh\n[ -f /run/own.pid ] && kill $(cat /run/own.pid) 2>/dev/null\nrm -f /run/own.pid\nexit 0\n";
/// Its agent; Pacemaker runs only the one-shot form (exit 1: well).
const OWN_AGENT: &str =
    "#!/bin/sh\n[ -f /run/own.pid ] && kill -0 $(cat /run/own.pid) 2>/dev/null && exit 1\nexit 0\n";

/// The LSB init script, one copy a node (it names its node: an init script has no HANODE).
fn init_script(node: &str) -> String {
    format!(
        "#!/bin/sh\npid=/run/hasvc.pid\nrunning() {{ [ -f $pid ] && kill -0 $(cat $pid) 2>/dev/null; }}\ncase $1 in\nstart) running && exit 0\n  setsid socat TCP-LISTEN:8080,bind=192.0.2.101,reuseaddr,fork SYSTEM:'echo {node}' </dev/null >/dev/null 2>&1 &\n  echo $! > $pid; exit 0 ;;\nstop) running && kill $(cat $pid); rm -f $pid; exit 0 ;;\nstatus) running && exit 0; exit 3 ;;\n*) exit 3 ;;\nesac\n"
    )
}

fn sh(program: &str, args: &[&str]) -> std::process::Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} must be installed: {e}"))
}

/// One Pacemaker node: corosync and pacemakerd in the node's network namespace and a mount
/// namespace of its own.
struct PcmkNode {
    name: String,
    netns: String,
    mnt: MountNs,
    dir: PathBuf,
    daemons: Vec<Child>,
}

impl PcmkNode {
    fn new(name: &str, netns: &str, base: &Path) -> PcmkNode {
        let dir = base.join(name);
        fs::create_dir_all(dir.join("init.d")).unwrap();
        let node = PcmkNode {
            name: name.to_string(),
            netns: netns.to_string(),
            mnt: MountNs::new(&format!("pcmk-{name}")),
            dir,
            daemons: Vec::new(),
        };
        let script = node.dir.join("init.d/hasvc");
        fs::write(&script, init_script(name)).unwrap();
        sh("chmod", &["755", script.to_str().unwrap()]);
        fs::write(node.dir.join("corosync.conf"), corosync_conf(&node.dir)).unwrap();
        fs::write(node.dir.join("cib.xml"), SEED_CIB).unwrap();
        let agent = concat!(env!("CARGO_MANIFEST_DIR"), "/agents/ocf/service");
        let setup = format!(
            "set -e
mount -t tmpfs -o mode=755 none /run
mkdir -p /run/crm /run/resource-agents
chown hacluster:haclient /run/crm
mount -t tmpfs -o mode=1777 none /dev/shm
for d in /var/lib/pacemaker /var/lib/corosync /var/log/pacemaker; do mount -t tmpfs -o mode=755 none $d; done
mkdir -p /var/lib/pacemaker/cib /var/lib/pacemaker/pengine /var/lib/pacemaker/blackbox /var/lib/pacemaker/cores
install -m 600 {dir}/cib.xml /var/lib/pacemaker/cib/cib.xml
chown -R hacluster:haclient /var/lib/pacemaker /var/log/pacemaker
chmod 750 /var/lib/pacemaker/cib /var/lib/pacemaker/pengine
mount --bind {dir}/init.d /etc/init.d
mkdir -p {dir}/ocf/heartbeat {dir}/ocf/pacemaker {dir}/ocf/sureha
mount --bind /usr/lib/ocf/resource.d/heartbeat {dir}/ocf/heartbeat
mount --bind /usr/lib/ocf/resource.d/pacemaker {dir}/ocf/pacemaker
install -m 755 {agent} {dir}/ocf/sureha/service
mount --rbind {dir}/ocf /usr/lib/ocf/resource.d
",
            dir = node.dir.display()
        );
        let out = node.cmd("sh").args(["-c", &setup]).output().unwrap();
        assert!(
            out.status.success(),
            "{name}: setting up Pacemaker's namespace: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        node
    }

    /// A command inside the node (its network and mount namespaces).
    fn cmd(&self, program: &str) -> Command {
        let mut c = Command::new("nsenter");
        c.arg(format!("--net=/run/netns/{}", self.netns))
            .arg(format!("--mount={}", self.mnt.file.display()))
            .arg(program);
        c
    }

    fn run(&self, program: &str, args: &[&str]) -> String {
        let out = self.cmd(program).args(args).output().unwrap();
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr)
    }

    fn spawn(&mut self, program: &str, args: &[&str], log: &str) {
        let out = fs::File::create(self.dir.join(log)).unwrap();
        let child = self
            .cmd(program)
            .args(args)
            .env("PCMK_logfile", self.dir.join("pacemaker.log"))
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("{program}: {e}"));
        self.daemons.push(child);
    }

    fn start(&mut self) {
        let conf = self.dir.join("corosync.conf").display().to_string();
        self.spawn("corosync", &["-f", "-c", &conf], "corosync.out");
        let until = Instant::now() + Duration::from_secs(10);
        while !self.run("corosync-cfgtool", &["-s"]).contains("nodeid") {
            assert!(
                Instant::now() < until,
                "{}: corosync did not come up",
                self.name
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        self.spawn("pacemakerd", &[], "pacemakerd.out");
    }

    /// Every process of the node: what a power cut ends.
    fn pids(&self) -> Vec<String> {
        let out = sh("ip", &["netns", "pids", &self.netns]);
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .map(str::to_string)
            .collect()
    }

    /// Every process of the node killed at once (by pid), and its daemons reaped.
    fn kill_all(&mut self) {
        let pids = self.pids();
        if !pids.is_empty() {
            let mut args = vec!["-9"];
            args.extend(pids.iter().map(String::as_str));
            sh("kill", &args);
        }
        for c in &mut self.daemons {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The node loses power: every process dies at once and its NICs go dark.
    fn crash(&mut self) {
        self.kill_all();
        for dev in ["eth0", "priv0"] {
            sh("ip", &["-n", &self.netns, "link", "set", dev, "down"]);
        }
    }

    fn log_tail(&self) -> String {
        let log = fs::read_to_string(self.dir.join("pacemaker.log")).unwrap_or_default();
        let lines: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("error") || l.contains("warning") || l.contains("notice"))
            .collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for PcmkNode {
    fn drop(&mut self) {
        self.kill_all();
    }
}

fn corosync_conf(dir: &Path) -> String {
    format!(
        "totem {{
  version: 2
  cluster_name: sureha
  transport: knet
  token: 1000
  crypto_cipher: none
  crypto_hash: none
}}
nodelist {{
  node {{
    ring0_addr: 198.51.100.1
    name: alpha
    nodeid: 1
  }}
  node {{
    ring0_addr: 198.51.100.2
    name: beta
    nodeid: 2
  }}
}}
quorum {{
  provider: corosync_votequorum
  two_node: 1
}}
logging {{
  to_logfile: yes
  logfile: {}/corosync.log
  to_syslog: no
  to_stderr: no
}}
",
        dir.display()
    )
}

/// The empty CIB both nodes boot from: the DC is elected in seconds, not the default 20.
const SEED_CIB: &str = r#"<cib validate-with="pacemaker-3.0" crm_feature_set="3.0.14" epoch="1" num_updates="0" admin_epoch="0">
  <configuration>
    <crm_config>
      <cluster_property_set id="test-options">
        <nvpair id="test-dc-deadtime" name="dc-deadtime" value="2s"/>
      </cluster_property_set>
    </crm_config>
    <nodes/>
    <resources/>
    <constraints/>
  </configuration>
  <status/>
</cib>
"#;

/// Who answers on the service's address, from the client's namespace.
fn who(client: &str, ip: &str, http: bool) -> Option<String> {
    let script = if http {
        format!("printf 'GET / HTTP/1.0\\r\\n\\r\\n' | socat -T1 - TCP:{ip}:8080,connect-timeout=1")
    } else {
        format!("socat -T1 - TCP:{ip}:8080,connect-timeout=1 </dev/null")
    };
    let out = Command::new("ip")
        .args(["netns", "exec", client, "sh", "-c", &script])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    ["alpha", "beta"]
        .into_iter()
        .find(|n| text.lines().last().is_some_and(|l| l.trim() == *n))
        .map(str::to_string)
}

/// How long until the service answers from `node`, checked every 100 ms.
fn time_until(
    client: &str,
    svc: (&str, &str, bool),
    node: &str,
    since: Instant,
    tell: &PcmkNode,
) -> Duration {
    while since.elapsed() < LIMIT {
        if who(client, svc.1, svc.2).as_deref() == Some(node) {
            return since.elapsed();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "service {} did not answer from {node} through {} within {LIMIT:?}:\n{}\n{}",
        svc.0,
        svc.1,
        tell.run("crm_mon", &["-1", "--failcounts", "-r"]),
        tell.log_tail()
    );
}

/// The part `<tag>…</tag>` of the exported CIB.
fn section<'a>(cib: &'a str, tag: &str) -> &'a str {
    let from = cib.find(&format!("<{tag}>")).unwrap();
    let end = cib.find(&format!("</{tag}>")).unwrap() + tag.len() + 3;
    &cib[from..end]
}

#[test]
fn the_export_runs_on_a_live_pacemaker_pair_for_userdef_lsb_and_www() {
    let topo = Topology::new();
    let base = std::env::temp_dir().join(format!("sureha-pcmk-{}", std::process::id()));
    let docroot = base.join("www");
    let sureha = Node::new("alpha", &config(&docroot));
    sureha.write_script("own.start", OWN_START);
    sureha.write_script("own.stop", OWN_STOP);
    sureha.write_script("own.agent", OWN_AGENT);
    let check = sureha.haadm(&["check"]);
    assert_eq!(check.code, 0, "{check:?}");
    let cib = sureha.haadm(&["export", "pacemaker"]);
    assert_eq!(cib.code, 0, "{cib:?}");
    let mut alpha = PcmkNode::new("alpha", &topo.ns("a"), &base);
    let mut beta = PcmkNode::new("beta", &topo.ns("b"), &base);
    // The shared volume: one document root path, each node's own copy behind it, so the
    // page says who serves it.
    fs::create_dir_all(&docroot).unwrap();
    for n in [&alpha, &beta] {
        let own = n.dir.join("www");
        fs::create_dir_all(&own).unwrap();
        fs::write(own.join("index.html"), format!("{}\n", n.name)).unwrap();
        sh("chmod", &["-R", "a+rX", base.to_str().unwrap()]);
        let out = n
            .cmd("mount")
            .args(["--bind", own.to_str().unwrap(), docroot.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    }
    alpha.start();
    beta.start();
    let up = Instant::now();
    while up.elapsed() < LIMIT {
        let mon = alpha.run("crm_mon", &["-1"]);
        if mon.contains("Online: [ alpha beta ]") && mon.contains("partition with quorum") {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let mon = alpha.run("crm_mon", &["-1"]);
    assert!(
        mon.contains("Online: [ alpha beta ]"),
        "the Pacemaker pair did not form:\n{mon}\n{}",
        alpha.log_tail()
    );
    eprintln!("Pacemaker pair up in {:?}", up.elapsed());

    // As the README says: the export's settings, resources and constraints, replaced.
    let loaded = Instant::now();
    for tag in ["crm_config", "resources", "constraints"] {
        let out = alpha
            .cmd("cibadmin")
            .args([
                "--replace",
                "--scope",
                tag,
                "--xml-text",
                section(&cib.stdout, tag),
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "cibadmin --replace --scope {tag}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let client = topo.ns("c");
    let mut table = Vec::new();
    for svc in SERVICES {
        let t = time_until(&client, svc, "alpha", loaded, &alpha);
        table.push((svc.0, "start on alpha (from the CIB's load)", t));
    }

    // Each service's process dies: Pacemaker's monitor, SureHA's agent, must notice.
    let kills = [
        ("own", "kill -9 $(cat /run/own.pid)"),
        ("init", "kill -9 $(cat /run/hasvc.pid)"),
        ("web", "kill -9 $(cat /run/sureha-www/alpha/web.pid)"),
    ];
    for (svc, (name, kill)) in SERVICES.into_iter().zip(kills) {
        assert_eq!(svc.0, name);
        let out = alpha.cmd("sh").args(["-c", kill]).output().unwrap();
        assert!(out.status.success(), "{name}: {out:?}");
        let killed = Instant::now();
        // Dead now, as the client sees it; then served again.
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(
            who(&client, svc.1, svc.2),
            None,
            "{name} still answers after the kill"
        );
        let mut back = None;
        while killed.elapsed() < LIMIT && back.is_none() {
            back = who(&client, svc.1, svc.2);
            if back.is_none() {
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        let Some(node) = back else {
            let mon = alpha.run("crm_mon", &["-1", "--failcounts"]);
            panic!("{name}: its process was killed and nothing brought it back within {LIMIT:?}:\n{mon}\n{}", alpha.log_tail());
        };
        let how = if node == "alpha" {
            "monitor after a kill: restarted on alpha"
        } else {
            "monitor after a kill: moved to beta"
        };
        table.push((name, how, killed.elapsed()));
    }
    for (name, ..) in SERVICES {
        let rsc = format!("{name}-svc");
        let count = alpha.run("crm_failcount", &["--query", "-r", &rsc, "-N", "alpha"]);
        assert!(
            count.contains("value=1"),
            "{name}: Pacemaker recorded no failure of {rsc} on alpha: {count}"
        );
    }

    // alpha loses power.
    alpha.crash();
    let crashed = Instant::now();
    for svc in SERVICES {
        let t = time_until(&client, svc, "beta", crashed, &beta);
        table.push((svc.0, "crash of alpha: serving from beta", t));
    }
    eprintln!("\n| service | what | time |\n| --- | --- | --- |");
    for (svc, what, t) in &table {
        eprintln!("| {svc} | {what} | {:.1} s |", t.as_secs_f64());
    }
    drop(alpha);
    drop(beta);
    let _ = fs::remove_dir_all(&base);
}
