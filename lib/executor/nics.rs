//! This node's NICs: read when netlink says one changed (or the safety poll is due).

use super::*;

impl Hasvrd {
    /// Reads every NIC's state (those the services name first) when netlink says something
    /// changed (or the safety poll is due) and tells the engine of changes.
    pub(super) fn poll_nics(&mut self, now: Millis) {
        // The safety poll rides on a wake that happens anyway when it is near.
        let slack = if self.nic_events.is_some() {
            CHORE_SLACK
        } else {
            0
        };
        if now + slack < self.next_nic_poll {
            return;
        }
        // Events say when to look; the slow poll is a safety net.
        self.next_nic_poll = now
            + if self.nic_events.is_some() {
                NIC_SAFETY_POLL
            } else {
                NIC_POLL
            };
        let mut names = self.engine.config().nics_of(&self.home.node);
        let addrs = sys::interface_addresses();
        // AutoGet: the others too, up to a beat's worth.
        for n in sys::interface_names() {
            if names.len() >= 32 {
                break;
            }
            if !names.contains(&n) {
                names.push(n);
            }
        }
        let backend = crate::vip::LinuxIp;
        let state: Vec<crate::engine::NicState> = names
            .into_iter()
            .map(|name| crate::engine::NicState {
                ok: crate::vip::Backend::nic_healthy(&backend, &name),
                addrs: addrs
                    .iter()
                    // Every NIC has an fe80:: address of its own: not worth a status line.
                    .filter(|(n, a, _)| {
                        *n == name
                            && !matches!(a, std::net::IpAddr::V6(v) if v.segments()[0] & 0xffc0 == 0xfe80)
                    })
                    .map(|(_, a, _)| *a)
                    .collect(),
                name,
            })
            .collect();
        if state != self.nics_seen {
            self.nics_seen = state.clone();
            self.feed(Input::Nics(state));
        }
    }
}
