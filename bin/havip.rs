//! havip — floating IP addresses.
//!
//! Synopsis: `havip add|del|check IP/PREFIX[,IP/PREFIX...] NIC...`
//!
//! `add` puts the addresses on the first healthy NIC of the list (link up, carrier) and
//! sends gratuitous ARP at once, then three more, spaced, from a background child, so that
//! neighbours update immediately; `del` removes them from whichever listed NIC has them;
//! `check` exits 0 when they are all present. Linux: routing netlink and a raw packet socket
//! (root), no `ip(8)`.
//!
//! Exit status: 0 done (check: present), 1 failed (check: absent), 2 usage.

use std::time::Duration;
use sureha::error::{exit_with, Error, Result};
use sureha::vip::{self, LinuxIp};

fn run(args: &[String]) -> Result<()> {
    let usage = || Error::usage("usage: havip add|del|check IP/PREFIX[,IP/PREFIX...] NIC...");
    let (verb, addrs, nics) = match args {
        [_, verb, addrs, nics @ ..] if !nics.is_empty() => {
            (verb.as_str(), vip::parse_addresses(addrs)?, nics.to_vec())
        }
        _ => return Err(usage()),
    };
    let b = LinuxIp;
    match verb {
        "add" => {
            let nic = vip::add(&b, &addrs, &nics)?;
            println!("added on {nic}");
            // More announcements, spaced, without holding up the service's start.
            if std::env::var_os("HAVIP_REPEAT").is_none() {
                let _ = std::process::Command::new(&args[0])
                    .env("HAVIP_REPEAT", "1")
                    .args(["announce", &args[2], &nic])
                    .spawn();
            }
            Ok(())
        }
        "announce" => {
            use sureha::vip::Backend;
            for _ in 0..3 {
                std::thread::sleep(Duration::from_millis(300));
                for &a in &addrs {
                    // Released meanwhile (a quick move back): announcing it would steal it.
                    if b.has(&nics[0], a) {
                        let _ = b.announce(&nics[0], a);
                    }
                }
            }
            Ok(())
        }
        "del" => vip::del(&b, &addrs, &nics),
        "check" if vip::check(&b, &addrs, &nics) => Ok(()),
        "check" => Err(Error::failed("not present")),
        _ => Err(usage()),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    exit_with("havip", run(&args))
}
