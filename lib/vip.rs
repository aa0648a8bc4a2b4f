//! Floating addresses: add, remove and check an address on the first healthy NIC of a list,
//! and announce it: gratuitous ARP for IPv4, an unsolicited neighbour advertisement for IPv6.
//! The system-specific part is the `Backend` trait; the Linux backend talks to the kernel
//! directly (routing netlink for addresses, ioctls for link state, raw sockets for the
//! announcements): no `ip(8)` on the path of a move. IPv6 addresses are added without
//! duplicate address detection (`nodad`): a floating address must answer at once, and the
//! lease and the peer's beats, not DAD, keep it on one node.

use crate::error::{Error, Result};
use std::net::IpAddr;

/// An address with its prefix length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Address {
    pub ip: IpAddr,
    pub prefix: u8,
}

/// Parses `IP/PREFIX[,IP/PREFIX...]` (IPv4 or IPv6).
pub fn parse_addresses(s: &str) -> Result<Vec<Address>> {
    s.split(',')
        .map(|a| {
            let (ip, prefix) = match a.split_once('/') {
                Some((ip, p)) => (ip, Some(p)),
                None => (a, None),
            };
            let ip: IpAddr = ip
                .parse()
                .map_err(|_| Error::usage(format!("'{a}' is not IP/PREFIX")))?;
            let most = if ip.is_ipv4() { 32 } else { 128 };
            let prefix: u8 = match prefix {
                None => most,
                Some(p) => p
                    .parse()
                    .ok()
                    .filter(|p| *p <= most)
                    .ok_or_else(|| Error::usage(format!("'{a}': bad prefix")))?,
            };
            Ok(Address { ip, prefix })
        })
        .collect()
}

/// What havip needs from the system.
pub trait Backend {
    /// Link up, with carrier.
    fn nic_healthy(&self, nic: &str) -> bool;
    fn has(&self, nic: &str, a: Address) -> bool;
    fn add(&self, nic: &str, a: Address) -> Result<()>;
    fn del(&self, nic: &str, a: Address) -> Result<()>;
    fn announce(&self, nic: &str, a: Address) -> Result<()>;
}

pub struct LinuxIp;

const RTM_NEWADDR: u16 = 20;
const RTM_DELADDR: u16 = 21;
const NLMSG_ERROR: u16 = 2;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;
const IFA_F_NODAD: u8 = 0x02;

/// The routing-netlink request adding (or removing) `a` on interface `index`, as
/// `ip addr add|del A/P dev NIC [nodad]` sends it: a `nlmsghdr`, an `ifaddrmsg`, then
/// IFA_LOCAL and IFA_ADDRESS attributes (host byte order for the headers, network order for
/// addresses).
pub fn addr_message(add: bool, index: u32, a: Address) -> Vec<u8> {
    let (family, ifa_flags, octets) = match a.ip {
        IpAddr::V4(ip) => (AF_INET, 0, ip.octets().to_vec()),
        IpAddr::V6(ip) => (AF_INET6, IFA_F_NODAD, ip.octets().to_vec()),
    };
    let attr_len = 4 + octets.len();
    let len = 16 + 8 + 2 * attr_len;
    let mut m = Vec::with_capacity(len);
    let (kind, flags) = if add {
        (
            RTM_NEWADDR,
            NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
        )
    } else {
        (RTM_DELADDR, NLM_F_REQUEST | NLM_F_ACK)
    };
    m.extend_from_slice(&(len as u32).to_ne_bytes());
    m.extend_from_slice(&kind.to_ne_bytes());
    m.extend_from_slice(&flags.to_ne_bytes());
    m.extend_from_slice(&1u32.to_ne_bytes()); // sequence
    m.extend_from_slice(&0u32.to_ne_bytes()); // to the kernel
    m.extend_from_slice(&[family, a.prefix, ifa_flags, 0]); // family, prefix, flags, scope global
    m.extend_from_slice(&index.to_ne_bytes());
    for attr in [IFA_LOCAL, IFA_ADDRESS] {
        m.extend_from_slice(&(attr_len as u16).to_ne_bytes());
        m.extend_from_slice(&attr.to_ne_bytes());
        m.extend_from_slice(&octets);
    }
    m
}

/// The errno of a netlink acknowledgement (0: done); `None` if it is not one.
pub fn ack_errno(reply: &[u8]) -> Option<i32> {
    let kind = u16::from_ne_bytes(reply.get(4..6)?.try_into().ok()?);
    if kind != NLMSG_ERROR {
        return None;
    }
    let err = i32::from_ne_bytes(reply.get(16..20)?.try_into().ok()?);
    Some(-err)
}

fn change(add: bool, nic: &str, a: Address) -> Result<()> {
    let what = if add { "add" } else { "remove" };
    let index = crate::sys::if_index(nic).ok_or_else(|| {
        Error::failed(format!("cannot {what} {}/{}: no NIC {nic}", a.ip, a.prefix))
    })?;
    let reply = crate::sys::netlink_route_request(&addr_message(add, index, a))
        .map_err(|e| Error::failed(format!("cannot {what} {}/{} on {nic}: {e}", a.ip, a.prefix)))?;
    match ack_errno(&reply) {
        Some(0) => Ok(()),
        // Already there (a restart, an adopted service), or already gone: done.
        Some(libc::EEXIST) if add => Ok(()),
        Some(libc::EADDRNOTAVAIL) if !add => Ok(()),
        Some(e) => Err(Error::failed(format!(
            "cannot {what} {}/{} on {nic}: {}",
            a.ip,
            a.prefix,
            std::io::Error::from_raw_os_error(e)
        ))),
        None => Err(Error::failed(format!(
            "cannot {what} {}/{} on {nic}: the kernel did not acknowledge",
            a.ip, a.prefix
        ))),
    }
}

impl Backend for LinuxIp {
    fn nic_healthy(&self, nic: &str) -> bool {
        // From the network namespace itself (sysfs may show another one's interfaces).
        crate::sys::nic_flags(nic).is_some_and(|(up, running)| up && running)
    }
    fn has(&self, nic: &str, a: Address) -> bool {
        crate::sys::interface_addresses()
            .iter()
            .any(|(n, ip, _)| n == nic && *ip == a.ip)
    }
    fn add(&self, nic: &str, a: Address) -> Result<()> {
        change(true, nic, a)
    }
    fn del(&self, nic: &str, a: Address) -> Result<()> {
        change(false, nic, a)
    }
    fn announce(&self, nic: &str, a: Address) -> Result<()> {
        let mac = crate::sys::nic_mac(nic)
            .ok_or_else(|| Error::failed(format!("{nic}: no MAC address")))?;
        let (frame, what) = match a.ip {
            IpAddr::V4(ip) => (crate::announce::gratuitous_arp(mac, ip), "gratuitous ARP"),
            IpAddr::V6(ip) => (
                crate::announce::neighbour_advert(mac, ip),
                "neighbour advertisement",
            ),
        };
        crate::sys::send_ethernet_frame(nic, &frame)
            .map_err(|e| Error::failed(format!("{what} for {} on {nic}: {e}", a.ip)))
    }
}

/// Adds every address on the first healthy NIC; returns that NIC.
pub fn add(b: &dyn Backend, addrs: &[Address], nics: &[String]) -> Result<String> {
    let nic = nics
        .iter()
        .find(|n| b.nic_healthy(n))
        .ok_or_else(|| Error::failed(format!("no healthy NIC among {}", nics.join(" "))))?;
    for &a in addrs {
        // On another NIC of our list (a local NIC failover): move it.
        for other in nics.iter().filter(|n| *n != nic) {
            if b.has(other, a) {
                b.del(other, a)?;
            }
        }
        b.add(nic, a)?;
        b.announce(nic, a)?;
    }
    Ok(nic.clone())
}

/// Removes every address from whichever listed NIC holds it.
pub fn del(b: &dyn Backend, addrs: &[Address], nics: &[String]) -> Result<()> {
    for &a in addrs {
        for nic in nics {
            b.del(nic, a)?;
        }
    }
    Ok(())
}

/// Whether every address is on one of the NICs.
pub fn check(b: &dyn Backend, addrs: &[Address], nics: &[String]) -> bool {
    addrs.iter().all(|&a| nics.iter().any(|n| b.has(n, a)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    #[derive(Default)]
    struct Fake {
        down: Vec<String>,
        on: RefCell<Vec<(String, IpAddr)>>,
        announced: RefCell<Vec<(String, IpAddr)>>,
    }

    impl Backend for Fake {
        fn nic_healthy(&self, nic: &str) -> bool {
            !self.down.iter().any(|d| d == nic)
        }
        fn has(&self, nic: &str, a: Address) -> bool {
            self.on.borrow().contains(&(nic.to_string(), a.ip))
        }
        fn add(&self, nic: &str, a: Address) -> Result<()> {
            if !self.has(nic, a) {
                self.on.borrow_mut().push((nic.into(), a.ip));
            }
            Ok(())
        }
        fn del(&self, nic: &str, a: Address) -> Result<()> {
            self.on
                .borrow_mut()
                .retain(|x| *x != (nic.to_string(), a.ip));
            Ok(())
        }
        fn announce(&self, nic: &str, a: Address) -> Result<()> {
            self.announced.borrow_mut().push((nic.into(), a.ip));
            Ok(())
        }
    }

    #[test]
    fn netlink_messages_are_what_ip_addr_sends() {
        let a = parse_addresses("192.0.2.100/24").unwrap()[0];
        let m = addr_message(true, 7, a);
        assert_eq!(m.len(), 40);
        assert_eq!(u32::from_ne_bytes(m[0..4].try_into().unwrap()), 40);
        assert_eq!(u16::from_ne_bytes(m[4..6].try_into().unwrap()), RTM_NEWADDR);
        assert_eq!(&m[16..20], &[AF_INET, 24, 0, 0]);
        assert_eq!(u32::from_ne_bytes(m[20..24].try_into().unwrap()), 7);
        assert_eq!(&m[28..32], &[192, 0, 2, 100]);
        assert_eq!(&m[36..40], &[192, 0, 2, 100]);
        let d = addr_message(false, 7, a);
        assert_eq!(u16::from_ne_bytes(d[4..6].try_into().unwrap()), RTM_DELADDR);
        // An acknowledgement: nlmsghdr of type NLMSG_ERROR, then the negated errno.
        let mut ack = vec![0u8; 36];
        ack[4..6].copy_from_slice(&NLMSG_ERROR.to_ne_bytes());
        assert_eq!(ack_errno(&ack), Some(0));
        ack[16..20].copy_from_slice(&(-libc::EEXIST).to_ne_bytes());
        assert_eq!(ack_errno(&ack), Some(libc::EEXIST));
        assert_eq!(ack_errno(&ack[..10]), None);
        assert_eq!(ack_errno(&[0u8; 20]), None);
    }

    #[test]
    fn ipv6_netlink_messages_are_what_ip_addr_nodad_sends() {
        let a = parse_addresses("2001:db8::100/64").unwrap()[0];
        let m = addr_message(true, 3, a);
        assert_eq!(m.len(), 64);
        assert_eq!(u32::from_ne_bytes(m[0..4].try_into().unwrap()), 64);
        assert_eq!(&m[16..20], &[AF_INET6, 64, IFA_F_NODAD, 0]);
        assert_eq!(u16::from_ne_bytes(m[24..26].try_into().unwrap()), 20);
        assert_eq!(u16::from_ne_bytes(m[26..28].try_into().unwrap()), IFA_LOCAL);
        let ip: std::net::Ipv6Addr = "2001:db8::100".parse().unwrap();
        assert_eq!(&m[28..44], &ip.octets());
        assert_eq!(&m[48..64], &ip.octets());
        assert_eq!(parse_addresses("2001:db8::1").unwrap()[0].prefix, 128);
        assert!(parse_addresses("2001:db8::1/129").is_err());
    }

    #[test]
    fn adds_on_the_first_healthy_nic_and_announces() {
        let f = Fake {
            down: vec!["eth0".into()],
            ..Default::default()
        };
        let addrs = parse_addresses("192.0.2.100/24,192.0.2.101/24").unwrap();
        let nics = vec!["eth0".to_string(), "eth1".to_string()];
        assert_eq!(add(&f, &addrs, &nics).unwrap(), "eth1");
        assert!(check(&f, &addrs, &nics));
        assert_eq!(f.announced.borrow().len(), 2);
        add(&f, &addrs, &nics).unwrap();
        assert_eq!(f.on.borrow().len(), 2, "adding twice is harmless");
        del(&f, &addrs, &nics).unwrap();
        assert!(!check(&f, &addrs, &nics));
        let all_down = Fake {
            down: nics.clone(),
            ..Default::default()
        };
        assert!(add(&all_down, &addrs, &nics)
            .unwrap_err()
            .message
            .contains("no healthy NIC"));
        assert!(parse_addresses("192.0.2.1/33").is_err());
        assert!(parse_addresses("nonsense").is_err());
    }
}
