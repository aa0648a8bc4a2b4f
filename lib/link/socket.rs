//! hahb-sock: a heartbeat link over UDP.

use super::*;
use std::time::{Duration, Instant};

/// hahb-sock: UDP between this node's and the peer's address of the link.
pub fn run_socket(home: &Home, link: &Link) -> Result<()> {
    let mut log = Logger::new(home.log(), &home.node, "hahb-sock");
    let (key, also) = load_keys(home)?;
    let key = Some(key);
    let (local, peer) = socket_ends(link, &home.node)?;
    let name = &link.name;
    let interval = Duration::from_millis(link.interval);
    let mut up = Upstream::new(name)?;
    let mut beats = Relay::new(key.clone(), interval);
    let mut wire = Wire::for_link(key.as_deref(), &also);
    let mut sock: Option<UdpSocket> = None;
    let mut bind_error: Option<String> = None;
    let mut next_bind = Instant::now();
    let mut guard = ReplayGuard::default();
    let mut counters = Counters::default();
    let mut buf = vec![0u8; 70_000];
    loop {
        if sock.is_none() && Instant::now() >= next_bind {
            match UdpSocket::bind(local).and_then(|s| s.set_nonblocking(true).map(|_| s)) {
                Ok(s) => {
                    log.info(&format!("link {name}: listening on {local}, peer {peer}"));
                    bind_error = None;
                    sock = Some(s);
                }
                Err(e) => {
                    // The address may come back (an interface being brought up): retry.
                    let msg = e.to_string();
                    if bind_error.as_deref() != Some(msg.as_str()) {
                        log.warning(&format!(
                            "link {name}: cannot listen on {local}: {msg}; retrying every second"
                        ));
                        bind_error = Some(msg);
                    }
                    next_bind = Instant::now() + Duration::from_secs(1);
                }
            }
        }
        let mut set = sys::PollSet::default();
        set.read(up.fd()).read(sock.as_ref().map(|s| s.as_raw_fd()));
        // Asleep until a frame comes either way, the standing beat is due, the peer turns
        // late, or counters held back by the twice-a-second limit are due.
        let mut wake = beats.wake();
        if sock.is_none() {
            wake = relay::sooner(wake, Some(next_bind));
        }
        if up.report_due(&counters) {
            wake = relay::sooner(wake, Some(Instant::now() + Duration::from_millis(500)));
        }
        let _ = set.wait(relay::timeout_until(wake, Instant::now()));
        let from_hasvrd = set.ready(up.fd());
        let from_peer = sock.as_ref().is_some_and(|s| set.ready(s.as_raw_fd()));
        // Frames from hasvrd go out; once hasvrd is gone, so are we.
        let (frames, closed) = if from_hasvrd {
            up.frames(&mut log, &mut buf)?
        } else {
            (Vec::new(), false)
        };
        reload_keys(&mut up, home, &mut wire, Some(&mut beats), &mut log, name);
        for (is_beat, f) in frames {
            if beats.given(is_beat, &f) {
                if let Some(out) = wire.outgoing(&f) {
                    send(&sock, &out, peer, &mut counters);
                }
            }
        }
        if closed {
            return Ok(());
        }
        // Frames from the peer come in, checked; only news goes up.
        if let Some(s) = sock.as_ref().filter(|_| from_peer) {
            // A bounded turn: a flood of datagrams cannot keep hasvrd's frames from going out.
            for _ in 0..256 {
                match s.recv_from(&mut buf) {
                    Ok((_, from)) if from.ip() != peer.ip() => counters.foreign += 1,
                    Ok((n, _)) => match wire.accept(&buf[..n], &mut guard) {
                        Ok(clear) => {
                            counters.rx += 1;
                            if let Some(news) = beats.arrived(clear) {
                                counters.up += 1;
                                up.deliver(&news)?;
                            }
                        }
                        Err(bad) => counters.count(bad),
                    },
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(_) => {
                        // The interface went away (e.g. address removed): bind again later.
                        sock = None;
                        next_bind = Instant::now() + Duration::from_secs(1);
                        break;
                    }
                }
            }
        }
        tell_version(&mut wire, &mut counters, &mut log, name);
        let (frames, late) = beats.end_turn(wire.short_repeats());
        for f in frames {
            if let Some(out) = wire.outgoing(&f) {
                send(&sock, &out, peer, &mut counters);
            }
        }
        if late {
            up.write(LATE, b"")?;
        }
        up.report(&counters, &mut log)?;
    }
}

fn send(sock: &Option<UdpSocket>, frame: &[u8], peer: SocketAddr, counters: &mut Counters) {
    match sock {
        Some(s) if s.send_to(frame, peer).is_ok() => {}
        _ => counters.txerr += 1,
    }
}
