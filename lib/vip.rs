//! Floating addresses: add, remove and check an address on the first healthy NIC of a list,
//! and announce it with gratuitous ARP. The system-specific part is the `Backend` trait; the
//! Linux backend drives `ip(8)` and asks the kernel for link state with ioctls.

use crate::error::{Error, Result};
use std::net::Ipv4Addr;
use std::process::Command;

/// An address with its prefix length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Address {
    pub ip: Ipv4Addr,
    pub prefix: u8,
}

/// Parses `IP/PREFIX[,IP/PREFIX...]`.
pub fn parse_addresses(s: &str) -> Result<Vec<Address>> {
    s.split(',')
        .map(|a| {
            let (ip, prefix) = a.split_once('/').unwrap_or((a, "32"));
            let ip: Ipv4Addr = ip
                .parse()
                .map_err(|_| Error::usage(format!("'{a}' is not IP/PREFIX")))?;
            let prefix: u8 = prefix
                .parse()
                .ok()
                .filter(|p| *p <= 32)
                .ok_or_else(|| Error::usage(format!("'{a}': bad prefix")))?;
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

fn ip(args: &[&str]) -> Result<String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| Error::failed(format!("cannot run ip: {e}")))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(Error::failed(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

impl Backend for LinuxIp {
    fn nic_healthy(&self, nic: &str) -> bool {
        // From the network namespace itself (sysfs may show another one's interfaces).
        crate::sys::nic_flags(nic).is_some_and(|(up, running)| up && running)
    }
    fn has(&self, nic: &str, a: Address) -> bool {
        ip(&["-o", "-4", "addr", "show", "dev", nic])
            .map(|s| s.contains(&format!(" {}/", a.ip)))
            .unwrap_or(false)
    }
    fn add(&self, nic: &str, a: Address) -> Result<()> {
        match ip(&["addr", "add", &format!("{}/{}", a.ip, a.prefix), "dev", nic]) {
            // Already there (a restart, an adopted service): done.
            Err(e) if e.message.contains("File exists") => Ok(()),
            r => r.map(|_| ()),
        }
    }
    fn del(&self, nic: &str, a: Address) -> Result<()> {
        match ip(&["addr", "del", &format!("{}/{}", a.ip, a.prefix), "dev", nic]) {
            // Not there (iproute2 words it either way): already gone.
            Err(e)
                if e.message.contains("Cannot assign requested address")
                    || e.message.contains("Address not found") =>
            {
                Ok(())
            }
            r => r.map(|_| ()),
        }
    }
    fn announce(&self, nic: &str, a: Address) -> Result<()> {
        let mac = crate::sys::nic_mac(nic)
            .ok_or_else(|| Error::failed(format!("{nic}: no MAC address")))?;
        crate::sys::send_gratuitous_arp(nic, mac, a.ip)
            .map_err(|e| Error::failed(format!("gratuitous ARP for {} on {nic}: {e}", a.ip)))
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
        on: RefCell<Vec<(String, Ipv4Addr)>>,
        announced: RefCell<Vec<(String, Ipv4Addr)>>,
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
