//! `haadm metrics` and the console's `/metrics` (DESIGN §14), checked with promtool.

use crate::harness::*;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(20);

/// `promtool check metrics` on the text: its verdict (empty: clean) and status.
fn promtool(text: &str) -> (bool, String) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian's prometheus package) must be installed");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// The value of the sample whose name and labels start with `prefix`.
fn value(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| match v {
            "+Inf" => Some(f64::INFINITY),
            v => v.parse().ok(),
        })
}

fn metrics(node: &Node) -> String {
    let text = node.ok(&["metrics"]);
    let (ok, verdict) = promtool(&text);
    assert!(
        ok && verdict.trim().is_empty(),
        "promtool: {verdict}\n{text}"
    );
    text
}

fn wait_status(node: &Node, line: &str, limit: Duration) {
    node.wait_for(line, limit, || {
        node.haadm(&["status"]).stdout.contains(line)
    });
}

/// A program of the system (or ours, by path) in the node's namespace, as the node.
fn in_netns(node: &Node, program: &str) -> Command {
    let mut c = Command::new("nsenter");
    c.arg(format!("--net=/run/netns/{}", node.netns.as_ref().unwrap()))
        .arg(program)
        .env("HAHOME", node.path(""))
        .env("HANODE", "alpha");
    c
}

struct Console(std::process::Child);

impl Drop for Console {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn metrics_show_states_moves_links_lock_licenses_and_drills_and_pass_promtool() {
    let c = NsCluster::new(&ns_config(
        "100ms",
        &format!(
            "{}\n[alert log]\nprogram = /bin/true\nevents = lock\n",
            web_service("")
        ),
    ));
    c.start();
    c.alpha.ok(&["service", "bringin", "web"]);
    c.alpha.wait_state("web", "ACTIVE", T);
    wait_status(&c.alpha, "READY web beta yes", T);
    let drill = c.alpha.ok(&["drill", "web", &format!("{VIP}:8080")]);
    assert!(drill.contains("where it began"), "{drill}");
    c.alpha.ok(&["license", "beta", "B-1", "never", "KEY"]);
    c.alpha.ok(&["lock"]);

    // A link process reports its counters with a frame it passes up (at most twice a second),
    // and at rest every `link::RX_EVERY`.
    let limit = sureha::link::RX_EVERY + Duration::from_secs(10);
    c.alpha.wait_for("frames counted", limit, || {
        value(
            &metrics(&c.alpha),
            "sureha_link_frames_received_total{node=\"alpha\",link=\"priv\"}",
        )
        .is_some_and(|v| v > 0.0)
    });
    let text = metrics(&c.alpha);
    println!("{text}");
    for (sample, want) in [
        ("sureha_hasvrd_up{node=\"alpha\"}", 1.0),
        (
            "sureha_peer_status{node=\"alpha\",peer=\"beta\",status=\"UP\"}",
            1.0,
        ),
        (
            "sureha_peer_status{node=\"alpha\",peer=\"beta\",status=\"DOWN\"}",
            0.0,
        ),
        (
            "sureha_link_up{node=\"alpha\",link=\"priv\",type=\"socket\"}",
            1.0,
        ),
        (
            "sureha_service_state{service=\"web\",node=\"alpha\",state=\"ACTIVE\"}",
            1.0,
        ),
        (
            "sureha_service_state{service=\"web\",node=\"beta\",state=\"STANDBY\"}",
            1.0,
        ),
        (
            "sureha_service_running{service=\"web\",node=\"alpha\"}",
            1.0,
        ),
        ("sureha_service_ready{service=\"web\",node=\"beta\"}", 1.0),
        // Brought in, then the drill's move back: two starts here, one stop.
        (
            "sureha_service_moves_total{service=\"web\",node=\"alpha\",direction=\"in\"}",
            2.0,
        ),
        (
            "sureha_service_moves_total{service=\"web\",node=\"alpha\",direction=\"out\"}",
            1.0,
        ),
        ("sureha_admin_locked{node=\"alpha\"}", 1.0),
        ("sureha_license_valid{node=\"alpha\",host=\"alpha\"}", 0.0),
        ("sureha_license_valid{node=\"alpha\",host=\"beta\"}", 1.0),
        (
            "sureha_license_expiry_timestamp_seconds{node=\"alpha\",host=\"beta\"}",
            f64::INFINITY,
        ),
        ("sureha_alert_runs_total{node=\"alpha\"}", 1.0),
        ("sureha_config_generation{node=\"alpha\"}", 1.0),
    ] {
        assert_eq!(value(&text, sample), Some(want), "{sample}\n{text}");
    }
    // A phase of the last move is there; in-process addresses may take under a millisecond.
    let phase = "sureha_service_last_move_phase_seconds{service=\"web\",node=\"alpha\",direction=\"in\",phase=\"addresses on\"}";
    assert!(
        value(&text, phase).is_some_and(|v| v >= 0.0),
        "{phase}\n{text}"
    );
    for positive in [
        "sureha_link_frames_received_total{node=\"alpha\",link=\"priv\"}",
        "sureha_process_uptime_seconds{node=\"alpha\",program=\"hasvrd\",link=\"\"}",
        "sureha_process_uptime_seconds{node=\"alpha\",program=\"hamond\",link=\"\"}",
        "sureha_process_uptime_seconds{node=\"alpha\",program=\"hahb-sock\",link=\"priv\"}",
        "sureha_drill_timestamp_seconds{service=\"web\",node=\"alpha\"}",
    ] {
        assert!(
            value(&text, positive).is_some_and(|v| v > 0.0),
            "{positive}\n{text}"
        );
    }
    for leg in ["away", "back"] {
        let outage = value(
            &text,
            &format!(
                "sureha_drill_outage_seconds{{service=\"web\",node=\"alpha\",move=\"{leg}\"}}"
            ),
        );
        assert!(
            outage.is_some_and(|o| (0.0..5.0).contains(&o)),
            "{leg}: {outage:?}"
        );
    }
    assert_eq!(
        value(
            &text,
            "sureha_link_frames_refused_total{node=\"alpha\",link=\"priv\",reason=\"tag\"}"
        ),
        Some(0.0)
    );

    // The console on this node's loopback serves the same.
    let console = Console(
        in_netns(&c.alpha, env!("CARGO_BIN_EXE_haconsole"))
            .args(["-g", concat!(env!("CARGO_MANIFEST_DIR"), "/gui")])
            .args(["-l", "127.0.0.1:27014"])
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let began = Instant::now();
    let scraped = loop {
        let out: Ran = in_netns(&c.alpha, "curl")
            .args(["-fsS", "http://127.0.0.1:27014/metrics"])
            .output()
            .unwrap()
            .into();
        if out.code == 0 {
            break out.stdout;
        }
        assert!(began.elapsed() < T, "the console's /metrics: {out:?}");
        std::thread::sleep(Duration::from_millis(100));
    };
    drop(console);
    let (ok, verdict) = promtool(&scraped);
    assert!(ok && verdict.trim().is_empty(), "promtool: {verdict}");
    assert_eq!(
        value(
            &scraped,
            "sureha_service_state{service=\"web\",node=\"alpha\",state=\"ACTIVE\"}"
        ),
        Some(1.0)
    );
    assert!(scraped.contains("sureha_drill_outage_seconds{service=\"web\""));

    // A node whose hasvrd does not answer still gives figures: that it does not.
    c.crash("beta");
    let text = metrics(&c.beta);
    assert_eq!(
        value(&text, "sureha_hasvrd_up{node=\"beta\"}"),
        Some(0.0),
        "{text}"
    );
    assert!(text.contains("# hasvrd does not answer"), "{text}");
}
