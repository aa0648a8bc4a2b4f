//! The request FIFO: lines read in bounded turns, acknowledged, decoded and handed to the engine.

use super::*;

impl Hasvrd {
    pub(super) fn read_requests(&mut self) {
        let got = self.fifo.read_lines();
        let dropped_before = self.requests_dropped;
        self.requests_dropped += (got.overlong + got.partial) as u64;
        if got.overlong > 0 {
            self.log.warning(&format!(
                "request FIFO: dropped {} line(s) longer than {} bytes",
                got.overlong,
                request::MAX_LINE
            ));
        }
        if got.partial > 0 {
            self.log.warning(
                "request FIFO: dropped bytes written without a newline (not a request); the next request is read whole",
            );
        }
        for line in got.lines {
            let req = match request::decode_resync(&line) {
                Ok((0, r)) => r,
                Ok((skipped, r)) => {
                    self.requests_dropped += 1;
                    self.log.warning(&format!(
                        "request FIFO: dropped {skipped} stray byte(s) before a request"
                    ));
                    r
                }
                Err(e) => {
                    self.requests_dropped += 1;
                    self.log.warning(&format!(
                        "request FIFO: ignored a bad line ({e}): '{}'",
                        crate::config::shown(&String::from_utf8_lossy(&line))
                    ));
                    continue;
                }
            };
            let Some(to) = req.reply.clone() else {
                self.take_request(req, None);
                continue;
            };
            if let Err(e) = self.outbox.acknowledge(&self.home, &to) {
                // The client is gone already: nobody to answer, nothing to do for it.
                self.log.warning(&format!(
                    "request from pid {}: its reply FIFO {to} cannot be opened ({e}); ignored",
                    req.pid
                ));
                continue;
            }
            self.take_request(req, Some(to));
        }
        if self.requests_dropped != dropped_before {
            self.feed(Input::RequestsDropped(self.requests_dropped));
        }
    }

    pub(super) fn take_request(&mut self, req: request::Request, reply: Option<String>) {
        match request::parse_command(&req.words) {
            // Figures only hasvrd has join the engine's; nothing is decided.
            Ok(request::Command::Metrics) => {
                if let Some(to) = reply {
                    let text = self.metrics_text();
                    let _ = self.outbox.send(&self.home, &to, &Reply::ok(text));
                }
            }
            Ok(cmd) => {
                let caller = Some(sys::process_group(req.pid).unwrap_or(0));
                self.feed(Input::Command { cmd, reply, caller })
            }
            Err(e) => {
                self.log
                    .warning(&format!("request from pid {}: {e}", req.pid));
                if let Some(to) = reply {
                    let _ = self.outbox.send(&self.home, &to, &Reply::err(e));
                }
            }
        }
    }
}
