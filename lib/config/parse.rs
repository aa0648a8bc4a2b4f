//! The file's structure: lines, comments, sections and their keys, and `parse`, which reports every
//! problem at once.

use super::*;

pub(super) const LINK_KEYS: [&str; 12] = [
    "type", "priority", "interval", "maxmiss", "host1", "host2", "ip1", "ip2", "port", "device1",
    "device2", "baudrate",
];
pub(super) const SOCKET_ONLY: [&str; 3] = ["ip1", "ip2", "port"];
pub(super) const RS232_ONLY: [&str; 3] = ["device1", "device2", "baudrate"];
pub(super) const SERVICE_KEYS: [&str; 24] = [
    "type",
    "active_server",
    "standby_server",
    "active_nic",
    "standby_nic",
    "active_ip",
    "subnetmask",
    "prefixlen",
    "agent",
    "start",
    "stop",
    "check_interval",
    "start_timeout",
    "restart_times",
    "switchback",
    "switchback_delay",
    "switchback_max",
    "groupid",
    "volume",
    "sid",
    "server_name",
    "username",
    "path",
    "description",
];
pub(super) const ADMIN_KEYS: [&str; 3] = ["port", "listen", "fence"];
pub(super) const REPEATABLE: [&str; 1] = ["volume"];
pub(super) const BAUD_RATES: [u32; 8] = [1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200];

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub(super) enum SectionKind {
    Privnet,
    Service,
    Admin,
    Alert,
}

impl SectionKind {
    pub(super) fn word(self) -> &'static str {
        match self {
            SectionKind::Privnet => "privnet",
            SectionKind::Service => "service",
            SectionKind::Admin => "admin",
            SectionKind::Alert => "alert",
        }
    }
}

pub(super) struct Section {
    pub(super) kind: SectionKind,
    pub(super) name: String,
    pub(super) line: usize,
    pub(super) entries: Vec<(String, String, usize)>,
}

impl Section {
    pub(super) fn get(&self, key: &str) -> Option<(&str, usize)> {
        self.entries
            .iter()
            .find(|(k, _, _)| k == key)
            .map(|(_, v, l)| (v.as_str(), *l))
    }
    pub(super) fn label(&self) -> String {
        if self.kind == SectionKind::Admin {
            return "[admin]".into();
        }
        format!("[{} {}]", self.kind.word(), self.name)
    }
}

/// Strips a comment. A line whose first non-blank character is `#` is a comment, and so is
/// what follows a section header's `]`; in `key = value` lines every character after `=` is
/// the value, so a value may hold `#` (a path, a password) and is never cut.
pub(super) fn strip_comment(line: &str) -> &str {
    let t = line.trim_start();
    if t.starts_with('#') {
        return "";
    }
    if t.starts_with('[') {
        if let Some(end) = line.find(']') {
            let rest = line[end + 1..].trim_start();
            if rest.is_empty() || rest.starts_with('#') {
                return &line[..end + 1];
            }
        }
    }
    line
}

/// Parses the header of a section line `[kind NAME]`.
pub(super) fn parse_header(t: &str) -> Result<(SectionKind, String), String> {
    let inner = t
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .ok_or(
            "a section header looks like [service NAME], [privnet NAME], [alert NAME] or [admin]",
        )?;
    let mut words = inner.split_whitespace();
    let kind = match words.next() {
        Some("admin") => {
            return match words.next() {
                None => Ok((SectionKind::Admin, "admin".into())),
                Some(_) => Err("[admin] takes no name".into()),
            }
        }
        Some("privnet") => SectionKind::Privnet,
        Some("service") => SectionKind::Service,
        Some("alert") => SectionKind::Alert,
        Some(other) => {
            return Err(format!(
                "unknown section kind '{other}' (expected privnet, service, alert or admin)"
            ))
        }
        None => return Err("empty section header".into()),
    };
    let name = words
        .next()
        .ok_or_else(|| format!("[{}] needs a name", kind.word()))?;
    if words.next().is_some() {
        return Err(format!("[{} {name} ...]: one name only", kind.word()));
    }
    if !valid_name(name) {
        return Err(format!(
            "'{name}' is not a valid name (1 to 32 letters, digits, '_' or '-', starting with a letter or digit)"
        ));
    }
    Ok((kind, name.to_string()))
}

/// Parses and validates a configuration; `file` is how errors name it.
pub fn parse(file: &str, text: &str) -> Result<Config, Diags> {
    if text.len() > MAX_FILE {
        return Err(Diags {
            file: file.to_string(),
            list: vec![Diag {
                line: 1,
                message: format!(
                    "the file has {} bytes; a configuration holds at most {MAX_FILE} bytes",
                    text.len()
                ),
            }],
        });
    }
    let mut diags: Vec<Diag> = Vec::new();
    let mut err = |line: usize, message: String| diags.push(Diag { line, message });
    let mut sections: Vec<Section> = Vec::new();
    // Linear in the number of sections, whatever the file holds.
    let mut first_at: HashMap<(SectionKind, String), usize> = HashMap::new();

    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        if raw.len() > MAX_LINE {
            err(
                n,
                format!(
                    "the line has {} bytes; a line holds at most {MAX_LINE}",
                    raw.len()
                ),
            );
            continue;
        }
        let t = strip_comment(raw).trim();
        if t.is_empty() {
            continue;
        }
        if let Some(c) = t.chars().find(|c| c.is_control() && *c != '\t') {
            err(
                n,
                format!(
                    "the line holds the control character {:?}; values are plain text",
                    c
                ),
            );
            continue;
        }
        if t.starts_with('[') {
            match parse_header(t) {
                Ok((kind, name)) => {
                    if let Some(prev) = first_at.get(&(kind, name.clone())) {
                        err(
                            n,
                            format!(
                                "[{} {name}] is defined twice (first at line {prev})",
                                kind.word(),
                            ),
                        );
                    } else {
                        first_at.insert((kind, name.clone()), n);
                    }
                    sections.push(Section {
                        kind,
                        name,
                        line: n,
                        entries: Vec::new(),
                    });
                }
                Err(m) => {
                    err(n, m);
                    // Swallow the section's keys instead of reporting each as misplaced.
                    sections.push(Section {
                        kind: SectionKind::Service,
                        name: String::new(),
                        line: n,
                        entries: Vec::new(),
                    });
                }
            }
            continue;
        }
        let Some((k, v)) = t.split_once('=') else {
            err(n, format!("expected 'key = value', found '{}'", shown(t)));
            continue;
        };
        let key = k.trim().to_ascii_lowercase();
        let value = v.trim().to_string();
        let Some(sec) = sections.last_mut() else {
            err(
                n,
                format!(
                    "'{key}' is outside any section; put it under [service NAME] or [privnet NAME]"
                ),
            );
            continue;
        };
        if sec.name.is_empty() {
            continue;
        }
        let allowed: &[&str] = match sec.kind {
            SectionKind::Privnet => &LINK_KEYS,
            SectionKind::Service => &SERVICE_KEYS,
            SectionKind::Admin => &ADMIN_KEYS,
            SectionKind::Alert => &ALERT_KEYS,
        };
        // ha_NAME: a parameter for the service's OCF agent (OCF_RESKEY_NAME).
        let agent_param = sec.kind == SectionKind::Service
            && key.strip_prefix("ha_").is_some_and(|p| {
                !p.is_empty()
                    && p.len() <= 48
                    && p.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            });
        if !allowed.contains(&key.as_str()) && !agent_param {
            err(
                n,
                format!(
                    "unknown key '{}' in {} (known: {}{})",
                    shown(&key),
                    sec.label(),
                    allowed.join(" "),
                    if sec.kind == SectionKind::Service {
                        ", and ha_NAME for an OCF agent's parameter NAME"
                    } else {
                        ""
                    }
                ),
            );
            continue;
        }
        if value.is_empty() {
            err(n, format!("{}: '{key}' has no value", sec.label()));
            continue;
        }
        if !REPEATABLE.contains(&key.as_str()) {
            if let Some((_, first)) = sec.get(&key) {
                err(
                    n,
                    format!(
                        "{}: '{key}' is given twice (first at line {first})",
                        sec.label()
                    ),
                );
                continue;
            }
        }
        sec.entries.push((key, value, n));
    }

    let count = |k: SectionKind| sections.iter().filter(|s| s.kind == k).count();
    let (services, links) = (count(SectionKind::Service), count(SectionKind::Privnet));
    let alerts = count(SectionKind::Alert);
    let mut cfg = Config::default();
    if alerts > MAX_ALERTS {
        let line = sections
            .iter()
            .filter(|s| s.kind == SectionKind::Alert)
            .nth(MAX_ALERTS)
            .map_or(1, |s| s.line);
        err(
            line,
            format!("{alerts} [alert] sections; a cluster has at most {MAX_ALERTS}"),
        );
    }
    if services > MAX_SERVICES || links > MAX_LINKS {
        // Too big to be a mistake worth checking section by section.
        err(
            1,
            format!(
                "{services} services and {links} links; a cluster has at most {MAX_SERVICES} services and {MAX_LINKS} links"
            ),
        );
    } else {
        for sec in sections.iter().filter(|s| !s.name.is_empty()) {
            match sec.kind {
                SectionKind::Privnet => {
                    if let Some(l) = build_link(sec, &mut err) {
                        cfg.links.push(l);
                    }
                }
                SectionKind::Service => {
                    if let Some(s) = build_service(sec, &mut err) {
                        cfg.services.push(s);
                    }
                }
                SectionKind::Admin => cfg.admin = build_admin(sec, &mut err),
                SectionKind::Alert => {
                    if let Some(a) = build_alert(sec, &mut err) {
                        cfg.alerts.push(a);
                    }
                }
            }
        }
        cross_check(&cfg, &sections, &mut err);
        cfg.index_services();
    }

    if diags.is_empty() {
        Ok(cfg)
    } else {
        diags.sort_by_key(|d| d.line);
        if diags.len() > MAX_DIAGS {
            let more = diags.len() - MAX_DIAGS;
            diags.truncate(MAX_DIAGS);
            let line = diags.last().map_or(1, |d| d.line);
            diags.push(Diag {
                line,
                message: format!("... and {more} more errors"),
            });
        }
        Err(Diags {
            file: file.to_string(),
            list: diags,
        })
    }
}
