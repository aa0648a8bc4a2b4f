//! What `haadm status` and SIGUSR1 say.

use super::{Engine, PeerStatus};
impl Engine {
    pub fn status_text(&self) -> String {
        let mut t = String::new();
        let peer = self.peer_name().to_string();
        t.push_str(&format!("NODE {} UP local\n", self.node));
        let ps = match self.peer_status() {
            PeerStatus::Up => "UP",
            PeerStatus::Down => "DOWN",
            PeerStatus::Unknown => "UNKNOWN",
            PeerStatus::Partitioned => "PARTITIONED",
            PeerStatus::Frozen => "LEFT-RUNNING",
        };
        // Before its first link a node knows no peer.
        if self.config.nodes().is_some() {
            t.push_str(&format!("NODE {peer} {ps}\n"));
        }
        if self.peer_status() == PeerStatus::Frozen {
            t.push_str(&format!(
                "CLUSTER FROZEN {peer} left with its services running; nothing moves until it is back\n"
            ));
        }
        if let Some(k) = self.key_change.line() {
            t.push_str(&k);
        }
        if self.peer.unreadable(self.now) {
            t.push_str(
                "CLUSTER KEY-MISMATCH the peer's frames do not authenticate: its authkey differs; copy it here with haadm authkey install FILE\n",
            );
        }
        if self.peer_status() == PeerStatus::Partitioned {
            t.push_str(
                "CLUSTER PARTITIONED private links down, the peer answers on the public network\n",
            );
        }
        for l in &self.config.links {
            let stats = self
                .peer
                .links
                .get(&l.name)
                .map_or("", |v| v.stats.as_str());
            let stats = if stats.is_empty() {
                String::new()
            } else {
                format!(" {stats}")
            };
            t.push_str(&format!(
                "LINK {} {} {}{stats}\n",
                l.name,
                l.type_name(),
                self.link_word(&l.name)
            ));
        }
        let sync = match &self.peer.view {
            _ if self.peer_status() != PeerStatus::Up => "UNKNOWN",
            Some(p) if p.digest == self.digest => "SAME",
            Some(p) if p.generation > self.generation => "PEER-NEWER",
            Some(p) if p.generation < self.generation => "PEER-OLDER",
            _ => "CONFLICT",
        };
        t.push_str(&self.nic_lines(false));
        t.push_str(&self.disk_lines());
        t.push_str(&self.admin.status_lines(&self.hosts_now()));
        t.push_str(&format!("CONFIG generation={} {sync}\n", self.generation));
        if self.refused.requests_dropped + self.refused.api_refused > 0 {
            // What reached the FIFO and was not acted on (details in the log).
            t.push_str(&format!(
                "REQUESTS dropped={} refused={}\n",
                self.refused.requests_dropped, self.refused.api_refused
            ));
        }
        for s in &self.config.services {
            let peer_word = self
                .peer_svc(&s.name)
                .map_or("UNKNOWN", |p| crate::frame::word_of(p.word));
            t.push_str(&format!(
                "SERVICE {} {} {}={} {peer}={peer_word}\n",
                s.name,
                s.stype,
                self.node,
                self.state_word(&s.name)
            ));
        }
        t.push_str(&self.readiness_lines(None));
        // The last start or stop here of each service, phase by phase.
        for s in &self.config.services {
            if let Some(m) = self
                .services
                .get(&s.name)
                .and_then(|x| x.last_move.as_ref())
            {
                t.push_str(&format!("MOVE {m}\n"));
            }
        }
        t.push_str(&self.peer_move_lines());
        t
    }

    /// A readable picture of the engine's state (SIGUSR1).
    pub fn dump(&self) -> Vec<String> {
        let mut v = vec![format!(
            "dump: node {} peer {:?} shutting_down {:?} tasks in flight {} waiters {}",
            self.node,
            self.peer_status(),
            self.leaving.word(),
            self.tasks.len(),
            self.waiters.len()
        )];
        for (n, s) in &self.services {
            v.push(format!(
                "dump: service {n} state {} phase {:?} protected {} primary {} runner {:?} epoch {} resets {} peer {:?} error {} failures {} plan {:?} inflight {:?} agent {}",
                self.state_word(n),
                s.phase,
                s.intent.protected,
                s.intent.primary,
                s.intent.runner,
                s.intent.epoch,
                s.intent.resets,
                self.peer_svc(n).map(|p| (p.phase, p.intent.protected, p.error, p.unable, p.intent.primary.clone(), p.intent.runner.clone(), p.intent.epoch, p.intent.resets)),
                s.error,
                s.failures.len(),
                s.plan.steps(),
                s.plan.in_flight(),
                s.agent.as_ref().map_or("none".to_string(), |a| format!("id {} pid {:?} last_ok {:?} closed {}", a.id, a.pid, a.last_ok.map(|t| self.now.saturating_sub(t)), a.closed)),
            ));
        }
        v.push(format!(
            "dump: in step with the peer {} (view stale {}, configuration {} here, {:?} there; its beat {:?}) peer leaving {} switch-back: waiting since {:?} given up {:?} proposed {:?}",
            self.peer_in_sync(),
            self.peer.contact.view_stale,
            self.digest,
            self.peer.view.as_ref().map(|p| &p.digest),
            self.peer.view.as_ref().map(|p| (p.boot, p.seq, p.payload.len())),
            self.peer.view.as_ref().is_some_and(|p| p.leaving),
            self.calm.healthy_since_view(),
            self.calm.gave_up_view(),
            self.calm.proposed_view(),
        ));
        v
    }
}
