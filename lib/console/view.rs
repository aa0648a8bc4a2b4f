//! What the page shows, from a node's `haadm status` and log lines: the two servers with
//! their NICs and icon state, the cables, each service's state on each node in the manual's
//! colours (and in words), and the message bar's events. Pure: text in, JSON out.

use super::json::{self, Obj};

/// One cell of a service: its state word on a node, and how the page paints it.
fn cell_class(word: &str, moving: bool) -> (&'static str, &'static str) {
    match word {
        _ if moving => ("moving", "moving"),
        "ACTIVE" | "ACTIVESTB" | "ACTIVEACT" => ("active", "active"),
        "STANDBY" => ("standby", "standby"),
        "OUTACT" | "OUTSTB" => ("out", "out of protection"),
        "ERRORACT" | "ERRORSTB" => ("fault", "fault"),
        _ => ("unknown", "unknown"),
    }
}

struct Service<'a> {
    name: &'a str,
    stype: &'a str,
    cells: Vec<(&'a str, &'a str)>,
}

impl Service<'_> {
    /// Protected, known on both nodes, running on neither and failed on neither: between a
    /// stop on one node and the start on the other.
    fn moving(&self) -> bool {
        self.cells.len() == 2 && self.cells.iter().all(|(_, w)| *w == "STANDBY")
    }
}

/// The page's picture of the cluster, as JSON, from `status` (of node `via`).
pub fn cluster(status: &str, via: &str) -> String {
    let mut nodes: Vec<(&str, &str, bool)> = Vec::new();
    let mut links = Vec::new();
    let mut nics: Vec<(&str, &str, &str)> = Vec::new();
    let mut services: Vec<Service> = Vec::new();
    let mut notes = Vec::new();
    let mut locked = None;
    for line in status.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        match f.as_slice() {
            ["NODE", name, st, rest @ ..] => nodes.push((name, st, rest.first() == Some(&"local"))),
            ["LINK", name, ty, st, ..] => links.push((*name, *ty, *st)),
            ["NIC", node, name, st, ..] => nics.push((node, name, st)),
            ["SERVICE", name, ty, cells @ ..] => services.push(Service {
                name,
                stype: ty,
                cells: cells.iter().filter_map(|c| c.split_once('=')).collect(),
            }),
            ["LOCKED", by, since, ..] => locked = Some(format!("{by} since {since}")),
            ["CLUSTER" | "WARNING" | "LICENSE" | "DISK" | "LOCK" | "MOVE" | "DRIFT", ..] => {
                notes.push(line)
            }
            // A node that could not take a service over is worth a note; one that could is not.
            ["READY", _, _, "no", ..] => notes.push(line),
            _ => {}
        }
    }
    let mut o = Obj::new();
    o.str("via", via);
    let node_list: Vec<String> = nodes
        .iter()
        .map(|(name, st, local)| {
            let (icon, label) = server_icon(name, st, &services);
            let mut n = Obj::new();
            n.str("name", name)
                .str("status", st)
                .bool("local", *local)
                .str("icon", icon)
                .str("label", label);
            let mine: Vec<String> = nics
                .iter()
                .filter(|(node, _, _)| node == name)
                .map(|(_, nic, st)| {
                    let mut x = Obj::new();
                    x.str("name", nic).str("state", st);
                    x.end()
                })
                .collect();
            n.raw("nics", &json::array(&mine));
            n.end()
        })
        .collect();
    o.raw("nodes", &json::array(&node_list));
    let link_list: Vec<String> = links
        .iter()
        .map(|(name, ty, st)| {
            let mut x = Obj::new();
            x.str("name", name).str("type", ty).str("state", st);
            x.end()
        })
        .collect();
    o.raw("links", &json::array(&link_list));
    let svc_list: Vec<String> = services
        .iter()
        .map(|s| {
            let moving = s.moving();
            let cells: Vec<String> = s
                .cells
                .iter()
                .map(|(node, word)| {
                    let (class, label) = cell_class(word, moving);
                    let mut c = Obj::new();
                    c.str("node", node)
                        .str("word", word)
                        .str("class", class)
                        .str("label", label);
                    c.end()
                })
                .collect();
            let mut x = Obj::new();
            x.str("name", s.name)
                .str("type", s.stype)
                .bool("moving", moving)
                .raw("cells", &json::array(&cells));
            x.end()
        })
        .collect();
    o.raw("services", &json::array(&svc_list));
    match &locked {
        Some(l) => o.str("locked", l),
        None => o.raw("locked", "null"),
    };
    let notes: Vec<String> = notes.iter().map(|n| json::string(n)).collect();
    o.raw("notes", &json::array(&notes));
    o.end()
}

/// The icon of a server: down, faulty, in transition, active, standby or idle.
fn server_icon(node: &str, status: &str, services: &[Service]) -> (&'static str, &'static str) {
    if matches!(status, "DOWN" | "UNKNOWN") {
        return ("down", "down");
    }
    let words: Vec<(&str, bool)> = services
        .iter()
        .flat_map(|s| {
            let moving = s.moving();
            s.cells
                .iter()
                .filter(|(n, _)| *n == node)
                .map(move |(_, w)| (*w, moving))
        })
        .collect();
    let any = |class: &str| words.iter().any(|(w, m)| cell_class(w, *m).0 == class);
    if any("fault") {
        ("faulty", "faulty")
    } else if any("moving") {
        ("transition", "in transition")
    } else if any("active") {
        ("active", "active")
    } else if any("standby") {
        ("standby", "standby")
    } else {
        ("idle", "idle")
    }
}

/// One log line for the message bar: `YYYY-MM-DD HH:MM:SS.mmm NODE PROGRAM LEVEL text`.
pub struct Event {
    pub time: String,
    pub node: String,
    pub level: String,
    pub text: String,
}

pub fn event(line: &str) -> Option<Event> {
    let mut f = line.splitn(6, ' ');
    let (date, time, node, _program, level, text) = (
        f.next()?,
        f.next()?,
        f.next()?,
        f.next()?,
        f.next()?,
        f.next().unwrap_or(""),
    );
    if !matches!(level, "INFO" | "WARNING" | "ERROR") || date.len() != 10 {
        return None;
    }
    Some(Event {
        time: format!("{date} {time}"),
        node: node.to_string(),
        level: level.to_string(),
        text: text.to_string(),
    })
}

impl Event {
    pub fn json(&self, seq: u64) -> String {
        let mut o = Obj::new();
        o.num("seq", seq)
            .str("time", &self.time)
            .str("node", &self.node)
            .str("level", &self.level)
            .str("text", &self.text);
        o.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = "NODE alpha UP local\nNODE beta UP\nLINK priv socket OK 1/0\nNIC alpha eth0 OK\nNIC beta eth0 ERR\nCONFIG generation=3 SAME\nSERVICE web WWW alpha=ACTIVE beta=STANDBY\nSERVICE db PGSQL alpha=OUTACT beta=OUTSTB\nLOCKED admin@192.0.2.10 2026-11-26T10:00:00\n";

    #[test]
    fn servers_cables_nics_and_services_in_the_manuals_colours() {
        let v = cluster(STATUS, "alpha");
        assert!(v.contains(r#"{"name":"alpha","status":"UP","local":true,"icon":"active","label":"active","nics":[{"name":"eth0","state":"OK"}]}"#), "{v}");
        assert!(v.contains(r#""icon":"standby""#), "{v}");
        assert!(
            v.contains(r#"{"name":"priv","type":"socket","state":"OK"}"#),
            "{v}"
        );
        assert!(
            v.contains(r#"{"node":"alpha","word":"ACTIVE","class":"active","label":"active"}"#),
            "{v}"
        );
        assert!(
            v.contains(
                r#"{"node":"beta","word":"OUTSTB","class":"out","label":"out of protection"}"#
            ),
            "{v}"
        );
        assert!(
            v.contains(r#""locked":"admin@192.0.2.10 since 2026-11-26T10:00:00""#),
            "{v}"
        );
        let moving = cluster(
            "NODE alpha UP local\nNODE beta DOWN\nSERVICE web WWW alpha=STANDBY beta=STANDBY\n",
            "alpha",
        );
        assert!(moving.contains(r#""moving":true"#), "{moving}");
        assert!(moving.contains(r#""icon":"transition""#), "{moving}");
        assert!(moving.contains(r#""icon":"down""#), "{moving}");
    }

    #[test]
    fn log_lines_become_events_and_other_lines_do_not() {
        let e = event("2026-11-26 10:00:00.123 alpha hasvrd ERROR link priv: down").unwrap();
        assert_eq!((e.node.as_str(), e.level.as_str()), ("alpha", "ERROR"));
        assert_eq!(e.text, "link priv: down");
        assert!(event("garbage").is_none());
        assert!(event("2026-11-26 10:00:00.123 alpha hasvrd DEBUG x").is_none());
        assert!(e.json(7).starts_with(r#"{"seq":7,"#));
    }
}
