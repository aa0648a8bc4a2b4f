//! A service's floating addresses, changed by hasvrd itself (routing netlink and a raw packet
//! socket): no process spawned on the path of a move. The kernel answers in microseconds and
//! each request is bounded (`sys::netlink_route_request`), so this never stalls the loop.
//! `havip` stays for administrators and scripts.

use super::*;
use crate::vip::{self, Address, Backend, LinuxIp};

/// Gratuitous ARP after the first: this many more, this far apart, so that a neighbour that
/// missed the first (a switch port still learning) updates too.
const REANNOUNCE: u8 = 3;
const REANNOUNCE_EVERY: Millis = 300;

/// Announcements still owed for an address added on a NIC.
pub(super) struct Announce {
    pub due: Millis,
    nic: String,
    address: Address,
    left: u8,
}

impl Hasvrd {
    pub(super) fn change_addresses(
        &mut self,
        now: Millis,
        task: TaskId,
        service: String,
        add: bool,
        nic: Option<String>,
    ) {
        let Some(cfg) = self.engine.config().service(&service) else {
            return;
        };
        let addresses: Vec<Address> = cfg
            .active_ip
            .iter()
            .map(|&ip| Address {
                ip,
                prefix: cfg.prefix_of(&ip),
            })
            .collect();
        // Added on the NIC the engine chose; removed from any NIC of the list.
        let nics = match nic {
            Some(n) if add => vec![n],
            _ => cfg.nics_on(&self.home.node).to_vec(),
        };
        let listed = addresses
            .iter()
            .map(|a| format!("{}/{}", a.ip, a.prefix))
            .collect::<Vec<_>>()
            .join(",");
        let started = std::time::Instant::now();
        let result = if add {
            vip::add(&LinuxIp, &addresses, &nics).map(|on| {
                for &address in &addresses {
                    self.announcements.push(Announce {
                        due: now + REANNOUNCE_EVERY,
                        nic: on.clone(),
                        address,
                        left: REANNOUNCE,
                    });
                }
                format!("on {on}")
            })
        } else {
            self.announcements
                .retain(|a| !addresses.iter().any(|x| x.ip == a.address.ip));
            vip::del(&LinuxIp, &addresses, &nics).map(|()| format!("from {}", nics.join(" ")))
        };
        let took = started.elapsed();
        let verb = if add { "added" } else { "removed" };
        let result = match result {
            Ok(where_) => {
                self.log.info(&format!(
                    "service {service}: addresses {listed} {verb} {where_} in {}.{:03} ms",
                    took.as_millis(),
                    took.as_micros() % 1000
                ));
                Ok(())
            }
            Err(e) => Err(e.message),
        };
        self.inputs.push_back(Input::TaskDone { task, result });
    }

    /// Sends the announcements that are due, for addresses still on their NIC (one released
    /// meanwhile, by a quick move back, is not announced: that would steal it).
    pub(super) fn announce_due(&mut self, now: Millis) {
        if !self.announcements.iter().any(|a| a.due <= now) {
            return;
        }
        let mut gone = Vec::new();
        // One look at the kernel's addresses for all of them (a move of 256 services owes
        // 512 announcements at once).
        let held = crate::sys::interface_addresses();
        for a in self.announcements.iter_mut().filter(|a| a.due <= now) {
            if held
                .iter()
                .any(|(nic, ip, _)| *nic == a.nic && *ip == a.address.ip)
            {
                if let Err(e) = LinuxIp.announce(&a.nic, a.address) {
                    gone.push(a.address.ip);
                    self.log.warning(&format!("{}; not repeated", e.message));
                    continue;
                }
                a.left -= 1;
                a.due = now + REANNOUNCE_EVERY;
            } else {
                a.left = 0;
            }
        }
        self.announcements
            .retain(|a| a.left > 0 && !gone.contains(&a.address.ip));
    }

    pub(super) fn next_announcement(&self) -> Option<Millis> {
        self.announcements.iter().map(|a| a.due).min()
    }
}
