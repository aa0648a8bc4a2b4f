//! hahb-disk after its hasvrd died (killed, crashed) without leaving on purpose. Until
//! hamond starts a new hasvrd nothing speaks for this node; should hamond itself stand still
//! meanwhile (stopped, starved), the peer would find this node silent, take over what runs
//! here while it still runs, and take the volume locks once the lease ran out and mount
//! volumes still mounted here (a chaos run found both: hamond stopped, hasvrd killed). So
//! the orphaned hahb-disk goes on as a frozen hasvrd's links would: it repeats hasvrd's last
//! beat on the disk, which also renews the locks, until the next hahb-disk writes the slot.
//! The peer, hearing this node on the disk link alone, moves nothing. Were hamond gone for
//! good, that lasts: the peer never runs or mounts what may still run or be mounted here.

use crate::disk::device::Device;
use crate::disk::layout::{self, Beat, BLOCK};
use crate::disk::{lease, slot};
use crate::frame::{self, Wire};
use crate::log::Logger;
use crate::paths::Home;
use std::time::Duration;

/// What the orphaned hahb-disk writes with: its slot, its beat block, its frame numbers,
/// and the wire and key its frames are sealed with.
pub(super) struct Orphan<'a> {
    pub home: &'a Home,
    pub link: &'a str,
    pub dev: &'a Device,
    pub slot: usize,
    pub beat: &'a mut Beat,
    pub number: &'a mut u64,
    pub wire: &'a Wire,
    pub key: &'a [u8],
}

impl Orphan<'_> {
    /// Repeats `last` (hasvrd's last beat, as hasvrd sealed it) until another hahb-disk
    /// writes the slot; at once if hasvrd left on purpose (its beat says it stops or keeps
    /// its services).
    pub(super) fn guard(&mut self, last: &[u8], log: &mut Logger, name: &str) {
        let Ok(f) = frame::open(None, last) else {
            return;
        };
        let on_purpose = match frame::Message::decode(&f.payload) {
            Ok(frame::Message::Beat(b)) => b.leaving || b.keeping,
            _ => true,
        };
        if on_purpose {
            return;
        }
        log.warning(&format!(
            "link {name}: hasvrd died; repeating its last beat on the disk (the volume locks renewed) until hamond's next hasvrd takes over, so the peer takes nothing that may still run here"
        ));
        let mut repeats = 0u64;
        loop {
            std::thread::sleep(Duration::from_millis(200));
            // Another writer in this slot: the next hahb-disk is here.
            match self
                .dev
                .read(layout::beat_offset(self.slot), BLOCK)
                .map(|b| Beat::decode(&b))
            {
                Ok(Ok(b)) if b.writer != self.beat.writer => {
                    log.info(&format!(
                        "link {name}: the next hahb-disk took over; this one leaves"
                    ));
                    return;
                }
                _ => {}
            }
            // Each repeat a sequence of its own, within hasvrd's stride (as a relay does).
            repeats = (repeats + 1) % (frame::SEQ_STRIDE - 1);
            let sealed = frame::seal(Some(self.key), f.boot, f.seq + 1 + repeats, &f.payload)
                .ok()
                .and_then(|s| self.wire.outgoing(&s));
            let frames: Vec<Vec<u8>> = sealed.into_iter().collect();
            let at = crate::sys::boottime_millis();
            let wrote = slot::write_frames(self.dev, self.slot, self.beat, self.number, &frames);
            // For the next hasvrd: the locks were renewed, whatever hamond last heard.
            if wrote.is_ok() {
                lease::write_orphan_renewal(self.home, self.link, at);
            }
        }
    }
}
