//! `haadm export pacemaker`: the cluster as a Pacemaker CIB, for sites that outgrow two
//! nodes, which a live Pacemaker runs with no SureHA daemon. Each service becomes a group, in
//! SureHA's start order: its volumes (`ocf:heartbeat:Filesystem`), its addresses
//! (`ocf:heartbeat:IPaddr2`), then the service itself: its OCF agent (its `ha_` keys as
//! parameters), its LSB init script, or `ocf:sureha:service`, which runs the SureHA scripts
//! with the environment hasvrd gives them and monitors with the service's agent run once
//! (installed in `$HAHOME/lib/ocf`). Where the two servers differ (device names, NICs) a rule
//! on `#uname` says which is which. The active server is preferred; `switchback = no` becomes
//! a stickiness that outweighs that preference; `restart_times` the migration threshold, with
//! a comment for what Pacemaker has no word for. Services of one `groupid` are kept together
//! and started in file order. Fencing stays with the administrator: the CIB says so
//! (stonith-enabled=false) in a comment.

use crate::config::{Config, Service};

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// Pacemaker ids: letters, digits, '-', '_' and '.', not starting with a digit. Each kind of
/// id ends in its own word (`-svc`, `-ip-N`, `-group`, `-location`…), so two never meet.
fn id(parts: &[&str]) -> String {
    let raw = parts.join("-");
    let mut s: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if !s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
        s.insert(0, 'r');
    }
    s
}

struct Xml(String);

impl Xml {
    fn line(&mut self, depth: usize, text: &str) {
        for _ in 0..depth {
            self.0.push_str("  ");
        }
        self.0.push_str(text);
        self.0.push('\n');
    }

    /// `instance_attributes` of a primitive: the common values, then per-node ones (a rule
    /// on `#uname`) for the values the two servers see differently.
    fn params(
        &mut self,
        d: usize,
        rsc: &str,
        common: &[(impl AsRef<str>, String)],
        per_node: &[(&str, [(String, String); 2])],
    ) {
        if !common.is_empty() {
            self.line(d, &format!("<instance_attributes id=\"{rsc}-params\">"));
            for (k, v) in common {
                let k = k.as_ref();
                self.line(
                    d + 1,
                    &format!(
                        "<nvpair id=\"{}\" name=\"{k}\" value=\"{}\"/>",
                        id(&[rsc, "params", k]),
                        esc(v)
                    ),
                );
            }
            self.line(d, "</instance_attributes>");
        }
        for (k, nodes) in per_node {
            for (i, (node, v)) in nodes.iter().enumerate() {
                let set = id(&[rsc, k, "on", node]);
                self.line(
                    d,
                    &format!("<instance_attributes id=\"{set}\" score=\"{}\">", 2 - i),
                );
                self.line(d + 1, &format!("<rule id=\"{set}-rule\" score=\"0\">"));
                self.line(d + 2, &format!("<expression id=\"{set}-expr\" attribute=\"#uname\" operation=\"eq\" value=\"{}\"/>", esc(node)));
                self.line(d + 1, "</rule>");
                self.line(
                    d + 1,
                    &format!(
                        "<nvpair id=\"{set}-{k}\" name=\"{k}\" value=\"{}\"/>",
                        esc(v)
                    ),
                );
                self.line(d, "</instance_attributes>");
            }
        }
    }

    fn primitive(&mut self, d: usize, rsc: &str, class: &str, provider: &str, ty: &str) {
        self.line(
            d,
            &format!(
                "<primitive id=\"{rsc}\" class=\"{class}\" provider=\"{}\" type=\"{}\">",
                esc(provider),
                esc(ty)
            ),
        );
    }

    fn monitor(&mut self, d: usize, rsc: &str, interval_ms: u64, timeout_ms: u64) {
        self.line(d, "<operations>");
        self.line(
            d + 1,
            &format!(
                "<op id=\"{rsc}-op-monitor\" name=\"monitor\" interval=\"{}ms\" timeout=\"{}ms\"/>",
                interval_ms.max(1000),
                timeout_ms.max(20_000)
            ),
        );
        self.line(
            d + 1,
            &format!(
                "<op id=\"{rsc}-op-start\" name=\"start\" interval=\"0\" timeout=\"{}ms\"/>",
                timeout_ms.max(20_000)
            ),
        );
        self.line(
            d + 1,
            &format!(
                "<op id=\"{rsc}-op-stop\" name=\"stop\" interval=\"0\" timeout=\"{}ms\"/>",
                timeout_ms.max(20_000)
            ),
        );
        self.line(d, "</operations>");
    }
}

/// The two servers' values of something, when they differ.
fn differ(s: &Service, a: &str, b: &str) -> Option<[(String, String); 2]> {
    (a != b).then(|| {
        [
            (s.active_server.clone(), a.to_string()),
            (s.standby_server.clone(), b.to_string()),
        ]
    })
}

/// How the service itself runs under Pacemaker.
enum Runs<'a> {
    /// Its own OCF agent (provider, type).
    Ocf(&'a str, &'a str),
    /// Its init script, as Pacemaker's lsb class runs it from /etc/init.d.
    Lsb(&'a str),
    /// Its SureHA scripts and agent, through ocf:sureha:service.
    Scripts,
}

fn runs_as(s: &Service) -> Runs<'_> {
    let res = s.resource.as_deref().unwrap_or("");
    if let Some(ocf) = res.strip_prefix("ocf:") {
        let (provider, ty) = ocf.split_once(':').unwrap_or(("heartbeat", ocf));
        return Runs::Ocf(provider, ty);
    }
    // Pacemaker looks for init scripts in /etc/init.d only; another directory (ha_initdir)
    // goes through SureHA's own LSB scripts.
    match res.strip_prefix("lsb:") {
        Some(script) if !s.keys.iter().any(|(k, _)| k == "ha_initdir") => Runs::Lsb(script),
        _ => Runs::Scripts,
    }
}

/// An OCF agent's parameters: the service's `ha_NAME` keys, as SureHA gives them
/// (`ocf_common.sh`), but for the two that are SureHA's own settings.
fn ocf_params(s: &Service) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (k, v) in s.environment() {
        let Some(name) = k.strip_prefix("HA_HA_") else {
            continue;
        };
        if name == "OCF_ROOT" || name == "RSCTMP" {
            continue;
        }
        out.push((name.to_ascii_lowercase(), v));
    }
    out
}

/// A program under `$HAHOME/bin` unless absolute, as hasvrd resolves it.
fn program(home: &str, p: &str) -> String {
    if p.starts_with('/') {
        p.to_string()
    } else {
        format!("{home}/bin/{p}")
    }
}

/// What SureHA does on failures that Pacemaker does its own way, said in the CIB.
fn restarts_note(s: &Service) -> String {
    let mut note = format!(
        "restart_times = {}: restarted here that many times, then moved (migration-threshold). SureHA counts the failures of the last start_timeout ({}); Pacemaker keeps them until a cleanup (crm_resource -C), as SureHA keeps ERROR until the administrator clears it.",
        s.restart_times,
        crate::clock::human(s.start_timeout)
    );
    if s.switchback {
        note.push_str(&format!(
            " switchback = yes: it moves back as soon as {} is online; switchback_delay ({}) and switchback_max ({}) have no Pacemaker equivalent.",
            s.active_server,
            crate::clock::human(s.switchback_delay),
            match s.switchback_max {
                0 => "no limit".to_string(),
                n => format!("{n} an hour"),
            }
        ));
    }
    // "--" may not appear in an XML comment.
    note.replace("--", "- -")
}

fn service_group(x: &mut Xml, s: &Service, home: &str) {
    let g = id(&[&s.name, "group"]);
    x.line(2, &format!("<group id=\"{g}\">"));
    // Stickiness beyond the preference for the active server: no switch-back.
    let sticky = if s.switchback { 0 } else { 200 };
    x.line(3, &format!("<meta_attributes id=\"{g}-meta\">"));
    x.line(
        4,
        &format!("<nvpair id=\"{g}-stickiness\" name=\"resource-stickiness\" value=\"{sticky}\"/>"),
    );
    x.line(4, &format!("<!-- {} -->", esc(&restarts_note(s))));
    x.line(
        4,
        &format!(
            "<nvpair id=\"{g}-migration-threshold\" name=\"migration-threshold\" value=\"{}\"/>",
            s.restart_times + 1
        ),
    );
    x.line(3, "</meta_attributes>");
    for (i, v) in s.volumes.iter().enumerate() {
        let r = id(&[&s.name, "fs", &(i + 1).to_string()]);
        x.primitive(3, &r, "ocf", "heartbeat", "Filesystem");
        let mut common = vec![
            ("directory", v.mount_point.clone()),
            ("fstype", "auto".to_string()),
        ];
        let mut per_node = Vec::new();
        match differ(s, &v.active_dev, &v.backup_dev) {
            Some(d) => per_node.push(("device", d)),
            None => common.insert(0, ("device", v.active_dev.clone())),
        }
        x.params(4, &r, &common, &per_node);
        x.monitor(4, &r, 20_000, 60_000);
        x.line(3, "</primitive>");
    }
    for (i, ip) in s.active_ip.iter().enumerate() {
        let r = id(&[&s.name, "ip", &(i + 1).to_string()]);
        x.primitive(3, &r, "ocf", "heartbeat", "IPaddr2");
        let mut common = vec![
            ("ip", ip.to_string()),
            ("cidr_netmask", s.prefix_of(ip).to_string()),
        ];
        let mut per_node = Vec::new();
        let (a, b) = (
            s.active_nic.first().cloned().unwrap_or_default(),
            s.standby_nic.first().cloned().unwrap_or_default(),
        );
        match differ(s, &a, &b) {
            Some(d) if !a.is_empty() && !b.is_empty() => per_node.push(("nic", d)),
            _ if !a.is_empty() => common.push(("nic", a)),
            _ => {}
        }
        x.params(4, &r, &common, &per_node);
        x.monitor(4, &r, 10_000, 20_000);
        x.line(3, "</primitive>");
    }
    let r = id(&[&s.name, "svc"]);
    match runs_as(s) {
        Runs::Ocf(provider, ty) => {
            x.primitive(3, &r, "ocf", provider, ty);
            x.params(4, &r, &ocf_params(s), &[]);
        }
        Runs::Lsb(script) => x.line(
            3,
            &format!(
                "<primitive id=\"{r}\" class=\"lsb\" type=\"{}\">",
                esc(script)
            ),
        ),
        Runs::Scripts => {
            x.primitive(3, &r, "ocf", "sureha", "service");
            let mut params = vec![
                ("name".to_string(), s.name.clone()),
                ("start".to_string(), program(home, &s.start)),
                ("stop".to_string(), program(home, &s.stop)),
            ];
            if let Some(agent) = &s.agent {
                params.push(("agent".to_string(), program(home, agent)));
            }
            params.push(("hahome".to_string(), home.to_string()));
            // Every key, as hasvrd puts it in the scripts' environment (HA_PATH: ha_path).
            for (k, v) in s.environment() {
                if k != "HA_NAME" {
                    params.push((k.to_ascii_lowercase(), v));
                }
            }
            x.params(4, &r, &params, &[]);
        }
    }
    x.monitor(4, &r, s.check_interval, s.start_timeout);
    x.line(3, "</primitive>");
    x.line(2, "</group>");
}

/// The CIB of `config`; `home` is where the SureHA scripts are installed.
pub fn pacemaker(config: &Config, home: &str) -> Result<String, String> {
    let (a, b) = config.nodes().ok_or(
        "no link: a configuration without its two nodes cannot be exported; create a link first",
    )?;
    let mut x = Xml(String::new());
    x.line(0, "<cib validate-with=\"pacemaker-3.0\" crm_feature_set=\"3.0.14\" epoch=\"1\" num_updates=\"0\" admin_epoch=\"0\">");
    x.line(1, "<configuration>");
    x.line(2, "<crm_config>");
    x.line(3, "<cluster_property_set id=\"cib-bootstrap-options\">");
    x.line(4, "<!-- SureHA fenced on its own (its [admin] fence). Give Pacemaker STONITH devices, then set stonith-enabled to true. -->");
    x.line(
        4,
        "<nvpair id=\"opt-stonith-enabled\" name=\"stonith-enabled\" value=\"false\"/>",
    );
    x.line(
        4,
        "<nvpair id=\"opt-no-quorum-policy\" name=\"no-quorum-policy\" value=\"ignore\"/>",
    );
    x.line(3, "</cluster_property_set>");
    x.line(2, "</crm_config>");
    x.line(2, "<nodes>");
    for (i, n) in [a, b].iter().enumerate() {
        x.line(3, &format!("<node id=\"{}\" uname=\"{}\"/>", i + 1, esc(n)));
    }
    x.line(2, "</nodes>");
    x.line(2, "<resources>");
    for s in &config.services {
        service_group(&mut x, s, home);
    }
    x.line(2, "</resources>");
    x.line(2, "<constraints>");
    for s in &config.services {
        let g = id(&[&s.name, "group"]);
        x.line(
            3,
            &format!(
                "<rsc_location id=\"{}\" rsc=\"{g}\" node=\"{}\" score=\"100\"/>",
                id(&[&s.name, "location"]),
                esc(&s.active_server)
            ),
        );
    }
    // A SureHA group: its services together, started in file order.
    for (i, s) in config.services.iter().enumerate() {
        let Some(gid) = &s.groupid else { continue };
        let Some(first) = config.services[..i]
            .iter()
            .rev()
            .find(|o| o.groupid.as_ref() == Some(gid))
        else {
            continue;
        };
        let (then, before) = (id(&[&s.name, "group"]), id(&[&first.name, "group"]));
        x.line(3, &format!("<rsc_colocation id=\"{}\" rsc=\"{then}\" with-rsc=\"{before}\" score=\"INFINITY\"/>", id(&[&first.name, &s.name, "colocation"])));
        x.line(
            3,
            &format!(
                "<rsc_order id=\"{}\" first=\"{before}\" then=\"{then}\" kind=\"Mandatory\"/>",
                id(&[&first.name, &s.name, "order"])
            ),
        );
    }
    x.line(2, "</constraints>");
    x.line(1, "</configuration>");
    x.line(1, "<status/>");
    x.line(0, "</cib>");
    Ok(x.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_becomes_a_group_in_start_order_with_per_node_values() {
        let text = "[privnet lan]\ntype = socket\nhost1 = alpha\nhost2 = beta\nip1 = 10.0.0.1\nip2 = 10.0.0.2\n\n[service web]\ntype = WWW\nactive_server = alpha\nstandby_server = beta\nactive_nic = eth0\nstandby_nic = eth1\nactive_ip = 192.0.2.100\nstart = web.start\nstop = web.stop\npath = /srv/www\nvolume = /dev/sdb1 /dev/sdc1 /srv\n\n[service db]\nactive_server = alpha\nstandby_server = beta\nstart = /opt/db.start\nstop = db.stop\nagent = ocf:heartbeat:pgsql\ngroupid = g\nswitchback = yes\n\n[service db2]\nactive_server = alpha\nstandby_server = beta\nstart = a\nstop = b\ngroupid = g\nswitchback = yes\n";
        let c = crate::config::parse("t", text).unwrap();
        let x = pacemaker(&c, "/opt/sure<ha").unwrap();
        let fs = x.find("type=\"Filesystem\"").unwrap();
        let ip = x.find("type=\"IPaddr2\"").unwrap();
        let svc = x.find("provider=\"sureha\" type=\"service\"").unwrap();
        assert!(fs < ip && ip < svc, "{x}");
        assert!(x.contains("value=\"/opt/sure&lt;ha/bin/web.start\""), "{x}");
        assert!(
            x.contains("attribute=\"#uname\" operation=\"eq\" value=\"beta\""),
            "{x}"
        );
        assert!(x.contains("name=\"device\" value=\"/dev/sdc1\""), "{x}");
        assert!(x.contains("name=\"nic\" value=\"eth1\""), "{x}");
        assert!(x.contains("provider=\"heartbeat\" type=\"pgsql\""), "{x}");
        assert!(x.contains("rsc=\"db2-group\" with-rsc=\"db-group\""), "{x}");
        assert!(
            x.contains("name=\"resource-stickiness\" value=\"200\""),
            "{x}"
        );
        assert!(
            x.contains("name=\"resource-stickiness\" value=\"0\""),
            "{x}"
        );
        assert!(pacemaker(&Config::default(), "/h").is_err());
    }

    #[test]
    fn each_service_runs_with_its_keys_and_its_monitor_under_pacemaker() {
        let text = "[privnet lan]\ntype = socket\nhost1 = alpha\nhost2 = beta\nip1 = 10.0.0.1\nip2 = 10.0.0.2\n\n[service web]\ntype = WWW\nactive_server = alpha\nstandby_server = beta\nactive_ip = 192.0.2.100\nactive_nic = eth0\nstandby_nic = eth0\npath = /srv/www\nha_port = 8080\nrestart_times = 2\nswitchback = yes\nswitchback_delay = 30s\n\n[service own]\nactive_server = alpha\nstandby_server = beta\nstart = own.start\nstop = /x/own.stop\nagent = own.agent\n\n[service init]\ntype = LSB\nactive_server = alpha\nstandby_server = beta\nagent = lsb:hasvc\n\n[service initdir]\ntype = LSB\nactive_server = alpha\nstandby_server = beta\nagent = lsb:other\nha_initdir = /srv/init\n\n[service pg]\ntype = OCF\nactive_server = alpha\nstandby_server = beta\nagent = ocf:heartbeat:pgsql\nha_pgdata = /srv/pg\nha_ocf_root = /usr/lib/ocf\n";
        let c = crate::config::parse("t", text).unwrap();
        let x = pacemaker(&c, "/opt/sureha").unwrap();
        let part = |from: &str| {
            let at = x.find(&format!("<primitive id=\"{from}\"")).unwrap();
            let end = at + x[at..].find("</primitive>").unwrap();
            x[at..end].to_string()
        };
        // A built-in type: its scripts, its agent as the monitor, its keys, HAHOME.
        let web = part("web-svc");
        for want in [
            "provider=\"sureha\" type=\"service\"",
            "name=\"start\" value=\"/opt/sureha/bin/www_start.sh\"",
            "name=\"agent\" value=\"/opt/sureha/bin/ha_ag_www.sh\"",
            "name=\"hahome\" value=\"/opt/sureha\"",
            "name=\"ha_path\" value=\"/srv/www\"",
            "name=\"ha_ha_port\" value=\"8080\"",
            "name=\"ha_active_ip\" value=\"192.0.2.100\"",
        ] {
            assert!(web.contains(want), "{want} missing:\n{web}");
        }
        let own = part("own-svc");
        assert!(
            own.contains("name=\"agent\" value=\"/opt/sureha/bin/own.agent\""),
            "{own}"
        );
        assert!(own.contains("name=\"stop\" value=\"/x/own.stop\""), "{own}");
        // LSB from /etc/init.d is Pacemaker's own class; from elsewhere, SureHA's scripts.
        assert!(
            x.contains("<primitive id=\"init-svc\" class=\"lsb\" type=\"hasvc\">"),
            "{x}"
        );
        let initdir = part("initdir-svc");
        assert!(
            initdir.contains("lsb_start.sh") && initdir.contains("ha_ha_initdir"),
            "{initdir}"
        );
        // An OCF agent gets its ha_ keys as its parameters, not SureHA's own two.
        let pg = part("pg-svc");
        assert!(pg.contains("name=\"pgdata\" value=\"/srv/pg\""), "{pg}");
        assert!(!pg.contains("ocf_root"), "{pg}");
        // Local restarts, and what has no equivalent, said.
        assert!(
            x.contains(
                "id=\"web-group-migration-threshold\" name=\"migration-threshold\" value=\"3\""
            ),
            "{x}"
        );
        assert!(
            x.contains(
                "switchback_delay (30s) and switchback_max (no limit) have no Pacemaker equivalent"
            ),
            "{x}"
        );
    }
}
