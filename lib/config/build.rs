//! From a section's keys to a `Link` or a `Service`, and the checks across sections.

use super::*;

/// Looks up a key, parses it, reports a bad value at its line; `None` when absent or bad.
pub(super) fn value<T>(
    sec: &Section,
    key: &str,
    err: &mut impl FnMut(usize, String),
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> Option<T> {
    let (v, line) = sec.get(key)?;
    match parse(v) {
        Ok(x) => Some(x),
        Err(m) => {
            err(line, format!("{}: {key}: {m}", sec.label()));
            None
        }
    }
}

pub(super) fn required<'a>(
    sec: &'a Section,
    key: &str,
    err: &mut impl FnMut(usize, String),
) -> Option<&'a str> {
    match sec.get(key) {
        Some((v, _)) => Some(v),
        None => {
            err(sec.line, format!("{}: '{key}' is required", sec.label()));
            None
        }
    }
}

pub(super) fn node_name(
    sec: &Section,
    key: &str,
    err: &mut impl FnMut(usize, String),
) -> Option<String> {
    let v = required(sec, key, err)?;
    if valid_node(v) {
        Some(v.to_string())
    } else {
        let line = sec.get(key).map_or(sec.line, |(_, l)| l);
        err(
            line,
            format!("{}: {key}: '{v}' is not a valid node name", sec.label()),
        );
        None
    }
}

pub(super) fn build_link(sec: &Section, err: &mut impl FnMut(usize, String)) -> Option<Link> {
    let ty = required(sec, "type", err).map(str::to_ascii_lowercase);
    let priority = value(sec, "priority", err, |v| parse_int(v, 0, 100)).unwrap_or(50) as u32;
    let interval =
        value(sec, "interval", err, |v| parse_duration_in(v, 50, 15_000)).unwrap_or(5000);
    let maxmiss = value(sec, "maxmiss", err, |v| parse_int(v, 2, 10)).unwrap_or(3) as u32;
    let host1 = node_name(sec, "host1", err);
    let host2 = node_name(sec, "host2", err);
    let wrong_keys = |keys: &[&str], kind: &str, err: &mut dyn FnMut(usize, String)| {
        for k in keys {
            if let Some((_, l)) = sec.get(k) {
                err(
                    l,
                    format!("{}: '{k}' is for {kind} links only", sec.label()),
                );
            }
        }
    };
    let kind = match ty.as_deref() {
        Some("socket") => {
            wrong_keys(&RS232_ONLY, "rs232", err);
            let ip = |k: &str, err: &mut dyn FnMut(usize, String)| -> Option<IpAddr> {
                let v = match sec.get(k) {
                    Some((v, _)) => v,
                    None => {
                        err(
                            sec.line,
                            format!("{}: '{k}' is required for a socket link", sec.label()),
                        );
                        return None;
                    }
                };
                match v.parse() {
                    Ok(a) => Some(a),
                    Err(_) => {
                        let l = sec.get(k).map_or(sec.line, |(_, l)| l);
                        err(
                            l,
                            format!(
                                "{}: {k}: '{}' is not an IPv4 or IPv6 address",
                                sec.label(),
                                shown(v)
                            ),
                        );
                        None
                    }
                }
            };
            let ip1 = ip("ip1", err);
            let ip2 = ip("ip2", err);
            let port = value(sec, "port", err, |v| parse_int(v, 1, 65535)).unwrap_or(3000) as u16;
            if let (Some(a), Some(b)) = (ip1, ip2) {
                if a.is_ipv4() != b.is_ipv4() {
                    let l = sec.get("ip2").map_or(sec.line, |(_, l)| l);
                    err(
                        l,
                        format!(
                            "{}: ip1 {a} and ip2 {b} are of different families (both IPv4 or both IPv6)",
                            sec.label()
                        ),
                    );
                    return None;
                }
            }
            LinkKind::Socket {
                ip1: ip1?,
                ip2: ip2?,
                port,
            }
        }
        Some(ty @ ("rs232" | "disk")) => {
            wrong_keys(&SOCKET_ONLY, "socket", err);
            if ty == "disk" {
                if let Some((_, l)) = sec.get("baudrate") {
                    err(
                        l,
                        format!("{}: 'baudrate' is for rs232 links only", sec.label()),
                    );
                }
            }
            let example = if ty == "disk" {
                "/dev/sdb1"
            } else {
                "/dev/ttyS0"
            };
            let an = if ty == "disk" { "a disk" } else { "an rs232" };
            let dev = |k: &str, err: &mut dyn FnMut(usize, String)| -> Option<String> {
                match sec.get(k) {
                    Some((v, _)) if v.starts_with('/') => Some(v.to_string()),
                    Some((v, l)) => {
                        err(
                            l,
                            format!(
                                "{}: {k}: '{v}' is not a device path like {example}",
                                sec.label()
                            ),
                        );
                        None
                    }
                    None => {
                        err(
                            sec.line,
                            format!("{}: '{k}' is required for {an} link", sec.label()),
                        );
                        None
                    }
                }
            };
            let device1 = dev("device1", err);
            let device2 = dev("device2", err);
            let baudrate = value(sec, "baudrate", err, |v| {
                let n: u32 = v.parse().map_err(|_| format!("'{v}' is not a number"))?;
                if BAUD_RATES.contains(&n) {
                    Ok(n)
                } else {
                    Err(format!("{n} is not one of {BAUD_RATES:?}"))
                }
            })
            .unwrap_or(9600);
            if ty == "disk" {
                LinkKind::Disk {
                    device1: device1?,
                    device2: device2?,
                }
            } else {
                LinkKind::Rs232 {
                    device1: device1?,
                    device2: device2?,
                    baudrate,
                }
            }
        }
        Some(other) => {
            let l = sec.get("type").map_or(sec.line, |(_, l)| l);
            err(
                l,
                format!(
                    "{}: type: '{other}' is not socket, rs232 or disk",
                    sec.label()
                ),
            );
            return None;
        }
        None => return None,
    };
    let (host1, host2) = (host1?, host2?);
    if host1 == host2 {
        err(
            sec.line,
            format!("{}: host1 and host2 are both '{host1}'", sec.label()),
        );
        return None;
    }
    Some(Link {
        name: sec.name.clone(),
        line: sec.line,
        kind,
        priority,
        interval,
        maxmiss,
        host1,
        host2,
    })
}

pub(super) fn build_admin(sec: &Section, err: &mut impl FnMut(usize, String)) -> Admin {
    let mut admin = Admin::default();
    if let Some(p) = value(sec, "port", err, |v| parse_int(v, 1, 65535)) {
        admin.port = p as u16;
    }
    if let Some(l) = value(sec, "listen", err, |v| {
        parse_list(v)
            .iter()
            .map(|a| {
                a.parse::<IpAddr>()
                    .map_err(|_| format!("'{}' is not an IPv4 or IPv6 address", shown(a)))
            })
            .collect::<Result<Vec<_>, _>>()
    }) {
        admin.listen = l;
    }
    if let Some(f) = value(sec, "fence", err, |v| match v {
        "reboot" => Ok(Fence::Reboot),
        "halt" => Ok(Fence::Halt),
        "none" => Ok(Fence::Nothing),
        p if p.starts_with('/') => Ok(Fence::Program(p.to_string())),
        other => Err(format!(
            "'{}' is not reboot, halt, none or an absolute program path",
            shown(other)
        )),
    }) {
        admin.fence = f;
    }
    admin
}

/// The families whose agent and scripts SureHA ships (`ha_ag_F.sh`, `F_start.sh`,
/// `F_stop.sh` in `$HAHOME/bin`).
pub const BUILTIN_SCRIPTS: [&str; 9] = [
    "ocf", "lsb", "pgsql", "mysql", "www", "nfs", "oracle", "sybase", "informix",
];

/// `ocf:PROVIDER:NAME` or `lsb:NAME`, each part a plain name.
fn check_resource(r: &str) -> Result<(), String> {
    let plain = |p: &str| {
        !p.is_empty()
            && p.len() <= 64
            && p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            && !p.starts_with('.')
    };
    let parts: Vec<&str> = r.split(':').collect();
    match parts.as_slice() {
        ["ocf", p, n] if plain(p) && plain(n) => Ok(()),
        ["lsb", n] if plain(n) => Ok(()),
        _ => Err(format!(
            "'{r}' is not ocf:PROVIDER:NAME or lsb:NAME (letters, digits, '-', '_', '.')"
        )),
    }
}

pub(super) fn build_service(sec: &Section, err: &mut impl FnMut(usize, String)) -> Option<Service> {
    let stype = value(sec, "type", err, |v| {
        let up = v.to_ascii_uppercase();
        if SERVICE_TYPES.contains(&up.as_str()) {
            Ok(up)
        } else {
            Err(format!("'{v}' is not one of {}", SERVICE_TYPES.join(" ")))
        }
    })
    .unwrap_or_else(|| "USERDEF".into());
    for (k, what) in type_keys(&stype) {
        if sec.get(k).is_none() {
            let line = sec.get("type").map_or(sec.line, |(_, l)| l);
            err(
                line,
                format!("{}: type {stype} needs '{k}' ({what})", sec.label()),
            );
        }
    }
    let active_server = node_name(sec, "active_server", err);
    let standby_server = node_name(sec, "standby_server", err);
    let active_ip = value(sec, "active_ip", err, parse_addresses).unwrap_or_default();
    let prefix = value(sec, "subnetmask", err, mask_to_prefix).unwrap_or(24);
    let prefix6 = value(sec, "prefixlen", err, |v| parse_int(v, 1, 128)).map_or(64, |p| p as u8);
    let active_nic = sec
        .get("active_nic")
        .map(|(v, _)| parse_list(v))
        .unwrap_or_default();
    let standby_nic = sec
        .get("standby_nic")
        .map(|(v, _)| parse_list(v))
        .unwrap_or_default();
    if sec.get("active_ip").is_some() {
        for k in ["active_nic", "standby_nic"] {
            if sec.get(k).is_none() {
                err(
                    sec.line,
                    format!("{}: '{k}' is required with active_ip", sec.label()),
                );
            }
        }
    }
    let program = |k: &str, err: &mut dyn FnMut(usize, String)| -> Option<String> {
        let (v, l) = sec.get(k)?;
        if v.split_whitespace().count() != 1 {
            err(
                l,
                format!(
                    "{}: {k}: '{v}' must be one program name (no arguments)",
                    sec.label()
                ),
            );
            return None;
        }
        Some(v.to_string())
    };
    let agent = program("agent", err);
    // An OCF or LSB agent is run through SureHA's adapters; the types with scripts of their
    // own use them when the service names none (DESIGN §12).
    let resource = agent
        .clone()
        .filter(|a| a.starts_with("ocf:") || a.starts_with("lsb:"));
    if let (Some(r), Some((_, l))) = (&resource, sec.get("agent")) {
        if let Err(e) = check_resource(r) {
            err(l, format!("{}: agent: {e}", sec.label()));
        }
    }
    if matches!(stype.as_str(), "OCF" | "LSB") && resource.is_none() && sec.get("agent").is_some() {
        let line = sec.get("type").map_or(sec.line, |(_, l)| l);
        err(
            line,
            format!(
                "{}: type {stype} needs 'agent = {}'",
                sec.label(),
                if stype == "OCF" {
                    "ocf:PROVIDER:NAME"
                } else {
                    "lsb:NAME"
                }
            ),
        );
    }
    let family = match &resource {
        Some(r) => r[..3].to_string(),
        None => stype.to_ascii_lowercase(),
    };
    let builtin = BUILTIN_SCRIPTS.contains(&family.as_str());
    let agent = if resource.is_some() || (agent.is_none() && builtin) {
        Some(format!("ha_ag_{family}.sh"))
    } else {
        agent
    };
    let mut start = program("start", err);
    let mut stop = program("stop", err);
    for (k, v) in [("start", &mut start), ("stop", &mut stop)] {
        if v.is_none() && sec.get(k).is_none() {
            if builtin {
                *v = Some(format!("{family}_{k}.sh"));
            } else {
                err(sec.line, format!("{}: '{k}' is required", sec.label()));
            }
        }
    }
    let check_interval = value(sec, "check_interval", err, |v| {
        parse_duration_in(v, 100, 120_000)
    })
    .unwrap_or(20_000);
    let start_timeout = value(sec, "start_timeout", err, |v| {
        parse_duration_in(v, 1000, 1_000_000)
    })
    .unwrap_or(150_000);
    let restart_times =
        value(sec, "restart_times", err, |v| parse_int(v, 0, 5)).unwrap_or(0) as u32;
    let switchback = value(sec, "switchback", err, parse_yes_no).unwrap_or(false);
    // 0: switch back as soon as the node returns; at most a day.
    let switchback_delay = value(sec, "switchback_delay", err, |v| {
        parse_duration_in(v, 0, 86_400_000)
    })
    .unwrap_or(0);
    // 0: no limit.
    let switchback_max =
        value(sec, "switchback_max", err, |v| parse_int(v, 0, 100)).unwrap_or(0) as u32;
    let groupid = value(sec, "groupid", err, |v| {
        if valid_name(v) {
            Ok(v.to_string())
        } else {
            Err(format!("'{v}' is not a valid group name"))
        }
    });
    let mut volumes = Vec::new();
    for (k, v, l) in &sec.entries {
        if k != "volume" {
            continue;
        }
        let f: Vec<&str> = v.split_whitespace().collect();
        if f.len() != 3 {
            err(
                *l,
                format!(
                    "{}: volume: expected 'ACTIVE-DEV BACKUP-DEV MOUNT-POINT', found '{v}'",
                    sec.label()
                ),
            );
        } else if !f.iter().all(|p| p.starts_with('/')) {
            err(
                *l,
                format!(
                    "{}: volume: devices and mount point must be absolute paths",
                    sec.label()
                ),
            );
        } else {
            volumes.push(Volume {
                active_dev: f[0].into(),
                backup_dev: f[1].into(),
                mount_point: f[2].into(),
            });
        }
    }
    let (active_server, standby_server) = (active_server?, standby_server?);
    if active_server == standby_server {
        err(
            sec.line,
            format!(
                "{}: active_server and standby_server are both '{active_server}'",
                sec.label()
            ),
        );
        return None;
    }
    Some(Service {
        name: sec.name.clone(),
        line: sec.line,
        stype,
        active_server,
        standby_server,
        active_nic,
        standby_nic,
        active_ip,
        prefix,
        prefix6,
        agent,
        resource,
        start: start?,
        stop: stop?,
        check_interval,
        start_timeout,
        restart_times,
        switchback,
        switchback_delay,
        switchback_max,
        groupid,
        volumes,
        keys: sec
            .entries
            .iter()
            .map(|(k, v, _)| (k.clone(), v.clone()))
            .collect(),
    })
}

pub(super) fn cross_check(cfg: &Config, sections: &[Section], err: &mut impl FnMut(usize, String)) {
    let link_sections = sections
        .iter()
        .filter(|s| s.kind == SectionKind::Privnet)
        .count();
    let service_sections = sections
        .iter()
        .filter(|s| s.kind == SectionKind::Service)
        .count();
    // A fresh node has neither (its first link is created next, one node at a time); a
    // service needs a link to know its peer.
    if link_sections == 0 && service_sections > 0 {
        err(
            1,
            "no [privnet NAME] section: the two servers need at least one heartbeat link".into(),
        );
    }
    let mut pair: Option<(&Link, [&str; 2])> = None;
    for l in &cfg.links {
        let mut p = [l.host1.as_str(), l.host2.as_str()];
        p.sort();
        match pair {
            None => pair = Some((l, p)),
            Some((first, fp)) if fp != p => err(
                l.line,
                format!(
                    "[privnet {}] joins {} and {}, but [privnet {}] (line {}) joins {} and {}: a SureHA cluster has exactly two nodes",
                    l.name, p[0], p[1], first.name, first.line, fp[0], fp[1]
                ),
            ),
            _ => {}
        }
    }
    for (i, a) in cfg.links.iter().enumerate() {
        for b in &cfg.links[..i] {
            if let (
                LinkKind::Socket { ip1, port, .. },
                LinkKind::Socket {
                    ip1: i1, port: p1, ..
                },
            ) = (&a.kind, &b.kind)
            {
                if ip1 == i1 && port == p1 {
                    err(
                        a.line,
                        format!(
                            "[privnet {}] uses {ip1}:{port} like [privnet {}] (line {})",
                            a.name, b.name, b.line
                        ),
                    );
                }
            }
        }
    }
    let nodes = pair.map(|(_, p)| p);
    let mut seen_ip: BTreeMap<IpAddr, &Service> = BTreeMap::new();
    let mut seen_mount: BTreeMap<&str, &Service> = BTreeMap::new();
    let mut groups: BTreeMap<&str, &Service> = BTreeMap::new();
    // On the raw sections, so a service with other errors still gets this one reported.
    for sec in sections
        .iter()
        .filter(|s| s.kind == SectionKind::Service && !s.name.is_empty())
    {
        let Some(n) = nodes else { break };
        for k in ["active_server", "standby_server"] {
            if let Some((v, _)) = sec.get(k) {
                if valid_node(v) && !n.contains(&v) {
                    err(
                        sec.line,
                        format!(
                            "{}: {k} '{v}' is not joined by any [privnet] (the links join {} and {})",
                            sec.label(),
                            n[0],
                            n[1]
                        ),
                    );
                }
            }
        }
    }
    for s in &cfg.services {
        for ip in &s.active_ip {
            if let Some(o) = seen_ip.insert(*ip, s) {
                err(
                    s.line,
                    format!(
                        "[service {}]: address {ip} is also used by [service {}] (line {})",
                        s.name, o.name, o.line
                    ),
                );
            }
        }
        for v in &s.volumes {
            if let Some(o) = seen_mount.insert(&v.mount_point, s) {
                if o.name != s.name {
                    err(
                        s.line,
                        format!(
                            "[service {}]: mount point {} is also used by [service {}] (line {})",
                            s.name, v.mount_point, o.name, o.line
                        ),
                    );
                }
            }
        }
        if let Some(g) = &s.groupid {
            if let Some(o) = groups.get(g.as_str()) {
                if (o.switchback, o.switchback_delay, o.switchback_max)
                    != (s.switchback, s.switchback_delay, s.switchback_max)
                {
                    err(s.line, format!("[service {}]: group '{g}' moves together, but its switchback settings differ from [service {}] (line {})", s.name, o.name, o.line));
                }
                if o.active_server != s.active_server || o.standby_server != s.standby_server {
                    err(s.line, format!("[service {}]: group '{g}' moves together, but its servers differ from [service {}] (line {})", s.name, o.name, o.line));
                }
            } else {
                groups.insert(g, s);
            }
        }
    }
}
