//! The administrative state on disk: `etc/license` (the license lines) and `etc/lock` (the
//! configuration lock), each in `engine::admin_state` text with the state's stamp, so either
//! file alone still says how recent it is.

use super::*;

impl Hasvrd {
    /// Both files, as one state text for the engine (the newer stamp wins).
    pub(super) fn load_admin(&mut self) {
        let mut stamp = String::new();
        let mut body = String::new();
        let mut best = (0u64, String::new());
        for path in [self.home.license(), self.home.lock_state()] {
            let Ok(text) = files::read_regular_text(&path, 64 * 1024) else {
                continue;
            };
            for line in text.lines() {
                if let Some(rest) = line.strip_prefix("stamp ") {
                    let mut w = rest.split(' ');
                    let n: u64 = w.next().and_then(|n| n.parse().ok()).unwrap_or(0);
                    let node = w.next().unwrap_or("").to_string();
                    if (n, node.clone()) > best {
                        best = (n, node);
                        stamp = format!("{line}\n");
                    }
                } else if !line.starts_with('#') && !line.trim().is_empty() {
                    body.push_str(line);
                    body.push('\n');
                }
            }
        }
        self.feed(Input::AdminLoaded(format!("{stamp}{body}")));
    }

    pub(super) fn write_admin(&mut self, text: &str) {
        let stamp = text.lines().find(|l| l.starts_with("stamp ")).unwrap_or("");
        let pick = |kind: &str| -> String {
            text.lines()
                .filter(|l| l.starts_with(kind))
                .map(|l| format!("{l}\n"))
                .collect()
        };
        let license = format!(
            "# SureHA licenses, the same on both nodes: haadm license HOST SERIAL EXPIRATION LICENSE\n{stamp}\n{}",
            pick("license ")
        );
        let lock = format!(
            "# SureHA configuration lock: haadm lock | unlock\n{stamp}\n{}",
            pick("lock ")
        );
        for (path, body) in [
            (self.home.license(), license),
            (self.home.lock_state(), lock),
        ] {
            if let Err(e) = files::write_atomic(&path, body.as_bytes(), 0o600) {
                self.log.error(&format!(
                    "cannot write {}: {e}; the change holds until hasvrd restarts",
                    path.display()
                ));
            }
        }
    }

    /// Today's local date, to the engine when it changes (license expiry).
    pub(super) fn tell_today(&mut self) {
        let today: String = crate::clock::local_timestamp().chars().take(10).collect();
        if today != self.today {
            self.today = today.clone();
            self.feed(Input::Today(today));
        }
    }
}
