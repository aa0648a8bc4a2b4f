//! Heartbeat links: their processes, frames to and from them, and the public-network check.

use super::*;

impl Hasvrd {
    /// Starts link processes the configuration names and that do not run; stops the others.
    pub(super) fn sync_links(&mut self, now: Millis) {
        let wanted: Vec<(String, &'static str)> = self
            .engine
            .config()
            .links
            .iter()
            .map(|l| {
                (
                    l.name.clone(),
                    match l.type_name() {
                        "socket" => "hahb-sock",
                        "disk" => "hahb-disk",
                        _ => "hahb-serial",
                    },
                )
            })
            .collect();
        let gone: Vec<String> = self
            .links
            .keys()
            .filter(|n| !wanted.iter().any(|(w, _)| w == *n))
            .cloned()
            .collect();
        for n in gone {
            if let Some(l) = self.links.remove(&n) {
                if let Some(pid) = l.pid {
                    self.children.stop(pid, now);
                }
                self.log.info(&format!(
                    "link {n}: no longer configured; its process stops"
                ));
            }
        }
        for (name, program) in wanted {
            let l = self.links.entry(name.clone()).or_insert(LinkProc {
                pid: None,
                to: None,
                from: None,
                records: link::Records::default(),
                started: 0,
                young_deaths: 0,
                respawn_at: now,
                heard: None,
                heard_seen: 0,
                relays: program != "hahb-disk",
            });
            if l.pid.is_some() || now < l.respawn_at {
                continue;
            }
            let path = self.home.bin().join(program);
            let exe_dir = std::env::current_exe()
                .ok()
                .and_then(|e| e.parent().map(|d| d.join(program)));
            let mut spec = Spec::new(exe_dir.filter(|p| p.exists()).unwrap_or(path));
            spec.args = vec![name.clone()];
            spec.env = child::base_env(&self.home);
            spec.output = Some(self.home.output(&name, "link"));
            // A fresh heard page for each process: what an earlier one heard is not news.
            let page = sys::shared_page(&format!("heard-{name}")).and_then(|f| {
                let fd = f.as_raw_fd();
                Ok((fd, sys::SharedU64::map(f)?))
            });
            let heard = match page {
                Ok((fd, page)) => {
                    spec.keep_fds = vec![fd];
                    spec.env.push(("HA_HEARD_FD".into(), fd.to_string()));
                    Some(page)
                }
                Err(e) => {
                    // Without it every frame from the peer goes up: more wake-ups, no harm.
                    self.log.warning(&format!(
                        "link {name}: no heard page ({e}); its process passes up every frame"
                    ));
                    None
                }
            };
            match child::spawn_piped(&spec) {
                Ok((pid, to, from)) => {
                    l.pid = Some(pid);
                    l.to = Some(to);
                    l.from = Some(from);
                    l.records = link::Records::default();
                    l.started = now;
                    l.heard = heard;
                    l.heard_seen = 0;
                    self.children.add(pid, Tag::Link(name.clone()), None);
                    self.log
                        .info(&format!("link {name}: {program} started (pid {pid})"));
                    self.give_standing(Some(&name), now, true);
                }
                Err(e) => {
                    l.respawn_at = now + 5000;
                    self.log.error(&format!(
                        "link {name}: cannot start {}: {e}; retrying in 5s",
                        spec.program.display()
                    ));
                }
            }
        }
    }

    /// Link process `pid` of link `name` ended (a process stopped on purpose and already
    /// replaced, after a new key, is not the one running now).
    pub(super) fn link_died(&mut self, name: &str, pid: u32, how: String) {
        let now = self.clock.now();
        let Some(l) = self.links.get_mut(name).filter(|l| l.pid == Some(pid)) else {
            return;
        };
        l.pid = None;
        l.to = None;
        l.from = None;
        l.young_deaths = if now.saturating_sub(l.started) < 10_000 {
            l.young_deaths + 1
        } else {
            0
        };
        let delay = (500u64 << l.young_deaths.min(6)).min(30_000);
        l.respawn_at = now + delay;
        let out = child::read_output(&self.home.output(name, "link"), 2048);
        let last = out.lines().last().unwrap_or("").to_string();
        self.log.error(&format!(
            "link {name}: its process ended ({how}){}; restarting it in {}",
            if last.is_empty() {
                String::new()
            } else {
                format!(": {last}")
            },
            crate::clock::human(delay)
        ));
    }

    /// Frames and counters from the link processes.
    pub(super) fn read_links(&mut self, ready: &[std::os::fd::RawFd]) {
        let mut inputs = Vec::new();
        let mut buf = std::mem::take(&mut self.io_buf);
        for (name, l) in self.links.iter_mut() {
            let Some(fd) = &l.from else { continue };
            if !ready.contains(&fd.as_raw_fd()) {
                continue;
            }
            // A bounded turn: a link that never stops talking cannot hold the loop.
            for _ in 0..8 {
                match sys::read_some(fd, &mut buf) {
                    Ok(0) => {
                        l.from = None;
                        break;
                    }
                    Ok(n) => {
                        l.records.push(&buf[..n]);
                        // A short read emptied the pipe; poll says when there is more.
                        if n < buf.len() {
                            break;
                        }
                    }
                    Err(_) => break,
                }
            }
            loop {
                match l.records.next_record() {
                    Ok(Some((link::PEER, bytes))) => {
                        // Checked and opened by the link process.
                        if let Some(f) = link::read_frame_record(&bytes) {
                            inputs.push(Input::Frame {
                                link: name.clone(),
                                boot: f.boot,
                                seq: f.seq,
                                payload: f.payload,
                            });
                        }
                    }
                    // The peer is late on this link: a pass, which reads the heard pages.
                    Ok(Some((link::LATE, _))) => inputs.push(Input::Late { link: name.clone() }),
                    Ok(Some((link::RENEWED, took))) => {
                        let took = String::from_utf8_lossy(&took).trim().parse().unwrap_or(0);
                        inputs.push(Input::LeaseRenewed {
                            link: name.clone(),
                            took,
                        })
                    }
                    Ok(Some((_, line))) => inputs.push(Input::LinkStats {
                        link: name.clone(),
                        line: String::from_utf8_lossy(&line).into_owned(),
                    }),
                    Ok(None) => break,
                    Err(_) => break,
                }
            }
        }
        self.io_buf = buf;
        crate::engine::newest_beats_only(&mut inputs);
        for i in inputs {
            self.feed(i);
        }
    }

    /// Seals a message once and hands it to one link or to all.
    /// The standing beat follows it, given again after the pass (the links stop repeating
    /// the older gift).
    pub(super) fn send(&mut self, only: Option<&str>, payload: &[u8]) {
        self.give(only, link::FRAME, payload, true);
        // Once after the pass, however many frames it sent (a configuration in pieces), and
        // not for a disk link's own beats.
        self.regive |= only.is_none_or(|o| self.links.get(o).is_some_and(|l| l.relays));
    }

    /// Gives the standing beat to one link process or to all, sealed afresh (so the
    /// repeats of each gift have sequences of their own); to disk links only when it is new
    /// (they write what they get, and get a beat every interval anyway).
    pub(super) fn give_standing(&mut self, only: Option<&str>, now: Millis, new: bool) {
        if only.is_none() {
            self.next_standing = now + super::STANDING_REFRESH;
        }
        if let Some(payload) = self.standing.take() {
            self.give(only, link::BEAT, &payload, new);
            self.standing = Some(payload);
        }
    }

    /// The time of each link's last good frame, from its heard page, for the engine (at most
    /// once a millisecond: a turn may feed several inputs).
    pub(super) fn read_heard(&mut self, now: Millis) {
        if self.heard_read_at == now {
            return;
        }
        self.heard_read_at = now;
        let boot_now = sys::boottime_millis();
        for (name, l) in self.links.iter_mut() {
            let Some(page) = &l.heard else { continue };
            let at = page.load();
            // Nothing yet, nothing new, or a time not yet come (never believed).
            if at == 0 || at == l.heard_seen || at > boot_now {
                continue;
            }
            l.heard_seen = at;
            self.engine.heard(name, now.saturating_sub(boot_now - at));
        }
    }

    fn give(&mut self, only: Option<&str>, kind: u8, payload: &[u8], to_disk: bool) {
        // hasvrd's sequences go in strides; a link's repeats of a beat fill the gaps.
        self.seq += crate::frame::SEQ_STRIDE;
        let frame = match crate::frame::seal(self.key.as_deref(), self.boot, self.seq, payload) {
            Ok(f) => f,
            Err(e) => return self.log.error(&format!("heartbeat not sent: {e}")),
        };
        let rec = link::record(kind, &frame);
        let now = self.clock.now();
        let mut stuck = Vec::new();
        for (name, l) in self.links.iter_mut() {
            if only.is_some_and(|o| o != name) || (!to_disk && !l.relays) {
                continue;
            }
            let Some(to) = &l.to else { continue };
            // A link process that does not keep up loses a beat, never blocks hasvrd; one
            // that took part of a record is out of step and is restarted.
            match sys::write_some(to, &rec) {
                Ok(n) if n == rec.len() => self.dropping.retain(|d| d != name),
                Ok(_) => {
                    l.to = None;
                    if let Some(pid) = l.pid {
                        stuck.push((name.clone(), pid));
                    }
                }
                Err(_) if !self.dropping.contains(name) => {
                    self.dropping.push(name.clone());
                    self.log.warning(&format!("link {name}: its process does not take frames; beats are lost until it does"));
                }
                Err(_) => {}
            }
        }
        for (name, pid) in stuck {
            self.log.error(&format!(
                "link {name}: its process does not keep up with hasvrd; restarting it"
            ));
            self.children.stop(pid, now);
        }
    }

    /// Opens the public-network check's socket once the configuration names NICs.
    pub(super) fn bind_public(&mut self, now: Millis) {
        // Without NICs in the configuration there is no public network to ask over.
        if self.public.is_some() || now < self.next_public_bind {
            return;
        }
        if self.engine.config().nics_of(&self.home.node).is_empty() {
            // Nothing to bind until a configuration with NICs comes (it resets this).
            self.next_public_bind = Millis::MAX;
            return;
        }
        let port = self.engine.config().public_port();
        // IPv6 and IPv4 on one socket; IPv4 alone where the kernel has no IPv6.
        match sys::udp_dual_stack(port)
            .or_else(|_| std::net::UdpSocket::bind(("0.0.0.0", port)))
            .and_then(|s| s.set_nonblocking(true).map(|_| s))
        {
            Ok(s) => self.public = Some(s),
            Err(e) => {
                self.log.warning(&format!(
                    "public-network check: cannot listen on UDP port {port}: {e}; retrying in 5s"
                ));
                self.next_public_bind = now + 5000;
            }
        }
    }

    /// The peer's beats over the public network (checked like any frame).
    pub(super) fn read_public(&mut self) {
        let mut frames = Vec::new();
        let mut buf = std::mem::take(&mut self.io_buf);
        if let Some(sock) = &self.public {
            // A bounded turn, like every reader of the loop.
            for _ in 0..64 {
                let Ok((n, _)) = sock.recv_from(&mut buf) else {
                    break;
                };
                if let Ok(f) = self.public_wire.accept(&buf[..n], &mut self.public_guard) {
                    frames.push(f);
                }
            }
        }
        self.io_buf = buf;
        match self.public_wire.news() {
            Some((true, what)) => self.log.warning(&format!("public-network check: {what}")),
            Some((false, what)) => self.log.info(&format!("public-network check: {what}")),
            None => {}
        }
        for f in frames {
            self.feed(Input::Frame {
                link: "public".into(),
                boot: f.boot,
                seq: f.seq,
                payload: f.payload,
            });
        }
    }

    /// Seals a message and sends it to the peer's public addresses.
    pub(super) fn send_public(&mut self, to: &[std::net::IpAddr], payload: &[u8]) {
        let Some(sock) = &self.public else { return };
        self.seq += crate::frame::SEQ_STRIDE;
        let Ok(frame) = crate::frame::seal(self.key.as_deref(), self.boot, self.seq, payload)
        else {
            return;
        };
        let Some(frame) = self.public_wire.outgoing(&frame) else {
            return;
        };
        let port = self.engine.config().public_port();
        let dual = sock.local_addr().is_ok_and(|l| l.is_ipv6());
        for &a in to {
            let a = match a {
                std::net::IpAddr::V4(v4) if dual => std::net::IpAddr::V6(v4.to_ipv6_mapped()),
                a => a,
            };
            let _ = sock.send_to(&frame, (a, port));
        }
    }

    /// New key files (a change of key, or a key installed by hand): hasvrd's own frames
    /// take them, and each link process is told to read them again (in place: no frame of
    /// the peer is missed).
    pub(super) fn check_authkey(&mut self, now: Millis) {
        let stamp = authkey_stamp(&self.home);
        if stamp.is_none() || stamp == self.authkey_seen {
            return;
        }
        self.authkey_seen = stamp;
        match crate::authkey::load_keys(&self.home) {
            Ok((k, also)) => {
                self.public_wire.set_keys(Some(&k), &also);
                self.key = Some(k);
                let rec = link::record(link::KEYS, b"");
                let mut missed = Vec::new();
                for (name, l) in self.links.iter_mut() {
                    match &l.to {
                        Some(to) if matches!(sys::write_some(to, &rec), Ok(n) if n == rec.len()) => {}
                        _ => missed.push((name.clone(), l.pid)),
                    }
                }
                // One that could not be told starts again, and reads them as it starts.
                for (name, pid) in missed {
                    if let (Some(_), Some(pid)) = (self.links.remove(&name), pid) {
                        self.children.stop(pid, now);
                    }
                }
                self.log.info("authkey: the keys changed; the links take them");
            }
            Err(e) => self.log.error(&format!(
                "authkey: etc/authkey changed but cannot be used ({e}); the links keep the key they have"
            )),
        }
    }
}

/// When etc/authkey (and the keys of a change of key beside it) last changed: modification
/// times, inodes and sizes, folded.
pub(super) fn authkey_stamp(home: &crate::paths::Home) -> Option<(i64, u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let main = home.authkey();
    let m = std::fs::metadata(&main).ok()?;
    let mut stamp = (
        m.mtime_nsec() + m.mtime() * 1_000_000_000,
        m.ino(),
        m.size(),
    );
    for ext in ["next", "prev"] {
        if let Ok(x) = std::fs::metadata(main.with_extension(ext)) {
            stamp.0 ^= x.mtime_nsec() + x.mtime() * 1_000_000_000;
            stamp.1 ^= x.ino().rotate_left(17);
            stamp.2 = stamp.2.wrapping_mul(31).wrapping_add(x.size() + 1);
        } else {
            stamp.2 = stamp.2.wrapping_mul(31);
        }
    }
    Some(stamp)
}
