//! Alert programs (DESIGN §14) on real programs: what they are told, their timeout, a flood.

use crate::harness::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(20);

/// A directory of alert programs outside both nodes' homes (both nodes name the same
/// path), removed on drop.
struct Programs(PathBuf);

impl Programs {
    fn new(tag: &str) -> Programs {
        let d = std::env::temp_dir().join(format!("sureha-alerts-{}-{tag}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        Programs(d)
    }

    fn add(&self, name: &str, text: &str) -> String {
        let p = self.0.join(name);
        fs::write(&p, text).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
        p.display().to_string()
    }
}

impl Drop for Programs {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Appends what it is told to `$HAHOME/alerts`, one line a run.
const RECORD: &str = "#!/bin/sh\nprintf '%s|%s|%s|%s|%s\\n' \"$HA_ALERT_EVENT\" \"$HA_ALERT_NODE\" \"$HA_ALERT_SERVICE\" \"$HA_ALERT_TIME\" \"$HA_ALERT_DESC\" >> \"$HAHOME/alerts\"\necho told\n";

fn told(node: &Node) -> Vec<Vec<String>> {
    fs::read_to_string(node.path("alerts"))
        .unwrap_or_default()
        .lines()
        .map(|l| l.splitn(5, '|').map(str::to_string).collect())
        .collect()
}

fn is_iso_time(t: &str) -> bool {
    let b = t.as_bytes();
    b.len() == 24
        && b[4] == b'-'
        && b[10] == b'T'
        && b[19] == b'.'
        && b[23] == b'Z'
        && t.bytes()
            .enumerate()
            .all(|(i, c)| [4, 7, 10, 13, 16, 19, 23].contains(&i) || c.is_ascii_digit())
}

#[test]
fn a_crash_runs_the_alert_on_the_survivor_with_the_events_fields() {
    let programs = Programs::new("crash");
    let record = programs.add("record.sh", RECORD);
    let alert = format!("\n[alert record]\nprogram = {record}\nevents = node-down takeover\n");
    let c = NsCluster::new(&ns_config("100ms", &format!("{}{alert}", web_service(""))));
    c.start();
    c.alpha.ok(&["service", "bringin", "web"]);
    c.alpha.wait_state("web", "ACTIVE", T);
    let probe = Probe::start(&c.topo.ns("c"), Duration::from_millis(10));
    probe.wait_for("alpha", T);
    c.crash("alpha");
    probe.wait_for("beta", T);
    c.beta
        .wait_for("two alerts on beta", T, || told(&c.beta).len() >= 2);
    let runs = told(&c.beta);
    eprintln!("beta was told: {runs:#?}");
    let log = c.beta.log();
    let events: Vec<(&str, &str, &str)> = runs
        .iter()
        .map(|r| (r[0].as_str(), r[1].as_str(), r[2].as_str()))
        .collect();
    assert_eq!(
        events,
        [("node-down", "beta", ""), ("takeover", "beta", "web")]
    );
    for r in &runs {
        assert!(is_iso_time(&r[3]), "HA_ALERT_TIME {}", r[3]);
        assert!(
            log.lines().any(|l| l.ends_with(&r[4])),
            "HA_ALERT_DESC is the log line: {}",
            r[4]
        );
    }
    assert!(runs[1][4].contains("service web: taking it over: alpha is down"));
    c.beta.wait_for("the runs logged", T, || {
        c.beta.log().matches("alert record (").count() >= 4
    });
    let log = c.beta.log();
    assert!(
        log.contains("alert record (takeover, service web) says: told"),
        "{log}"
    );
    assert!(log.contains(&format!(
        "alert record (takeover, service web): {record} exited 0"
    )));
    assert!(told(&c.alpha).is_empty(), "alpha was down");
}

#[test]
fn a_hanging_alert_is_killed_at_its_timeout_with_its_whole_group() {
    let programs = Programs::new("hang");
    // The program and a child of its own hang; both record their pid.
    let hang = programs.add(
        "hang.sh",
        "#!/bin/sh\necho $$ >> \"$HAHOME/hung\"\nsleep 300 &\necho $! >> \"$HAHOME/hung\"\nwait\n",
    );
    let alert = format!("\n[alert hang]\nprogram = {hang}\nevents = lock\ntimeout = 1s\n");
    let c = Cluster::new(&format!("{}{alert}", base_config()));
    c.start();
    let t0 = Instant::now();
    c.alpha.ok(&["lock"]);
    c.alpha.wait_for("the alert to run", T, || {
        fs::read_to_string(c.alpha.path("hung")).is_ok_and(|t| t.lines().count() == 2)
    });
    c.alpha
        .wait_for("the kill", T, || c.alpha.log().contains("did not finish"));
    let took = t0.elapsed();
    let pids: Vec<u32> = fs::read_to_string(c.alpha.path("hung"))
        .unwrap()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    c.alpha
        .wait_for("the group to die", Duration::from_secs(5), || {
            pids.iter()
                .all(|p| !Path::new(&format!("/proc/{p}")).exists())
        });
    assert!(
        c.alpha.log().contains(&format!(
            "alert hang (lock): {hang} did not finish within its timeout (1s); its process group was killed"
        )),
        "{}",
        c.alpha.log()
    );
    eprintln!("a hanging alert (timeout 1s) was killed {took:?} after the lock");
    assert!(took < Duration::from_secs(5), "{took:?}");
    // The lock itself was not held up by it: both nodes have it.
    assert!(c.beta.ok(&["status"]).contains("LOCKED"));
    assert!(
        !c.beta.log().contains("alert hang"),
        "a lock is told on the node where it was taken"
    );
}

#[test]
fn a_flood_of_events_runs_a_few_programs_at_a_time_and_drops_the_excess() {
    let programs = Programs::new("flood");
    // Each run marks itself running, notes how many run with it, and lasts half a second.
    let slow = programs.add(
        "slow.sh",
        "#!/bin/sh\nd=\"$HAHOME/running\"\nmkdir -p \"$d\"\ntouch \"$d/$$\"\nls \"$d\" | wc -l >> \"$HAHOME/together\"\nsleep 0.5\nrm -f \"$d/$$\"\n",
    );
    let alert = format!("\n[alert slow]\nprogram = {slow}\nevents = lock\n");
    let c = Cluster::new(&format!("{}{alert}", base_config()));
    c.start();
    let t0 = Instant::now();
    let mut changes = 0;
    // More than the 512 runs that may wait.
    while changes < 640 && t0.elapsed() < Duration::from_secs(60) {
        c.alpha.ok(&["lock"]);
        c.alpha.ok(&["unlock"]);
        changes += 2;
    }
    eprintln!("{changes} lock changes in {:?}", t0.elapsed());
    c.alpha.wait_for("the drop to be said", T, || {
        c.alpha.log().contains("dropped")
    });
    let log = c.alpha.log();
    let dropped: u64 = log
        .lines()
        .filter_map(|l| {
            l.split("alerts: ")
                .nth(1)?
                .split(' ')
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum();
    let together: Vec<usize> = fs::read_to_string(c.alpha.path("together"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    let most = together.iter().copied().max().unwrap_or(0);
    eprintln!(
        "{} runs started so far, {dropped} dropped, at most {most} at once",
        together.len()
    );
    assert!(most <= 3, "at most 3 alert programs at once: {together:?}");
    assert!(dropped > 0, "{log}");
    // The loop stayed responsive throughout: status answers at once.
    let t1 = Instant::now();
    c.alpha.ok(&["status"]);
    assert!(t1.elapsed() < Duration::from_secs(2));
}

#[test]
fn check_refuses_an_alert_whose_program_is_missing() {
    let programs = Programs::new("check");
    let record = programs.add("record.sh", RECORD);
    let missing = programs.0.join("gone.sh").display().to_string();
    let plain = programs.0.join("plain.sh");
    fs::write(&plain, "#!/bin/sh\n").unwrap();
    let text = format!(
        "{}\n[alert ok]\nprogram = {record}\n[alert gone]\nprogram = {missing}\n[alert plain]\nprogram = {}\n",
        base_config(),
        plain.display()
    );
    let c = Cluster::new(&text);
    let r = c.alpha.haadm(&["check"]);
    assert_ne!(r.code, 0, "{r:?}");
    let conf = c.alpha.path("etc/sureha.conf").display().to_string();
    assert!(
        r.stderr.contains(&format!(
            "{conf}:13: [alert gone]: program {missing}: does not exist"
        )),
        "{r:?}"
    );
    assert!(
        r.stderr.contains(&format!(
            "{conf}:15: [alert plain]: program {}: is not executable",
            plain.display()
        )),
        "{r:?}"
    );
}

/// Runs a shipped sample with an event's environment (and `extra`), PATH first through
/// `path_first`.
fn run_sample(name: &str, path_first: &Path, extra: &[(&str, String)]) -> Ran {
    let mut c = std::process::Command::new(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("agents/alerts")
            .join(name),
    );
    c.env_clear()
        .env(
            "PATH",
            format!("{}:/usr/sbin:/usr/bin:/sbin:/bin", path_first.display()),
        )
        .env("HA_ALERT_EVENT", "takeover")
        .env("HA_ALERT_NODE", "beta")
        .env("HA_ALERT_SERVICE", "web")
        .env("HA_ALERT_TIME", "2026-12-07T13:37:35.059Z")
        .env(
            "HA_ALERT_DESC",
            "service web: taking it over: alpha is \"down\"",
        );
    for (k, v) in extra {
        c.env(k, v);
    }
    c.output().unwrap().into()
}

#[test]
fn the_shipped_samples_carry_the_event_to_syslog_a_file_mail_and_a_webhook() {
    let programs = Programs::new("samples");
    let dir = &programs.0;
    // Stand-ins that record what they were given: logger and sendmail.
    programs.add(
        "logger",
        "#!/bin/sh\necho \"$@\" > \"$(dirname \"$0\")/logger.out\"\n",
    );
    let sendmail = programs.add(
        "sendmail",
        "#!/bin/sh\n{ echo \"ARGS $*\"; cat; } > \"$(dirname \"$0\")/mail.out\"\n",
    );

    let r = run_sample("alert_syslog.sh", dir, &[]);
    assert_eq!(r.code, 0, "{r:?}");
    let said = fs::read_to_string(dir.join("logger.out")).unwrap();
    assert_eq!(
        said.trim(),
        "-t sureha -p daemon.warning -- takeover on beta (web): service web: taking it over: alpha is \"down\""
    );

    let file = dir.join("alerts.log");
    let r = run_sample(
        "alert_file.sh",
        dir,
        &[("HA_ALERT_FILE", file.display().to_string())],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        fs::read_to_string(&file).unwrap(),
        "2026-12-07T13:37:35.059Z beta takeover web service web: taking it over: alpha is \"down\"\n"
    );

    let r = run_sample(
        "alert_mail.sh",
        dir,
        &[
            ("HA_ALERT_SENDMAIL", sendmail),
            ("HA_ALERT_MAIL_TO", "ops@example.org".into()),
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    let mail = fs::read_to_string(dir.join("mail.out")).unwrap();
    assert!(mail.starts_with("ARGS -t -f sureha@"), "{mail}");
    assert!(
        mail.contains("To: ops@example.org\nSubject: [SureHA] takeover on beta: web\n"),
        "{mail}"
    );
    assert!(
        mail.contains("\nservice web: taking it over: alpha is \"down\"\n"),
        "{mail}"
    );

    // The webhook: one request to a listener on loopback.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let server = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = s.read(&mut buf) {
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&got);
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let len = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length: ")
                            .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                    })
                    .unwrap_or(0);
                if body.len() >= len {
                    break;
                }
            }
        }
        let _ = s.write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
        String::from_utf8_lossy(&got).into_owned()
    });
    let r = run_sample("alert_webhook.sh", dir, &[("HA_ALERT_WEBHOOK_URL", url)]);
    let request = server.join().unwrap();
    assert_eq!(r.code, 0, "{r:?}");
    assert!(request.starts_with("POST /hook HTTP/1.1\r\n"), "{request}");
    assert!(
        request.ends_with("{\"event\":\"takeover\",\"node\":\"beta\",\"service\":\"web\",\"time\":\"2026-12-07T13:37:35.059Z\",\"description\":\"service web: taking it over: alpha is \\\"down\\\"\"}"),
        "{request}"
    );
}
