//! hahb-sock: a heartbeat link over UDP.

use super::transport::{self, Transport, Turn};
use super::{socket_ends, Relay};
use crate::authkey::load_keys;
use crate::config::Link;
use crate::error::Result;
use crate::frame::{Opened, Wire};
use crate::log::Logger;
use crate::paths::Home;
use crate::sys::PollSet;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

/// A flood of datagrams gets this many reads a turn: it cannot keep hasvrd's frames from
/// going out.
const READS_A_TURN: usize = 256;

/// hahb-sock: UDP between this node's and the peer's address of the link.
pub fn run_socket(home: &Home, link: &Link) -> Result<()> {
    let log = Logger::new(home.log(), &home.node, "hahb-sock");
    let (key, also) = load_keys(home)?;
    let (local, peer) = socket_ends(link, &home.node)?;
    let relay = Relay::new(Some(key.clone()), Duration::from_millis(link.interval));
    let wire = Wire::for_link(Some(&key), &also);
    let udp = Udp {
        local,
        peer,
        buf: vec![0u8; 70_000],
    };
    transport::run(home, &link.name, udp, wire, Some(relay), log)
}

struct Udp {
    local: SocketAddr,
    peer: SocketAddr,
    buf: Vec<u8>,
}

impl Transport for Udp {
    type Medium = UdpSocket;

    fn open(&mut self) -> std::result::Result<UdpSocket, String> {
        // The address may come back (an interface being brought up): it is tried again.
        UdpSocket::bind(self.local)
            .and_then(|s| s.set_nonblocking(true).map(|_| s))
            .map_err(|e| format!("cannot listen on {}: {e}", self.local))
    }

    fn opened(&mut self, _: &UdpSocket) -> Option<String> {
        Some(format!("listening on {}, peer {}", self.local, self.peer))
    }

    fn fd(sock: &UdpSocket) -> Option<RawFd> {
        Some(sock.as_raw_fd())
    }

    fn wake(&self, _: Option<&UdpSocket>) -> Option<Instant> {
        None
    }

    fn send(&mut self, sock: &mut UdpSocket, frames: &[Vec<u8>], turn: &mut Turn) -> Result<bool> {
        for f in frames {
            if sock.send_to(f, self.peer).is_err() {
                turn.counters.txerr += 1;
            }
        }
        Ok(true)
    }

    fn receive(
        &mut self,
        sock: &mut UdpSocket,
        set: &PollSet,
        turn: &mut Turn,
    ) -> Result<(Vec<Opened>, bool)> {
        let mut got = Vec::new();
        if !set.ready(sock.as_raw_fd()) {
            return Ok((got, true));
        }
        for _ in 0..READS_A_TURN {
            match sock.recv_from(&mut self.buf) {
                Ok((_, from)) if from.ip() != self.peer.ip() => turn.counters.foreign += 1,
                Ok((n, _)) => match turn.wire.accept(&self.buf[..n], turn.guard) {
                    Ok(clear) => got.push(clear),
                    Err(bad) => turn.counters.count(bad),
                },
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                // The interface went away (its address removed): bound again later.
                Err(_) => return Ok((got, false)),
            }
        }
        Ok((got, true))
    }
}
