//! The engine's samples for `haadm metrics`: each figure as status would say it.
use super::*;

/// The value of the one sample of `name` whose labels include every one of `labels`.
fn sample(text: &str, name: &str, labels: &[&str]) -> String {
    let found: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .filter(|l| labels.iter().all(|x| l.contains(x)))
        .collect();
    match found[..] {
        [line] => line.rsplit(' ').next().unwrap_or_default().to_string(),
        _ => panic!("{name} {labels:?}: {found:?}\n{text}"),
    }
}

fn metrics(e: &Engine) -> String {
    let mut m = crate::metrics::Metrics::default();
    e.metrics(&mut m);
    m.text()
}

#[test]
fn the_peer_the_lock_the_licenses_and_the_service_as_samples() {
    let mut t = running("");
    // A start is done at the agent's first word.
    t.cmd(1500, "apiok web", None);
    let m = metrics(&t.e);
    assert_eq!(sample(&m, "sureha_peer_status", &["status=\"DOWN\""]), "1");
    assert_eq!(sample(&m, "sureha_peer_status", &["status=\"UP\""]), "0");
    assert_eq!(sample(&m, "sureha_config_generation", &[]), "1");
    assert_eq!(sample(&m, "sureha_admin_locked", &[]), "0");
    assert_eq!(sample(&m, "sureha_license_valid", &["host=\"beta\""]), "0");
    assert_eq!(
        sample(&m, "sureha_service_state", &["state=\"ACTIVEACT\""]),
        "1"
    );
    assert_eq!(sample(&m, "sureha_service_running", &[]), "1");
    assert_eq!(sample(&m, "sureha_service_protected", &[]), "1");
    assert_eq!(
        sample(&m, "sureha_service_moves_total", &["direction=\"in\""]),
        "1"
    );
    assert_eq!(
        sample(&m, "sureha_service_moves_total", &["direction=\"out\""]),
        "0"
    );
    let took = t.e.services["web"].last_timed.as_ref().unwrap().total;
    assert_eq!(
        sample(
            &m,
            "sureha_service_last_move_seconds",
            &["direction=\"in\""]
        ),
        format!("{}", took as f64 / 1000.0)
    );
    assert_eq!(sample(&m, "sureha_requests_dropped_total", &[]), "0");
    // The license first: the lock refuses it.
    t.cmd(2000, "license beta SN-2 2027-01-31 KEY", None);
    t.cmd(2000, "license alpha SN-1 never KEY", None);
    t.cmd(2000, "lock ops 2026-12-07T10:00:00", None);
    t.at(2000, Input::RequestsDropped(4));
    let m = metrics(&t.e);
    assert_eq!(sample(&m, "sureha_admin_locked", &[]), "1");
    assert_eq!(sample(&m, "sureha_license_valid", &["host=\"beta\""]), "1");
    assert_eq!(sample(&m, "sureha_license_valid", &["host=\"alpha\""]), "1");
    assert_eq!(
        sample(
            &m,
            "sureha_license_expiry_timestamp_seconds",
            &["host=\"alpha\""]
        ),
        "+Inf"
    );
    // The end of 2027-01-31, UTC.
    assert_eq!(
        sample(
            &m,
            "sureha_license_expiry_timestamp_seconds",
            &["host=\"beta\""]
        ),
        "1801440000"
    );
    assert_eq!(sample(&m, "sureha_requests_dropped_total", &[]), "4");
    // A link's counters from its stats line.
    t.at(
        2100,
        Input::LinkStats {
            link: "lan".into(),
            line: "rx=7 up=5 crc=1 tag=2 unsigned=0 replay=3 malformed=0 foreign=4 txerr=6 encrypted=yes".into(),
        },
    );
    let m = metrics(&t.e);
    assert_eq!(sample(&m, "sureha_link_up", &["link=\"lan\""]), "0");
    assert_eq!(sample(&m, "sureha_link_frames_received_total", &[]), "7");
    for (reason, n) in [
        ("crc", "1"),
        ("tag", "2"),
        ("replay", "3"),
        ("foreign", "4"),
        ("unsigned", "0"),
    ] {
        let r = format!("reason=\"{reason}\"");
        assert_eq!(
            sample(&m, "sureha_link_frames_refused_total", &[&r]),
            n,
            "{reason}"
        );
    }
    assert_eq!(sample(&m, "sureha_link_send_errors_total", &[]), "6");
    // The peer up, in step: its state word too, and the link up.
    let payload = crate::frame::Message::Beat(crate::frame::Beat {
        sender: "beta".into(),
        generation: t.e.generation,
        digest: t.e.digest,
        hears_you: true,
        leaving: false,
        keeping: false,
        services: vec![crate::frame::ServiceRecord {
            index: 0,
            word: 0,
            phase: 0,
            protected: true,
            error: false,
            error_was_active: false,
            unable: false,
            both: false,
            primary: 0,
            runner: 0,
            epoch: t.e.services["web"].intent.epoch,
            resets: t.e.services["web"].intent.resets,
        }],
        nics: vec![],
        disks: vec![],
        admin: (0, String::new()),
        heard: 0,
    })
    .encode();
    t.at(
        2200,
        Input::Frame {
            link: "lan".into(),
            boot: 3,
            seq: 1,
            payload,
        },
    );
    let m = metrics(&t.e);
    assert_eq!(sample(&m, "sureha_service_state", &["node=\"beta\""]), "1");
    assert_eq!(sample(&m, "sureha_peer_status", &["status=\"UP\""]), "1");
    assert_eq!(sample(&m, "sureha_link_up", &["link=\"lan\""]), "1");
}

#[test]
fn the_lease_and_the_data_paths_as_samples() {
    let disk = "\n[privnet d]\ntype = disk\nhost1 = alpha\nhost2 = beta\ndevice1 = /dev/sdx\ndevice2 = /dev/sdy\ninterval = 100ms\nmaxmiss = 3\n";
    let text = svc("volume = /dev/a /dev/b /m1\n").replacen(
        "\n[service web]",
        &format!("{disk}\n[service web]"),
        1,
    );
    let mut t = T::new(&text);
    t.at(
        1000,
        Input::LeaseRenewed {
            link: "d".into(),
            took: 0,
        },
    );
    t.at(
        1250,
        Input::DataPaths(vec![DataPath {
            device: "/dev/a".into(),
            ok: false,
            why: "Input/output error".into(),
        }]),
    );
    let m = metrics(&t.e);
    let lease = t.e.lock_lease().unwrap().1;
    assert_eq!(
        sample(&m, "sureha_lease_seconds", &["link=\"d\""]),
        format!("{}", lease as f64 / 1000.0)
    );
    assert_eq!(sample(&m, "sureha_lease_renewal_age_seconds", &[]), "0.25");
    assert_eq!(sample(&m, "sureha_lease_renewed", &[]), "1");
    assert_eq!(
        sample(&m, "sureha_disk_path_ok", &["device=\"/dev/a\""]),
        "0"
    );
    t.at(1000 + lease, Input::Tick);
    let m = metrics(&t.e);
    assert_eq!(sample(&m, "sureha_lease_renewed", &[]), "0");
}
