use super::*;

const GOOD: &str = "\
# two nodes
[privnet lan]
type = socket
host1 = alpha
host2 = beta
ip1 = 198.51.100.1
ip2 = 198.51.100.2
interval = 100ms

[service web]   # a web server
type = www
active_server = alpha
standby_server = beta
active_nic = eth0 eth1
standby_nic = eth0
active_ip = 192.0.2.100~192.0.2.102 192.0.2.110
subnetmask = 255.255.255.0
start = web.start
stop = web.stop
agent = web.agent
check_interval = 1s
restart_times = 2
volume = /dev/sdb1 /dev/sdc1 /srv/a
volume = /dev/sdb2 /dev/sdc2 /srv/b
path = /var/www
";

fn errors(text: &str) -> Vec<String> {
    match parse("f.conf", text) {
        Ok(_) => vec![],
        Err(d) => d.to_string().lines().map(str::to_string).collect(),
    }
}

fn base_link() -> &'static str {
    "[privnet l]\ntype = socket\nhost1 = a\nhost2 = b\nip1 = 10.0.0.1\nip2 = 10.0.0.2\n"
}

#[test]
fn parses_a_full_file_with_defaults() {
    let c = parse("f", GOOD).unwrap();
    let l = &c.links[0];
    assert_eq!(l.interval, 100);
    assert_eq!(l.maxmiss, 3);
    assert_eq!(l.priority, 50);
    assert_eq!(
        l.kind,
        LinkKind::Socket {
            ip1: "198.51.100.1".parse().unwrap(),
            ip2: "198.51.100.2".parse().unwrap(),
            port: 3000
        }
    );
    let s = c.service("web").unwrap();
    assert_eq!(s.stype, "WWW");
    assert_eq!(s.active_ip.len(), 4);
    assert_eq!(s.prefix, 24);
    assert_eq!(s.active_nic, vec!["eth0", "eth1"]);
    assert_eq!(s.check_interval, 1000);
    assert_eq!(s.start_timeout, 150_000);
    assert_eq!(s.volumes.len(), 2);
    assert!(!s.switchback);
    assert_eq!(s.agent_interval_secs(), 1);
    let env = s.environment();
    assert!(env.contains(&("HA_PATH".into(), "/var/www".into())));
    assert!(env.contains(&(
        "HA_VOLUME".into(),
        "/dev/sdb1 /dev/sdc1 /srv/a;/dev/sdb2 /dev/sdc2 /srv/b".into()
    )));
    assert_eq!(c.peer_of("alpha"), Some("beta"));
    assert!(c.check_node("gamma").is_err());
    // A fresh node, before its first link: valid, alone.
    let fresh = parse("f.conf", "# nothing yet\n").unwrap();
    assert!(fresh.check_node("alpha").is_ok());
    assert_eq!(
        errors("[service s]\nactive_server = a\nstandby_server = b\nstart = x\nstop = y\n"),
        vec![
            "f.conf:1: no [privnet NAME] section: the two servers need at least one heartbeat link"
        ]
    );
}

#[test]
fn durations() {
    assert_eq!(parse_duration("5"), Ok(5000));
    assert_eq!(parse_duration("5s"), Ok(5000));
    assert_eq!(parse_duration("1.5s"), Ok(1500));
    assert_eq!(parse_duration("100ms"), Ok(100));
    for bad in ["", "s", "5m", "-1", "1.2.3", "abc", "1e3"] {
        assert!(parse_duration(bad).is_err(), "{bad}");
    }
}

#[test]
fn addresses_and_masks() {
    assert_eq!(parse_addresses("192.0.2.1~192.0.2.3").unwrap().len(), 3);
    assert!(parse_addresses("192.0.2.3~192.0.2.1")
        .unwrap_err()
        .contains("ends before"));
    assert!(parse_addresses("10.0.0.0~10.0.2.0")
        .unwrap_err()
        .contains("more than 256"));
    assert!(parse_addresses("300.1.1.1")
        .unwrap_err()
        .contains("not an IPv4"));
    assert_eq!(mask_to_prefix("255.255.255.0"), Ok(24));
    assert_eq!(mask_to_prefix("255.255.255.255"), Ok(32));
    assert_eq!(mask_to_prefix("0.0.0.0"), Ok(0));
    assert!(mask_to_prefix("255.0.255.0")
        .unwrap_err()
        .contains("contiguous"));
}

#[test]
fn every_error_of_a_file_at_once_with_its_line() {
    let text = format!(
        "{}interval = 20s\nmaxmiss = 1\nbogus = 1\n\n[service s]\nactive_server = a\nstandby_server = b\nstart = x\nstop = y\nrestart_times = 9\ncheck_interval = 50ms\nswitchback = maybe\nstart = z\n",
        base_link()
    );
    let e = errors(&text);
    assert_eq!(e, vec![
        "f.conf:7: [privnet l]: interval: 20s is out of range 50ms–15s",
        "f.conf:8: [privnet l]: maxmiss: 1 is out of range 2–10",
        "f.conf:9: unknown key 'bogus' in [privnet l] (known: type priority interval maxmiss host1 host2 ip1 ip2 port device1 device2 baudrate)",
        "f.conf:16: [service s]: restart_times: 9 is out of range 0–5",
        "f.conf:17: [service s]: check_interval: 50ms is out of range 100ms–120s",
        "f.conf:18: [service s]: switchback: 'maybe' is not yes or no",
        "f.conf:19: [service s]: 'start' is given twice (first at line 14)",
    ]);
}

#[test]
fn bad_bytes_huge_lines_and_signs_are_refused_and_hash_in_values_kept() {
    let base = GOOD.replace("path = /var/www", "path = /var/www #1");
    let c = parse("f", &base).unwrap();
    assert!(c.services[0]
        .keys
        .contains(&("path".into(), "/var/www #1".into())));
    let e = errors(&GOOD.replace("path = /var/www", "path = /var\0www"));
    assert!(e.iter().any(|x| x.contains("control character")), "{e:?}");
    let long = format!("path = {}", "x".repeat(MAX_LINE));
    let e = errors(&GOOD.replace("path = /var/www", &long));
    assert!(
        e.iter().any(|x| x.contains("a line holds at most")),
        "{e:?}"
    );
    assert!(e.iter().all(|m| m.len() < 300), "no error echoes the line");
    let e = errors(&GOOD.replace("restart_times = 2", "restart_times = +2"));
    assert!(e[0].contains("not a whole number"), "{e:?}");
    let e = errors(&format!("{GOOD}\nfoo {}\n", "y".repeat(3000)));
    assert!(e[0].len() < 200, "{e:?}");
}

#[test]
fn size_limits_are_errors_not_stalls() {
    let too_big = format!("{GOOD}{}", "#\n".repeat(MAX_FILE));
    assert!(errors(&too_big)[0].contains("at most 1048576 bytes"));
    // Many sections: refused by count, in linear time.
    let mut many = GOOD.to_string();
    for i in 0..50_000 {
        many.push_str(&format!("[service s{i}]\n"));
    }
    let t = std::time::Instant::now();
    let e = errors(&many);
    assert!(e[0].contains("at most 256 services"), "{e:?}");
    assert!(t.elapsed() < std::time::Duration::from_secs(2));
    // Many errors: the first hundred, then how many more.
    let mut bad = GOOD.to_string();
    for _ in 0..500 {
        bad.push_str("nonsense\n");
    }
    let e = errors(&bad);
    assert_eq!(e.len(), 101);
    assert!(e[100].contains("and 400 more errors"), "{:?}", e[100]);
}

#[test]
fn structure_errors() {
    assert_eq!(
        errors("key = 1\n"),
        vec![
            "f.conf:1: 'key' is outside any section; put it under [service NAME] or [privnet NAME]",
        ]
    );
    let e = errors(&format!(
        "{}[oops x]\nfoo = 1\n[service]\n[service bad/name]\njunk line\n",
        base_link()
    ));
    assert_eq!(e, vec![
        "f.conf:7: unknown section kind 'oops' (expected privnet, service, alert or admin)",
        "f.conf:9: [service] needs a name",
        "f.conf:10: 'bad/name' is not a valid name (1 to 32 letters, digits, '_' or '-', starting with a letter or digit)",
        "f.conf:11: expected 'key = value', found 'junk line'",
    ]);
}

#[test]
fn link_errors() {
    let e = errors("[privnet l]\ntype = serial\nhost1 = a\nhost2 = a\n");
    assert_eq!(
        e,
        vec!["f.conf:2: [privnet l]: type: 'serial' is not socket, rs232 or disk"]
    );
    let e = errors(
        "[privnet l]\ntype = socket\nhost1 = a\nhost2 = a\nip1 = 1.2.3\ndevice1 = /dev/ttyS0\n",
    );
    assert_eq!(
        e,
        vec![
            "f.conf:1: [privnet l]: 'ip2' is required for a socket link",
            "f.conf:5: [privnet l]: ip1: '1.2.3' is not an IPv4 or IPv6 address",
            "f.conf:6: [privnet l]: 'device1' is for rs232 links only",
        ]
    );
    let e = errors("[privnet l]\ntype = rs232\nhost1 = a\nhost2 = a\ndevice1 = ttyS0\ndevice2 = /dev/ttyS1\nbaudrate = 1000\n");
    assert_eq!(e, vec![
        "f.conf:5: [privnet l]: device1: 'ttyS0' is not a device path like /dev/ttyS0",
        "f.conf:7: [privnet l]: baudrate: 1000 is not one of [1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200]",
    ]);
    let e = errors(
        "[privnet l]\ntype = rs232\nhost1 = a\nhost2 = a\ndevice1 = /dev/a\ndevice2 = /dev/b\n",
    );
    assert_eq!(
        e,
        vec!["f.conf:1: [privnet l]: host1 and host2 are both 'a'"]
    );
}

#[test]
fn cross_checks() {
    let text = format!(
        "{}[privnet m]\ntype = socket\nhost1 = a\nhost2 = c\nip1 = 10.0.1.1\nip2 = 10.0.1.2\n\
         [service s]\nactive_server = a\nstandby_server = z\nstart = x\nstop = y\nactive_ip = 192.0.2.1\nactive_nic = eth0\n\
         [service t]\nactive_server = a\nstandby_server = b\nstart = x\nstop = y\nactive_ip = 192.0.2.1\nactive_nic = eth0\nstandby_nic = eth0\n\
         [service t]\n",
        base_link()
    );
    let e = errors(&text);
    assert_eq!(e, vec![
        "f.conf:7: [privnet m] joins a and c, but [privnet l] (line 1) joins a and b: a SureHA cluster has exactly two nodes",
        "f.conf:13: [service s]: 'standby_nic' is required with active_ip",
        "f.conf:13: [service s]: standby_server 'z' is not joined by any [privnet] (the links join a and b)",
        "f.conf:20: [service t]: address 192.0.2.1 is also used by [service s] (line 13)",
        "f.conf:28: [service t] is defined twice (first at line 20)",
        "f.conf:28: [service t]: 'active_server' is required",
        "f.conf:28: [service t]: 'standby_server' is required",
        "f.conf:28: [service t]: 'start' is required",
        "f.conf:28: [service t]: 'stop' is required",
    ]);
}

#[test]
fn service_value_errors() {
    let text = format!(
        "{}[service s]\ntype = db2\nactive_server = a\nstandby_server = a\nstart = run me\nstop = y\nvolume = /dev/x /mnt\nvolume = dev/x /dev/y /mnt\nsubnetmask = 255.0.255.0\nactive_ip = 192.0.2.300\nactive_nic = e\nstandby_nic = e\n",
        base_link()
    );
    assert_eq!(errors(&text), vec![
        "f.conf:7: [service s]: active_server and standby_server are both 'a'",
        "f.conf:8: [service s]: type: 'db2' is not one of NFS ORACLE SYBASE INFORMIX WWW PGSQL MYSQL USERDEF OCF LSB",
        "f.conf:11: [service s]: start: 'run me' must be one program name (no arguments)",
        "f.conf:13: [service s]: volume: expected 'ACTIVE-DEV BACKUP-DEV MOUNT-POINT', found '/dev/x /mnt'",
        "f.conf:14: [service s]: volume: devices and mount point must be absolute paths",
        "f.conf:15: [service s]: subnetmask: netmask '255.0.255.0' is not contiguous",
        "f.conf:16: [service s]: active_ip: '192.0.2.300' is not an IPv4 or IPv6 address",
    ]);
}

#[test]
fn a_group_must_agree_on_servers_and_switchback() {
    let text = format!(
        "{}[service a]\nactive_server = a\nstandby_server = b\nstart = x\nstop = y\ngroupid = g\nswitchback = yes\n[service b]\nactive_server = a\nstandby_server = b\nstart = x\nstop = y\ngroupid = g\n",
        base_link()
    );
    assert_eq!(errors(&text), vec!["f.conf:14: [service b]: group 'g' moves together, but its switchback settings differ from [service a] (line 7)"]);
}

#[test]
fn section_edits_keep_the_rest() {
    let added = add_section(
        GOOD,
        "service",
        "db",
        &[
            ("active_server".into(), "beta".into()),
            ("standby_server".into(), "alpha".into()),
            ("start".into(), "a".into()),
            ("stop".into(), "b".into()),
        ],
    );
    let c = parse("f", &added).unwrap();
    assert_eq!(c.services.len(), 2);
    let removed = remove_section(&added, "service", "web").unwrap();
    let c = parse("f", &removed).unwrap();
    assert_eq!(
        c.services
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>(),
        vec!["db"]
    );
    assert!(removed.starts_with("# two nodes\n[privnet lan]"));
    assert!(remove_section(GOOD, "service", "nope").is_none());
    assert_eq!(
        parse_assignments(&["a=b c".into()]).unwrap(),
        vec![("a".into(), "b c".into())]
    );
    assert!(parse_assignments(&["ab".into()]).is_err());
}

#[test]
fn a_service_type_names_the_keys_it_needs_at_the_type_line() {
    let text = "[privnet l]\ntype = socket\nhost1 = a\nhost2 = b\nip1 = 10.0.0.1\nip2 = 10.0.0.2\n\n[service db]\nactive_server = a\nstandby_server = b\ntype = oracle\nstart = s\nstop = t\nsid = ORCL\n";
    assert_eq!(
        errors(text),
        vec!["f.conf:11: [service db]: type ORACLE needs 'username' (who runs sqlplus)"]
    );
    assert!(errors(&(text.to_string() + "username = scott\n")).is_empty());
    assert!(errors(&text.replace("type = oracle", "type = pgsql"))[0]
        .contains("type PGSQL needs 'path'"));
}

#[test]
fn ocf_and_lsb_agents_run_through_the_shipped_adapters() {
    let head = "[privnet l]\ntype = socket\nhost1 = a\nhost2 = b\nip1 = 10.0.0.1\nip2 = 10.0.0.2\n\n[service d]\nactive_server = a\nstandby_server = b\n";
    let c = parse(
        "f",
        &format!("{head}type = ocf\nagent = ocf:heartbeat:Dummy\nha_state = /run/d.state\n"),
    )
    .unwrap();
    let s = &c.services[0];
    assert_eq!(s.resource.as_deref(), Some("ocf:heartbeat:Dummy"));
    assert_eq!(s.agent.as_deref(), Some("ha_ag_ocf.sh"));
    assert_eq!(
        (s.start.as_str(), s.stop.as_str()),
        ("ocf_start.sh", "ocf_stop.sh")
    );
    assert!(s
        .environment()
        .contains(&("HA_HA_STATE".into(), "/run/d.state".into())));
    let c = parse("f", &format!("{head}type = lsb\nagent = lsb:mydaemon\n")).unwrap();
    assert_eq!(c.services[0].start, "lsb_start.sh");
    // Named scripts win; an OCF agent with a type of its own keeps its scripts.
    let c = parse(
        "f",
        &format!("{head}type = pgsql\npath = /srv/pg\nagent = ocf:heartbeat:pgsql\nstart = s\nstop = t\n"),
    )
    .unwrap();
    assert_eq!(c.services[0].agent.as_deref(), Some("ha_ag_ocf.sh"));
    assert_eq!(c.services[0].start, "s");
    assert_eq!(
        errors(&format!("{head}type = ocf\n")),
        vec!["f.conf:11: [service d]: type OCF needs 'agent' (ocf:PROVIDER:NAME, an OCF resource agent)"]
    );
    assert_eq!(
        errors(&format!("{head}type = ocf\nagent = ocf:../x\n")),
        vec!["f.conf:12: [service d]: agent: 'ocf:../x' is not ocf:PROVIDER:NAME or lsb:NAME (letters, digits, '-', '_', '.')"]
    );
    assert!(errors(&format!("{head}type = ocf\nagent = my.agent\n"))[0]
        .contains("type OCF needs 'agent = ocf:PROVIDER:NAME'"));
    assert!(
        errors(&format!("{head}start = s\nstop = t\nha_Bad-Key = 1\n"))[0].contains("unknown key")
    );
    // USERDEF still needs its scripts.
    assert!(errors(&format!("{head}start = s\n"))[0].contains("'stop' is required"));
}

#[test]
fn alert_sections_take_a_program_events_and_a_timeout() {
    let text = format!(
        "{}[alert pager]\nprogram = /usr/local/bin/page\nevents = node-down takeover\ntimeout = 3s\n[alert log]\nprogram = /usr/bin/logger-alert\n",
        base_link()
    );
    let c = parse("f", &text).unwrap();
    assert_eq!(c.alerts.len(), 2);
    let p = &c.alerts[0];
    assert_eq!(
        (p.name.as_str(), p.program.as_str(), p.timeout, p.line),
        ("pager", "/usr/local/bin/page", 3000, 7)
    );
    assert_eq!(p.events, vec![AlertEvent::NodeDown, AlertEvent::Takeover]);
    assert_eq!(c.alerts[1].events, AlertEvent::ALL.to_vec(), "default: all");
    assert_eq!(c.alerts[1].timeout, 10_000);
    assert!(c.wants_alert(AlertEvent::Lock));
    assert!(!parse("f", base_link())
        .unwrap()
        .wants_alert(AlertEvent::Lock));
}

#[test]
fn alert_errors_say_what_and_where() {
    let e = errors(&format!(
        "{}[alert a]\nprogram = page\nevents = node-down reboot\ntimeout = 0s\nmail = x\n[alert b]\nevents = lock\n",
        base_link()
    ));
    assert_eq!(
        e,
        vec![
            "f.conf:8: [alert a]: program: 'page' is not an absolute path",
            "f.conf:9: [alert a]: events: unknown event 'reboot' (known: failover takeover switchback error node-down node-up partition both-claim lock readiness)",
            "f.conf:10: [alert a]: timeout: 0s is out of range 100ms–600s",
            "f.conf:11: unknown key 'mail' in [alert a] (known: program events timeout)",
            "f.conf:12: [alert b]: 'program' is required",
        ]
    );
    let many: String = (0..=MAX_ALERTS)
        .map(|i| format!("[alert a{i}]\nprogram = /bin/true\n"))
        .collect();
    let e = errors(&format!("{}{many}", base_link()));
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].contains("9 [alert] sections; a cluster has at most 8"),
        "{e:?}"
    );
}

#[test]
fn ipv6_addresses_and_ranges_beside_ipv4_and_ipv6_links() {
    let text = "[privnet l]\ntype = socket\nhost1 = a\nhost2 = b\nip1 = fd00:51::1\nip2 = fd00:51::2\n\
        [service s]\nactive_server = a\nstandby_server = b\nstart = x\nstop = y\nactive_nic = e\nstandby_nic = e\n\
        active_ip = 192.0.2.100 2001:db8::100~2001:db8::102\nprefixlen = 96\n";
    let c = parse("f", text).unwrap();
    let s = c.service("s").unwrap();
    let want: Vec<std::net::IpAddr> = [
        "192.0.2.100",
        "2001:db8::100",
        "2001:db8::101",
        "2001:db8::102",
    ]
    .iter()
    .map(|a| a.parse().unwrap())
    .collect();
    assert_eq!(s.active_ip, want);
    assert_eq!((s.prefix_of(&want[0]), s.prefix_of(&want[1])), (24, 96));
    assert_eq!(
        c.links[0].kind,
        LinkKind::Socket {
            ip1: "fd00:51::1".parse().unwrap(),
            ip2: "fd00:51::2".parse().unwrap(),
            port: 3000
        }
    );
    let bad = |extra: &str| {
        errors(&format!(
            "[privnet l]\ntype = socket\nhost1 = a\nhost2 = b\nip1 = 10.0.0.1\nip2 = 10.0.0.2\n[service s]\nactive_server = a\nstandby_server = b\nstart = x\nstop = y\nactive_nic = e\nstandby_nic = e\n{extra}"
        ))
    };
    assert_eq!(
        bad("active_ip = 192.0.2.1~2001:db8::1\n"),
        ["f.conf:14: [service s]: active_ip: range '192.0.2.1~2001:db8::1' mixes IPv4 and IPv6"]
    );
    assert_eq!(
        bad("active_ip = 2001:db8::1~2001:db8::1:0\n"),
        ["f.conf:14: [service s]: active_ip: range '2001:db8::1~2001:db8::1:0' holds more than 256 addresses"]
    );
    assert_eq!(
        bad("active_ip = 2001:db8::1\nprefixlen = 129\n"),
        ["f.conf:15: [service s]: prefixlen: 129 is out of range 1–128"]
    );
    assert_eq!(
        errors("[privnet l]\ntype = socket\nhost1 = a\nhost2 = b\nip1 = 10.0.0.1\nip2 = fd00::2\n"),
        ["f.conf:6: [privnet l]: ip1 10.0.0.1 and ip2 fd00::2 are of different families (both IPv4 or both IPv6)"]
    );
}
