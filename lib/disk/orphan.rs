//! hahb-disk after its hasvrd died (killed, crashed) while this node's volume locks are
//! held. Nothing renews the locks until hamond starts a new hasvrd; should hamond itself
//! stand still meanwhile (stopped, starved), the peer would take the locks once the lease
//! ran out and mount volumes this node still has mounted, its services running on them (a
//! chaos run found it: hamond stopped, hasvrd killed). So the orphaned hahb-disk goes on
//! renewing the locks (the beat block alone) until the next hahb-disk writes the slot, or
//! this node's locks are all released. Were hamond gone for good, the locks stay held: the
//! peer never mounts what may still be mounted here, and the administrator is told why
//! (the peer's log: its lock held by this node).

use super::device::Device;
use super::layout::{self, Beat, Locks, BLOCK};
use crate::log::Logger;
use std::time::Duration;

/// Renews this node's locks while they are held and no other hahb-disk writes the slot.
pub(super) fn guard(d: &Device, slot: usize, beat: &mut Beat, log: &mut Logger, name: &str) {
    if !holding(d, slot) {
        return;
    }
    log.warning(&format!(
        "link {name}: hasvrd died while this node's volume locks are held; renewing them until hamond's next hasvrd takes over (the peer must not mount what may still be mounted here)"
    ));
    let every = Duration::from_millis(200);
    loop {
        std::thread::sleep(every);
        // Another writer in this slot: the next hahb-disk is here.
        match d
            .read(layout::beat_offset(slot), BLOCK)
            .map(|b| Beat::decode(&b))
        {
            Ok(Ok(b)) if b.writer != beat.writer => {
                log.info(&format!(
                    "link {name}: the next hahb-disk renews the locks; this one leaves"
                ));
                return;
            }
            _ => {}
        }
        if !holding(d, slot) {
            log.info(&format!(
                "link {name}: this node's volume locks are released; this one leaves"
            ));
            return;
        }
        beat.counter += 1;
        let _ = d.write(layout::beat_offset(slot), &beat.encode());
    }
}

/// Whether this node's lock block holds a volume lock.
fn holding(d: &Device, slot: usize) -> bool {
    d.read(layout::lock_offset(slot), BLOCK)
        .ok()
        .and_then(|b| Locks::decode(&b).ok())
        .is_some_and(|l| l.claims.iter().any(|c| c.held))
}
