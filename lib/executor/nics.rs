//! This node's NICs: read when netlink says one changed (or the safety poll is due).

use super::*;

impl Hasvrd {
    /// Reads the configured NICs' state when netlink says something changed (or the safety
    /// poll is due) and tells the engine of changes.
    pub(super) fn poll_nics(&mut self, now: Millis) {
        if now < self.next_nic_poll {
            return;
        }
        // Events say when to look; the slow poll is a safety net.
        self.next_nic_poll = now
            + if self.nic_events.is_some() {
                NIC_SAFETY_POLL
            } else {
                NIC_POLL
            };
        let names = self.engine.config().nics_of(&self.home.node);
        if names.is_empty() {
            // The last NIC left the configuration: say so once (the peer drops its record).
            if !self.nics_seen.is_empty() {
                self.nics_seen.clear();
                self.feed(Input::Nics(Vec::new()));
            }
            return;
        }
        let addrs = sys::interface_addresses();
        let backend = crate::vip::LinuxIp;
        let state: Vec<crate::engine::NicState> = names
            .into_iter()
            .map(|name| crate::engine::NicState {
                ok: crate::vip::Backend::nic_healthy(&backend, &name),
                addrs: addrs
                    .iter()
                    .filter(|(n, _, _)| *n == name)
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
