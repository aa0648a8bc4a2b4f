//! `$HAHOME/etc/sureha.conf` (DESIGN §3): parsing, validation and section edits.
//!
//! INI-like: `key = value` lines, `#` comments (whole line, or after white space), sections
//! `[privnet NAME]` and `[service NAME]`. Every problem of a file is collected and reported at
//! once as `FILE:LINE: message`. Edits (`haadm service create`, `remove`) work on the text, so
//! comments and order survive, and the result is parsed again before it is used.

use crate::clock::Millis;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::Ipv4Addr;

/// The largest configuration file read or accepted from the peer. It travels to the peer in
/// pieces (`frame`), so every size up to this works; a larger one is refused with this error.
pub const MAX_FILE: usize = 1 << 20;
/// The longest line: a value longer than this is a mistake, not a setting.
pub const MAX_LINE: usize = 4096;
/// At most this many services and links: a beat carries every service and must stay small
/// enough for a serial line (`link::MAX_SERIAL_FRAME`).
pub const MAX_SERVICES: usize = 256;
pub const MAX_LINKS: usize = 16;
/// Errors reported for one file; past this a last line says how many more there were.
const MAX_DIAGS: usize = 100;

/// Text of a value or line as an error quotes it: at most 60 characters, control
/// characters escaped, so a huge or binary value cannot flood the log.
pub fn shown(v: &str) -> String {
    let mut out: String = v.chars().take(60).flat_map(char::escape_debug).collect();
    if v.chars().count() > 60 {
        out.push('…');
    }
    out
}

/// One configuration problem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diag {
    pub line: usize,
    pub message: String,
}

/// All problems of one file, printed one a line as `FILE:LINE: message`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diags {
    pub file: String,
    pub list: Vec<Diag>,
}

impl fmt::Display for Diags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.list.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}:{}: {}", self.file, d.line, d.message)?;
        }
        Ok(())
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkKind {
    Socket {
        ip1: Ipv4Addr,
        ip2: Ipv4Addr,
        port: u16,
    },
    Rs232 {
        device1: String,
        device2: String,
        baudrate: u32,
    },
}

/// A `[privnet NAME]` heartbeat link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    pub name: String,
    pub line: usize,
    pub kind: LinkKind,
    pub priority: u32,
    pub interval: Millis,
    pub maxmiss: u32,
    pub host1: String,
    pub host2: String,
}

impl Link {
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            LinkKind::Socket { .. } => "socket",
            LinkKind::Rs232 { .. } => "rs232",
        }
    }
    /// How long the link may stay silent before it is down.
    pub fn dead_after(&self) -> Millis {
        self.interval * self.maxmiss as Millis
    }
}

/// A shared-disk volume of a service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Volume {
    pub active_dev: String,
    pub backup_dev: String,
    pub mount_point: String,
}

pub const SERVICE_TYPES: [&str; 6] = ["NFS", "ORACLE", "SYBASE", "INFORMIX", "WWW", "USERDEF"];

/// A `[service NAME]` protected service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Service {
    pub name: String,
    pub line: usize,
    pub stype: String,
    pub active_server: String,
    pub standby_server: String,
    pub active_nic: Vec<String>,
    pub standby_nic: Vec<String>,
    pub active_ip: Vec<Ipv4Addr>,
    pub prefix: u8,
    pub agent: Option<String>,
    pub start: String,
    pub stop: String,
    pub check_interval: Millis,
    pub start_timeout: Millis,
    pub restart_times: u32,
    pub switchback: bool,
    pub groupid: Option<String>,
    pub volumes: Vec<Volume>,
    /// Every key as written, in file order (for `review` and the scripts' `HA_*`).
    pub keys: Vec<(String, String)>,
}

impl Service {
    /// The other server of this service.
    pub fn other_server(&self, node: &str) -> &str {
        if node == self.active_server {
            &self.standby_server
        } else {
            &self.active_server
        }
    }

    /// NICs, in order of preference, that may hold the addresses on `node`.
    pub fn nics_on(&self, node: &str) -> &[String] {
        if node == self.active_server {
            &self.active_nic
        } else {
            &self.standby_nic
        }
    }

    /// `HA_KEY=value` for the scripts; repeated keys are joined with `;`.
    pub fn environment(&self) -> Vec<(String, String)> {
        let mut env: BTreeMap<String, String> = BTreeMap::new();
        for (k, v) in &self.keys {
            let key = format!("HA_{}", k.to_ascii_uppercase());
            env.entry(key)
                .and_modify(|old| {
                    old.push(';');
                    old.push_str(v)
                })
                .or_insert_with(|| v.clone());
        }
        env.insert("HA_NAME".into(), self.name.clone());
        env.into_iter().collect()
    }

    /// The agent's `INTERVAL` argument: check_interval in whole seconds, rounded up, at least 1.
    pub fn agent_interval_secs(&self) -> u64 {
        self.check_interval.div_ceil(1000).max(1)
    }
}

/// A whole, valid configuration.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Config {
    pub links: Vec<Link>,
    pub services: Vec<Service>,
}

impl Config {
    pub fn service(&self, name: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.name == name)
    }
    pub fn link(&self, name: &str) -> Option<&Link> {
        self.links.iter().find(|l| l.name == name)
    }
    /// The cluster's two node names, as the first link names them.
    pub fn nodes(&self) -> Option<(&str, &str)> {
        self.links
            .first()
            .map(|l| (l.host1.as_str(), l.host2.as_str()))
    }
    /// The UDP port of the public-network check: the first socket link's port plus one
    /// (3001 with serial links only).
    pub fn public_port(&self) -> u16 {
        self.links
            .iter()
            .find_map(|l| match l.kind {
                LinkKind::Socket { port, .. } => Some(port.wrapping_add(1)),
                _ => None,
            })
            .unwrap_or(3001)
    }

    /// Every NIC this node's services may hold addresses on, in order.
    pub fn nics_of(&self, node: &str) -> Vec<String> {
        let mut v: Vec<String> = Vec::new();
        for s in &self.services {
            if s.active_server == node || s.standby_server == node {
                for n in s.nics_on(node) {
                    if !v.contains(n) {
                        v.push(n.clone());
                    }
                }
            }
        }
        v
    }

    /// The other node of the cluster.
    pub fn peer_of(&self, node: &str) -> Option<&str> {
        let (a, b) = self.nodes()?;
        if node == a {
            Some(b)
        } else if node == b {
            Some(a)
        } else {
            None
        }
    }
    /// Checks that `node` may run this configuration.
    pub fn check_node(&self, node: &str) -> Result<(), String> {
        match self.nodes() {
            None => Err("no [privnet] section: a node cannot know its peer without a link".into()),
            Some((a, b)) if node != a && node != b => Err(format!(
                "this node is '{node}' (HANODE or uname -n), but the configuration's nodes are '{a}' and '{b}'"
            )),
            Some(_) => Ok(()),
        }
    }
}

/// Names of sections, services and links: what fits a file name and a log line.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 32
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Node names as `uname -n` gives them.
fn valid_node(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
}

/// Parses a duration: `5`, `5s`, `1.5s`, `100ms`.
pub fn parse_duration(v: &str) -> Result<Millis, String> {
    let (num, scale) = if let Some(n) = v.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1000.0)
    } else {
        (v, 1000.0)
    };
    let ok = !num.is_empty()
        && num.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && num.bytes().filter(|&b| b == b'.').count() <= 1;
    let x: f64 = if ok {
        num.parse().map_err(|_| ())
    } else {
        Err(())
    }
    .map_err(|_| format!("'{v}' is not a duration (examples: 5, 5s, 1.5s, 100ms)"))?;
    let ms = (x * scale).round();
    if ms > 1e12 {
        return Err(format!("'{v}' is too long"));
    }
    Ok(ms as Millis)
}

/// Parses `a.b.c.d`, several separated by spaces, or ranges `a.b.c.d~a.b.c.e`.
pub fn parse_addresses(v: &str) -> Result<Vec<Ipv4Addr>, String> {
    let mut out = Vec::new();
    for word in v.split_whitespace() {
        if let Some((a, b)) = word.split_once('~') {
            let a: Ipv4Addr = a
                .parse()
                .map_err(|_| format!("'{a}' is not an IPv4 address (in range '{word}')"))?;
            let b: Ipv4Addr = b
                .parse()
                .map_err(|_| format!("'{b}' is not an IPv4 address (in range '{word}')"))?;
            let (lo, hi) = (u32::from(a), u32::from(b));
            if hi < lo {
                return Err(format!("range '{word}' ends before it starts"));
            }
            if hi - lo >= 256 {
                return Err(format!("range '{word}' holds more than 256 addresses"));
            }
            out.extend((lo..=hi).map(Ipv4Addr::from));
        } else {
            out.push(
                word.parse()
                    .map_err(|_| format!("'{word}' is not an IPv4 address"))?,
            );
        }
    }
    if out.is_empty() {
        return Err("no address given".into());
    }
    Ok(out)
}

/// Netmask to prefix length; the mask must be contiguous.
pub fn mask_to_prefix(v: &str) -> Result<u8, String> {
    let m: Ipv4Addr = v
        .parse()
        .map_err(|_| format!("'{v}' is not a netmask like 255.255.255.0"))?;
    let bits = u32::from(m);
    let prefix = bits.leading_ones();
    if bits.checked_shl(prefix).unwrap_or(0) != 0 {
        return Err(format!("netmask '{v}' is not contiguous"));
    }
    Ok(prefix as u8)
}

fn parse_int(v: &str, lo: u64, hi: u64) -> Result<u64, String> {
    // Digits only: no sign, no blanks (str::parse would take "+5").
    let n: u64 = Some(v)
        .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("'{}' is not a whole number", shown(v)))?;
    if n < lo || n > hi {
        return Err(format!("{n} is out of range {lo}–{hi}"));
    }
    Ok(n)
}

fn parse_duration_in(v: &str, lo: Millis, hi: Millis) -> Result<Millis, String> {
    let ms = parse_duration(v)?;
    if ms < lo || ms > hi {
        return Err(format!(
            "{v} is out of range {}–{}",
            crate::clock::human(lo),
            crate::clock::human(hi)
        ));
    }
    Ok(ms)
}

fn parse_yes_no(v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "yes" | "y" | "true" | "on" | "1" => Ok(true),
        "no" | "n" | "false" | "off" | "0" => Ok(false),
        _ => Err(format!("'{v}' is not yes or no")),
    }
}

fn parse_list(v: &str) -> Vec<String> {
    v.split(|c: char| c.is_whitespace() || c == ',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

const LINK_KEYS: [&str; 12] = [
    "type", "priority", "interval", "maxmiss", "host1", "host2", "ip1", "ip2", "port", "device1",
    "device2", "baudrate",
];
const SOCKET_ONLY: [&str; 3] = ["ip1", "ip2", "port"];
const RS232_ONLY: [&str; 3] = ["device1", "device2", "baudrate"];
const SERVICE_KEYS: [&str; 21] = [
    "type",
    "active_server",
    "standby_server",
    "active_nic",
    "standby_nic",
    "active_ip",
    "subnetmask",
    "agent",
    "start",
    "stop",
    "check_interval",
    "start_timeout",
    "restart_times",
    "switchback",
    "groupid",
    "volume",
    "sid",
    "server_name",
    "username",
    "path",
    "description",
];
const REPEATABLE: [&str; 1] = ["volume"];
const BAUD_RATES: [u32; 8] = [1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200];

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum SectionKind {
    Privnet,
    Service,
}

impl SectionKind {
    fn word(self) -> &'static str {
        match self {
            SectionKind::Privnet => "privnet",
            SectionKind::Service => "service",
        }
    }
}

struct Section {
    kind: SectionKind,
    name: String,
    line: usize,
    entries: Vec<(String, String, usize)>,
}

impl Section {
    fn get(&self, key: &str) -> Option<(&str, usize)> {
        self.entries
            .iter()
            .find(|(k, _, _)| k == key)
            .map(|(_, v, l)| (v.as_str(), *l))
    }
    fn label(&self) -> String {
        format!("[{} {}]", self.kind.word(), self.name)
    }
}

/// Strips a comment. A line whose first non-blank character is `#` is a comment, and so is
/// what follows a section header's `]`; in `key = value` lines every character after `=` is
/// the value, so a value may hold `#` (a path, a password) and is never cut.
fn strip_comment(line: &str) -> &str {
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
fn parse_header(t: &str) -> Result<(SectionKind, String), String> {
    let inner = t
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .ok_or("a section header looks like [service NAME] or [privnet NAME]")?;
    let mut words = inner.split_whitespace();
    let kind = match words.next() {
        Some("privnet") => SectionKind::Privnet,
        Some("service") => SectionKind::Service,
        Some(other) => {
            return Err(format!(
                "unknown section kind '{other}' (expected privnet or service)"
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
        };
        if !allowed.contains(&key.as_str()) {
            err(
                n,
                format!(
                    "unknown key '{}' in {} (known: {})",
                    shown(&key),
                    sec.label(),
                    allowed.join(" ")
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
    let mut cfg = Config::default();
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
            }
        }
        cross_check(&cfg, &sections, &mut err);
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

/// Looks up a key, parses it, reports a bad value at its line; `None` when absent or bad.
fn value<T>(
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

fn required<'a>(
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

fn node_name(sec: &Section, key: &str, err: &mut impl FnMut(usize, String)) -> Option<String> {
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

fn build_link(sec: &Section, err: &mut impl FnMut(usize, String)) -> Option<Link> {
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
            let ip = |k: &str, err: &mut dyn FnMut(usize, String)| -> Option<Ipv4Addr> {
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
                            format!("{}: {k}: '{v}' is not an IPv4 address", sec.label()),
                        );
                        None
                    }
                }
            };
            let ip1 = ip("ip1", err);
            let ip2 = ip("ip2", err);
            let port = value(sec, "port", err, |v| parse_int(v, 1, 65535)).unwrap_or(3000) as u16;
            LinkKind::Socket {
                ip1: ip1?,
                ip2: ip2?,
                port,
            }
        }
        Some("rs232") => {
            wrong_keys(&SOCKET_ONLY, "socket", err);
            let dev = |k: &str, err: &mut dyn FnMut(usize, String)| -> Option<String> {
                match sec.get(k) {
                    Some((v, _)) if v.starts_with('/') => Some(v.to_string()),
                    Some((v, l)) => {
                        err(
                            l,
                            format!(
                                "{}: {k}: '{v}' is not a device path like /dev/ttyS0",
                                sec.label()
                            ),
                        );
                        None
                    }
                    None => {
                        err(
                            sec.line,
                            format!("{}: '{k}' is required for an rs232 link", sec.label()),
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
            LinkKind::Rs232 {
                device1: device1?,
                device2: device2?,
                baudrate,
            }
        }
        Some(other) => {
            let l = sec.get("type").map_or(sec.line, |(_, l)| l);
            err(
                l,
                format!("{}: type: '{other}' is not socket or rs232", sec.label()),
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

fn build_service(sec: &Section, err: &mut impl FnMut(usize, String)) -> Option<Service> {
    let stype = value(sec, "type", err, |v| {
        let up = v.to_ascii_uppercase();
        if SERVICE_TYPES.contains(&up.as_str()) {
            Ok(up)
        } else {
            Err(format!("'{v}' is not one of {}", SERVICE_TYPES.join(" ")))
        }
    })
    .unwrap_or_else(|| "USERDEF".into());
    let active_server = node_name(sec, "active_server", err);
    let standby_server = node_name(sec, "standby_server", err);
    let active_ip = value(sec, "active_ip", err, parse_addresses).unwrap_or_default();
    let prefix = value(sec, "subnetmask", err, mask_to_prefix).unwrap_or(24);
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
    let start = program("start", err);
    let stop = program("stop", err);
    for (k, v) in [("start", &start), ("stop", &stop)] {
        if v.is_none() && sec.get(k).is_none() {
            err(sec.line, format!("{}: '{k}' is required", sec.label()));
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
        agent,
        start: start?,
        stop: stop?,
        check_interval,
        start_timeout,
        restart_times,
        switchback,
        groupid,
        volumes,
        keys: sec
            .entries
            .iter()
            .map(|(k, v, _)| (k.clone(), v.clone()))
            .collect(),
    })
}

fn cross_check(cfg: &Config, sections: &[Section], err: &mut impl FnMut(usize, String)) {
    let link_sections = sections
        .iter()
        .filter(|s| s.kind == SectionKind::Privnet)
        .count();
    if link_sections == 0 {
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
    let mut seen_ip: BTreeMap<Ipv4Addr, &Service> = BTreeMap::new();
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
                if o.switchback != s.switchback {
                    err(s.line, format!("[service {}]: group '{g}' moves together, but its switchback differs from [service {}] (line {})", s.name, o.name, o.line));
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

/// The text with a new `[KIND NAME]` section appended.
pub fn add_section(text: &str, kind: &str, name: &str, keys: &[(String, String)]) -> String {
    let mut out = text.to_string();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    if !out.is_empty() && !out.ends_with("\n\n") {
        out.push('\n');
    }
    out.push_str(&format!("[{kind} {name}]\n"));
    for (k, v) in keys {
        out.push_str(&format!("{k} = {v}\n"));
    }
    out
}

/// The text without the `[KIND NAME]` section (its header up to the next header); `None` if
/// there is no such section.
pub fn remove_section(text: &str, kind: &str, name: &str) -> Option<String> {
    let mut out = String::new();
    let mut skipping = false;
    let mut found = false;
    for line in text.lines() {
        let t = strip_comment(line).trim();
        if t.starts_with('[') {
            skipping = matches!(parse_header(t), Ok((k, n)) if k.word() == kind && n == name);
            found |= skipping;
        }
        if !skipping {
            out.push_str(line);
            out.push('\n');
        }
    }
    while out.ends_with("\n\n") {
        out.pop();
    }
    found.then_some(out)
}

/// Splits `KEY=VALUE` words (from `haadm ... create NAME KEY=VALUE...`).
pub fn parse_assignments(words: &[String]) -> Result<Vec<(String, String)>, String> {
    words
        .iter()
        .map(|w| {
            let (k, v) = w
                .split_once('=')
                .ok_or_else(|| format!("'{w}' is not KEY=VALUE"))?;
            let k = k.trim().to_ascii_lowercase();
            if k.is_empty() || !k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return Err(format!("'{w}': bad key"));
            }
            if v.contains('\n') {
                return Err(format!("'{k}': value contains a newline"));
            }
            Ok((k, v.trim().to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
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
        assert!(e[0].contains("control character"), "{e:?}");
        let long = format!("path = {}", "x".repeat(MAX_LINE));
        let e = errors(&GOOD.replace("path = /var/www", &long));
        assert!(e[0].contains("a line holds at most"), "{e:?}");
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
            "f.conf:1: no [privnet NAME] section: the two servers need at least one heartbeat link",
        ]
        );
        let e = errors(&format!(
            "{}[oops x]\nfoo = 1\n[service]\n[service bad/name]\njunk line\n",
            base_link()
        ));
        assert_eq!(e, vec![
            "f.conf:7: unknown section kind 'oops' (expected privnet or service)",
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
            vec!["f.conf:2: [privnet l]: type: 'serial' is not socket or rs232"]
        );
        let e = errors(
            "[privnet l]\ntype = socket\nhost1 = a\nhost2 = a\nip1 = 1.2.3\ndevice1 = /dev/ttyS0\n",
        );
        assert_eq!(
            e,
            vec![
                "f.conf:1: [privnet l]: 'ip2' is required for a socket link",
                "f.conf:5: [privnet l]: ip1: '1.2.3' is not an IPv4 address",
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
            "f.conf:8: [service s]: type: 'db2' is not one of NFS ORACLE SYBASE INFORMIX WWW USERDEF",
            "f.conf:11: [service s]: start: 'run me' must be one program name (no arguments)",
            "f.conf:13: [service s]: volume: expected 'ACTIVE-DEV BACKUP-DEV MOUNT-POINT', found '/dev/x /mnt'",
            "f.conf:14: [service s]: volume: devices and mount point must be absolute paths",
            "f.conf:15: [service s]: subnetmask: netmask '255.0.255.0' is not contiguous",
            "f.conf:16: [service s]: active_ip: '192.0.2.300' is not an IPv4 address",
        ]);
    }

    #[test]
    fn a_group_must_agree_on_servers_and_switchback() {
        let text = format!(
            "{}[service a]\nactive_server = a\nstandby_server = b\nstart = x\nstop = y\ngroupid = g\nswitchback = yes\n[service b]\nactive_server = a\nstandby_server = b\nstart = x\nstop = y\ngroupid = g\n",
            base_link()
        );
        assert_eq!(errors(&text), vec!["f.conf:14: [service b]: group 'g' moves together, but its switchback differs from [service a] (line 7)"]);
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
}
