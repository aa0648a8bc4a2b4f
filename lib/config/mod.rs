//! `$HAHOME/etc/sureha.conf` (DESIGN §3): parsing, validation and section edits.
//!
//! INI-like: `key = value` lines, `#` comments (whole lines, or after a section header: a value
//! may hold `#`), sections `[privnet NAME]` and `[service NAME]`. Every problem of a file is
//! collected and reported at once as `FILE:LINE: message`. Edits (`haadm service create`,
//! `remove`) work on the text, so comments and order survive, and the result is parsed again
//! before it is used.
//!
//! Here the types and limits; `parse` the file's structure, `build` sections into links and
//! services and the checks across them, `values` the value syntaxes, `edit` the text edits.

use crate::clock::Millis;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

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
pub(super) const MAX_DIAGS: usize = 100;

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
        ip1: IpAddr,
        ip2: IpAddr,
        port: u16,
    },
    Rs232 {
        device1: String,
        device2: String,
        baudrate: u32,
    },
    /// A shared lease device (the `disk` module): heartbeats and the volume lock.
    Disk {
        device1: String,
        device2: String,
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
            LinkKind::Disk { .. } => "disk",
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

pub use build::BUILTIN_SCRIPTS;

pub const SERVICE_TYPES: [&str; 10] = [
    "NFS", "ORACLE", "SYBASE", "INFORMIX", "WWW", "PGSQL", "MYSQL", "USERDEF", "OCF", "LSB",
];

/// The keys a service type needs (DESIGN §12), and what each one is.
pub fn type_keys(stype: &str) -> &'static [(&'static str, &'static str)] {
    match stype {
        "WWW" => &[(
            "path",
            "the document root or the web server's configuration",
        )],
        "NFS" => &[("path", "the exported directory")],
        "ORACLE" => &[
            ("sid", "the database's SID"),
            ("username", "who runs sqlplus"),
        ],
        "SYBASE" => &[
            ("server_name", "the dataserver's name"),
            ("username", "who runs isql"),
        ],
        "INFORMIX" => &[
            ("server_name", "INFORMIXSERVER"),
            ("username", "who runs onstat"),
            ("path", "INFORMIXDIR"),
        ],
        "PGSQL" => &[("path", "the data directory")],
        "MYSQL" => &[("path", "the data directory")],
        "OCF" => &[("agent", "ocf:PROVIDER:NAME, an OCF resource agent")],
        "LSB" => &[("agent", "lsb:NAME, the init script /etc/init.d/NAME")],
        _ => &[],
    }
}

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
    /// IPv4 and IPv6 addresses, in the order given.
    pub active_ip: Vec<IpAddr>,
    /// The IPv4 addresses' prefix (`subnetmask`), and the IPv6 ones' (`prefixlen`).
    pub prefix: u8,
    pub prefix6: u8,
    /// The agent program hasvrd runs (for an OCF or LSB agent, SureHA's adapter).
    pub agent: Option<String>,
    /// `ocf:PROVIDER:NAME` or `lsb:NAME`, as the `agent` key gives it.
    pub resource: Option<String>,
    pub start: String,
    pub stop: String,
    pub check_interval: Millis,
    pub start_timeout: Millis,
    pub restart_times: u32,
    pub switchback: bool,
    /// How long the returning `active_server` must have been able to run the service
    /// before it moves back (0: at once).
    pub switchback_delay: Millis,
    /// Switch-backs allowed in an hour; past it the service stays (0: no limit).
    pub switchback_max: u32,
    pub groupid: Option<String>,
    pub volumes: Vec<Volume>,
    /// Every key as written, in file order (for `review` and the scripts' `HA_*`).
    pub keys: Vec<(String, String)>,
}

impl Service {
    /// An address's prefix length: `subnetmask`'s for IPv4, `prefixlen` for IPv6.
    pub fn prefix_of(&self, ip: &IpAddr) -> u8 {
        if ip.is_ipv4() {
            self.prefix
        } else {
            self.prefix6
        }
    }
    /// The other server of this service.
    pub fn other_server(&self, node: &str) -> &str {
        if node == self.active_server {
            &self.standby_server
        } else {
            &self.active_server
        }
    }

    /// The device a volume of this service has on `node` (its standby's when not active).
    pub fn device_on<'a>(&self, v: &'a Volume, node: &str) -> &'a str {
        if node == self.active_server {
            &v.active_dev
        } else {
            &v.backup_dev
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

    /// The files this service runs or sources, for readiness and drift (DESIGN §13): role,
    /// program name (under `$HAHOME/bin` unless absolute), and whether it must be executable.
    /// Shipped type scripts bring their libraries; an OCF or LSB agent its own program.
    pub fn files_used(&self) -> Vec<(&'static str, String, bool)> {
        let mut v = vec![
            ("start script", self.start.clone(), true),
            ("stop script", self.stop.clone(), true),
        ];
        if let Some(a) = &self.agent {
            v.push(("agent", a.clone(), true));
        }
        let key = |k: &str| {
            self.keys
                .iter()
                .find(|(x, _)| x == k)
                .map(|(_, v)| v.as_str())
        };
        let family = match &self.resource {
            Some(r) => r.get(..3).unwrap_or("").to_string(),
            None => self.stype.to_ascii_lowercase(),
        };
        let shipped = |n: &str| {
            n == format!("{family}_start.sh")
                || n == format!("{family}_stop.sh")
                || n == format!("ha_ag_{family}.sh")
        };
        if BUILTIN_SCRIPTS.contains(&family.as_str())
            && [Some(&self.start), Some(&self.stop), self.agent.as_ref()]
                .into_iter()
                .flatten()
                .any(|n| shipped(n))
        {
            v.push(("type library", format!("{family}_common.sh"), false));
            v.push(("type library", "shipped_lib.sh".into(), false));
        }
        match self.resource.as_deref() {
            Some(r) if r.starts_with("ocf:") => {
                let mut f = r["ocf:".len()..].split(':');
                if let (Some(p), Some(n)) = (f.next(), f.next()) {
                    let root = key("ha_ocf_root").unwrap_or("/usr/lib/ocf");
                    v.push(("OCF agent", format!("{root}/resource.d/{p}/{n}"), true));
                }
            }
            Some(r) if r.starts_with("lsb:") => {
                let dir = key("ha_initdir").unwrap_or("/etc/init.d");
                v.push(("init script", format!("{dir}/{}", &r["lsb:".len()..]), true));
            }
            _ => {}
        }
        v
    }

    /// The agent's `INTERVAL` argument: check_interval in whole seconds, rounded up, at least 1.
    pub fn agent_interval_secs(&self) -> u64 {
        self.check_interval.div_ceil(1000).max(1)
    }
}

/// What a node does to itself when it cannot let go of a volume (`[admin] fence`).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Fence {
    /// Immediate reboot, no sync.
    #[default]
    Reboot,
    Halt,
    /// Nothing: the service stays in ERROR where it is, and does not move.
    Nothing,
    /// An absolute program path, run with the reason as its argument.
    Program(String),
}

/// `[admin]`: the admin door and the fence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Admin {
    pub port: u16,
    /// Addresses to listen on (IPv4 or IPv6); empty: every IPv4 address of the node.
    pub listen: Vec<IpAddr>,
    pub fence: Fence,
}

impl Default for Admin {
    fn default() -> Admin {
        Admin {
            port: 7011,
            listen: Vec::new(),
            fence: Fence::Reboot,
        }
    }
}

/// A whole, valid configuration.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Config {
    pub links: Vec<Link>,
    pub services: Vec<Service>,
    pub admin: Admin,
    pub alerts: Vec<Alert>,
    /// Where each service is in `services` (the engine looks services up by name many
    /// times a pass: with 256 of them a scan each time was most of its work).
    index: BTreeMap<String, usize>,
}

impl Config {
    pub fn service(&self, name: &str) -> Option<&Service> {
        match self.index.get(name).and_then(|&i| self.services.get(i)) {
            Some(s) if s.name == name => Some(s),
            // Not indexed (changed after `index_services`): look the slow way.
            _ => self.services.iter().find(|s| s.name == name),
        }
    }

    /// Indexes the services by name (after they are all in).
    pub fn index_services(&mut self) {
        self.index = self
            .services
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.clone(), i))
            .collect();
    }
    /// Whether some `[alert]` section wants to be told of this event.
    pub fn wants_alert(&self, event: AlertEvent) -> bool {
        self.alerts.iter().any(|a| a.wants(event))
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
    /// What is valid but risky, as diagnostics (`haadm check` prints them as warnings).
    pub fn warnings(&self) -> Vec<Diag> {
        let has_disk = self
            .links
            .iter()
            .any(|l| matches!(l.kind, LinkKind::Disk { .. }));
        self.services
            .iter()
            .filter(|s| !s.volumes.is_empty() && !has_disk)
            .map(|s| Diag {
                line: s.line,
                message: format!(
                    "[service {}] has volumes but there is no disk link: volume exclusivity rests on the network links (add a [privnet] of type disk)",
                    s.name
                ),
            })
            .collect()
    }

    /// Checks that `node` may run this configuration.
    pub fn check_node(&self, node: &str) -> Result<(), String> {
        match self.nodes() {
            // A node alone, before its first link: it runs, and waits for one.
            None if self.services.is_empty() => Ok(()),
            None => Err("no [privnet] section: a node cannot know its peer without a link".into()),
            Some((a, b)) if node != a && node != b => Err(format!(
                "this node is '{node}' (HANODE or uname -n), but the configuration's nodes are '{a}' and '{b}'"
            )),
            Some(_) => Ok(()),
        }
    }
}

/// Reads and parses a configuration file (`$HAHOME/etc/sureha.conf`: `Home::config`); the
/// error names the file, and for a file that does not parse, every error in it.
pub fn read(path: &std::path::Path) -> Result<(Config, String), String> {
    let text = crate::files::read_regular_text(path, MAX_FILE)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let cfg = parse(&path.display().to_string(), &text).map_err(|d| d.to_string())?;
    Ok((cfg, text))
}

/// How long a command about `service` may take before its caller is told it is not done: a
/// start and a stop per allowed restart, and some. haadm waits this long too.
pub fn waiting_limit(service: Option<&Service>) -> Millis {
    service.map_or(60_000, |c| {
        2 * c.start_timeout * (c.restart_times as Millis + 2) + 30_000
    })
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
pub fn valid_node(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
}

mod alert;
mod build;
mod edit;
mod parse;
mod values;

use alert::*;
pub use alert::{Alert, AlertEvent, MAX_ALERTS};
use build::*;
pub use edit::{add_section, parse_assignments, remove_section};
pub use parse::parse;
use parse::*;
use values::*;
pub use values::{mask_to_prefix, parse_addresses, parse_duration};

#[cfg(test)]
mod tests;
