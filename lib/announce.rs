//! The frames that tell a network segment where a floating address lives now, whole from the
//! Ethernet header up (sent by `sys::send_ethernet_frame`): a gratuitous ARP for IPv4 (RFC
//! 5227's announcement), an unsolicited neighbour advertisement for IPv6 (RFC 4861 §7.2.6,
//! with the Override flag, so neighbours replace what they cached).

use std::net::{Ipv4Addr, Ipv6Addr};

const ETHERTYPE_ARP: [u8; 2] = [0x08, 0x06];
const ETHERTYPE_IPV6: [u8; 2] = [0x86, 0xdd];
const ICMPV6: u8 = 58;
const NEIGHBOUR_ADVERTISEMENT: u8 = 136;
/// Neither from a router nor solicited; Override.
const NA_FLAGS: [u8; 4] = [0x20, 0, 0, 0];
const TARGET_LINK_LAYER_ADDRESS: u8 = 2;

/// An ARP request for `ip` from `ip` at `mac`, broadcast.
pub fn gratuitous_arp(mac: [u8; 6], ip: Ipv4Addr) -> Vec<u8> {
    let ipb = ip.octets();
    let mut f = Vec::with_capacity(42);
    f.extend_from_slice(&[0xff; 6]);
    f.extend_from_slice(&mac);
    f.extend_from_slice(&ETHERTYPE_ARP);
    f.extend_from_slice(&[0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01]); // Ethernet/IPv4, request
    f.extend_from_slice(&mac);
    f.extend_from_slice(&ipb);
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&ipb);
    f
}

/// The Internet checksum (RFC 1071) of `data`.
fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An unsolicited neighbour advertisement of `ip` at `mac`, from `ip` to all nodes
/// (ff02::1), hop limit 255 as neighbour discovery requires.
pub fn neighbour_advert(mac: [u8; 6], ip: Ipv6Addr) -> Vec<u8> {
    let all_nodes = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
    let mut icmp = Vec::with_capacity(32);
    icmp.extend_from_slice(&[NEIGHBOUR_ADVERTISEMENT, 0, 0, 0]);
    icmp.extend_from_slice(&NA_FLAGS);
    icmp.extend_from_slice(&ip.octets());
    icmp.extend_from_slice(&[TARGET_LINK_LAYER_ADDRESS, 1]);
    icmp.extend_from_slice(&mac);
    let mut pseudo = Vec::with_capacity(40 + icmp.len());
    pseudo.extend_from_slice(&ip.octets());
    pseudo.extend_from_slice(&all_nodes.octets());
    pseudo.extend_from_slice(&(icmp.len() as u32).to_be_bytes());
    pseudo.extend_from_slice(&[0, 0, 0, ICMPV6]);
    pseudo.extend_from_slice(&icmp);
    let sum = checksum(&pseudo);
    icmp[2..4].copy_from_slice(&sum.to_be_bytes());

    let mut f = Vec::with_capacity(14 + 40 + icmp.len());
    // 33:33 and the group's last 32 bits: the multicast MAC of ff02::1.
    f.extend_from_slice(&[0x33, 0x33, 0, 0, 0, 1]);
    f.extend_from_slice(&mac);
    f.extend_from_slice(&ETHERTYPE_IPV6);
    f.extend_from_slice(&[0x60, 0, 0, 0]); // version 6, no class or flow
    f.extend_from_slice(&(icmp.len() as u16).to_be_bytes());
    f.extend_from_slice(&[ICMPV6, 255]);
    f.extend_from_slice(&ip.octets());
    f.extend_from_slice(&all_nodes.octets());
    f.extend_from_slice(&icmp);
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0a];

    #[test]
    fn a_gratuitous_arp_asks_for_its_own_address() {
        let f = gratuitous_arp(MAC, Ipv4Addr::new(192, 0, 2, 100));
        assert_eq!(f.len(), 42);
        assert_eq!(&f[..6], &[0xff; 6]);
        assert_eq!(&f[12..14], &ETHERTYPE_ARP);
        assert_eq!(&f[28..32], &[192, 0, 2, 100]);
        assert_eq!(&f[38..42], &[192, 0, 2, 100]);
    }

    #[test]
    fn a_neighbour_advertisement_is_well_formed_and_its_checksum_verifies() {
        let ip: Ipv6Addr = "2001:db8::100".parse().unwrap();
        let f = neighbour_advert(MAC, ip);
        assert_eq!(f.len(), 14 + 40 + 32);
        assert_eq!(&f[..6], &[0x33, 0x33, 0, 0, 0, 1]);
        assert_eq!(&f[12..14], &ETHERTYPE_IPV6);
        assert_eq!(f[14] >> 4, 6);
        assert_eq!(u16::from_be_bytes([f[18], f[19]]), 32, "payload length");
        assert_eq!((f[20], f[21]), (ICMPV6, 255), "next header, hop limit");
        assert_eq!(&f[22..38], &ip.octets(), "from the address itself");
        let icmp = &f[54..];
        assert_eq!(icmp[0], NEIGHBOUR_ADVERTISEMENT);
        assert_eq!(icmp[4], 0x20, "override, not solicited, not a router");
        assert_eq!(&icmp[8..24], &ip.octets(), "the target");
        assert_eq!(&icmp[24..26], &[TARGET_LINK_LAYER_ADDRESS, 1]);
        assert_eq!(&icmp[26..32], &MAC);
        // The receiver's check: the checksum over pseudo-header and message comes to zero.
        let mut pseudo = Vec::new();
        pseudo.extend_from_slice(&f[22..54]);
        pseudo.extend_from_slice(&32u32.to_be_bytes());
        pseudo.extend_from_slice(&[0, 0, 0, ICMPV6]);
        pseudo.extend_from_slice(icmp);
        assert_eq!(checksum(&pseudo), 0);
    }
}
