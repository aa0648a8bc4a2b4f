//! Taking this node down as `[admin] fence` says: hasvrd when a stop fails or a volume lock
//! cannot be held, hamond when a frozen hasvrd holding such locks will not die. The caller
//! has logged why.

use crate::child::{self, Spec};
use crate::config::Fence;
use crate::log::Logger;
use crate::paths::Home;
use crate::sys;

pub fn fence(home: &Home, how: &Fence, reason: &str, log: &mut Logger) {
    match how {
        // Nobody asks for a fence the site turned off.
        Fence::Nothing => {}
        Fence::Program(p) => {
            let mut spec = Spec::new(std::path::PathBuf::from(p));
            spec.args = vec![reason.to_string()];
            spec.env = child::base_env(home);
            spec.output = Some(home.output("fence", "step"));
            match child::spawn(&spec) {
                Ok(pid) => log.error(&format!("fence program {p} started (pid {pid})")),
                Err(e) => log.error(&format!("fence program {p} could not start: {e}")),
            }
        }
        how => {
            let e = sys::reboot_now(*how == Fence::Halt);
            log.error(&format!(
                "fence failed: reboot(2): {e}; take this node down by hand now"
            ));
        }
    }
}
