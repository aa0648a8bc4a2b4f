//! This node's NICs: which may hold a service's addresses, local NIC failover, and the NIC records.

use super::plan::AfterStop;
use super::{Engine, PeerStatus, Phase};
use crate::log::Level;
use std::sync::Arc;
impl Engine {
    /// The first healthy NIC of the service's list on this node (unknown NICs count as
    /// healthy until the first report).
    pub(super) fn pick_nic(&self, name: &str) -> Option<&str> {
        let cfg = self.config.service(name)?;
        cfg.nics_on(&self.node)
            .iter()
            .find(|n| {
                self.nics
                    .iter()
                    .find(|x| &x.name == *n)
                    .is_none_or(|x| x.ok)
            })
            .map(String::as_str)
    }

    /// Whether this node can hold the service's addresses and volumes (and so run it).
    pub(super) fn able_here(&self, name: &str) -> bool {
        self.unable_here(name).is_none()
    }

    /// Why this node cannot run the service now, if it cannot.
    pub(super) fn unable_here(&self, name: &str) -> Option<String> {
        let c = self.config.service(name)?;
        if !c.active_ip.is_empty() && self.pick_nic(name).is_none() {
            return Some("no healthy NIC here for its addresses".into());
        }
        self.isolated_unable().or_else(|| self.disk_unable(name))
    }

    pub(super) fn nics_changed(&mut self, nics: Vec<super::NicState>) {
        // Every NIC is reported (AutoGet); only those the services name are watched aloud.
        let named = self.config.nics_of(&self.node);
        for n in nics.iter().filter(|n| named.contains(&n.name)) {
            let before = self.nics.iter().find(|x| x.name == n.name).map(|x| x.ok);
            match (before, n.ok) {
                (Some(true), false) | (None, false) => self.log(
                    Level::Error,
                    format!("NIC {}: ERR (no link or no carrier)", n.name),
                ),
                (Some(false), true) => self.log(Level::Info, format!("NIC {}: OK again", n.name)),
                _ => {}
            }
        }
        self.nics = nics;
        // A running service whose NIC failed moves its addresses to the next healthy one.
        let layout = Arc::clone(&self.layout);
        for name in &layout.names {
            let Some(s) = self.services.get(name) else {
                continue;
            };
            if s.phase != Phase::Running || s.busy() {
                continue;
            }
            let Some(held) = s.vip_nic.clone() else {
                continue;
            };
            if self.nics.iter().any(|x| x.name == held && !x.ok) {
                if let Some(next) = self.pick_nic(name).map(str::to_string) {
                    self.log(Level::Warning, format!("service {name}: NIC {held} failed; moving its addresses to {next} (local NIC failover)"));
                    self.begin(
                        name,
                        Phase::Running,
                        vec![super::Step::DelIps, super::Step::AddIps].into(),
                        AfterStop::Rest,
                    );
                } else {
                    self.log(Level::Error, format!("service {name}: NIC {held} failed and no other NIC of its list is healthy; handing it to {}", self.peer_name()));
                }
            }
        }
    }

    /// `NIC NODE NAME OK|ERR [addresses]` for both nodes (the peer's as it last reported).
    pub(super) fn nic_lines(&self, with_addresses: bool) -> String {
        let mut t = String::new();
        let fmt = |node: &str, name: &str, word: &str, addrs: Vec<String>| {
            let a = if with_addresses && !addrs.is_empty() {
                format!(" {}", addrs.join(" "))
            } else {
                String::new()
            };
            format!("NIC {node} {name} {word}{a}\n")
        };
        let word = |ok: bool| if ok { "OK" } else { "ERR" };
        // Status shows the NICs the services name; `haadm network` (AutoGet) every NIC.
        let shown = |node: &str, name: &str| {
            with_addresses || self.config.nics_of(node).iter().any(|n| n == name)
        };
        for n in self.nics.iter().filter(|n| shown(&self.node, &n.name)) {
            t.push_str(&fmt(
                &self.node,
                &n.name,
                word(n.ok),
                n.addrs.iter().map(|a| a.to_string()).collect(),
            ));
        }
        // A peer that is down reports nothing: its NICs' state is unknown, not what it last said.
        let peer_heard = matches!(self.peer_status(), PeerStatus::Up | PeerStatus::Partitioned);
        if let Some(p) = &self.peer.view {
            let peer = self.peer_name().to_string();
            for n in p.nics.iter().filter(|n| shown(&peer, &n.name)) {
                t.push_str(&fmt(
                    &peer,
                    &n.name,
                    if peer_heard { word(n.ok) } else { "UNKNOWN" },
                    n.addrs.iter().map(|a| a.to_string()).collect(),
                ));
            }
        }
        t
    }
}
