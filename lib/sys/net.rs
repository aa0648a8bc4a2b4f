//! Network interfaces and raw network I/O: interface names, addresses, flags and MACs,
//! netlink route requests and events, the packet socket for announcements, network
//! namespaces, and a dual-stack UDP socket.

use super::{check, open, read_some};
use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

/// The names of this network namespace's interfaces (getifaddrs lists each, with an address
/// or not), loopback excepted, sorted.
pub fn interface_names() -> Vec<String> {
    let mut v = Vec::new();
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list we free below.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return v;
    }
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: `cur` points into the list getifaddrs returned, valid until freeifaddrs;
        // the name is a C string.
        let ifa = unsafe { &*cur };
        let name = unsafe { std::ffi::CStr::from_ptr(ifa.ifa_name) }
            .to_string_lossy()
            .into_owned();
        if name != "lo" {
            v.push(name);
        }
        cur = ifa.ifa_next;
    }
    // SAFETY: the list from getifaddrs, freed once.
    unsafe { libc::freeifaddrs(head) };
    v.sort();
    v.dedup();
    v
}

/// One packet socket for the life of the process: closing one waits for the kernel's RCU
/// grace period (about 10 ms), too long to pay on every move. Protocol 0: it receives nothing.
#[cfg(target_os = "linux")]
fn arp_socket() -> io::Result<&'static OwnedFd> {
    static SOCKET: std::sync::OnceLock<OwnedFd> = std::sync::OnceLock::new();
    if let Some(fd) = SOCKET.get() {
        return Ok(fd);
    }
    // SAFETY: plain socket(2) call.
    let fd =
        check(unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: `fd` was just created and is owned by nobody else.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    Ok(SOCKET.get_or_init(|| owned))
}

/// Sends one whole Ethernet frame (its header included) on interface `ifname`, addressed
/// at the link layer to the frame's own destination. Needs CAP_NET_RAW (Linux).
#[cfg(target_os = "linux")]
pub fn send_ethernet_frame(ifname: &str, frame: &[u8]) -> io::Result<()> {
    if frame.len() < 14 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not an Ethernet frame",
        ));
    }
    let cname = CString::new(ifname)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "bad interface name"))?;
    // SAFETY: `cname` is a valid NUL-terminated string.
    let ifindex = unsafe { libc::if_nametoindex(cname.as_ptr()) };
    if ifindex == 0 {
        return Err(io::Error::last_os_error());
    }
    let sock = arp_socket()?;
    // SAFETY: sockaddr_ll is plain data; every field we rely on is set below.
    let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    addr.sll_family = libc::AF_PACKET as u16;
    addr.sll_protocol = u16::from_ne_bytes([frame[12], frame[13]]);
    addr.sll_ifindex = ifindex as i32;
    addr.sll_halen = 6;
    addr.sll_addr[..6].copy_from_slice(&frame[..6]);
    // SAFETY: `frame` and `addr` are valid for the lengths given.
    let n = unsafe {
        libc::sendto(
            sock.as_raw_fd(),
            frame.as_ptr().cast(),
            frame.len(),
            0,
            (&addr as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
pub fn send_ethernet_frame(_ifname: &str, _frame: &[u8]) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "raw Ethernet frames (gratuitous ARP, neighbour advertisements) are implemented for Linux only",
    ))
}

/// Moves the calling thread into the network namespace at `path` (`/run/netns/NAME`).
/// Sockets it creates afterwards live there; other threads are unaffected (Linux).
#[cfg(target_os = "linux")]
pub fn enter_netns(path: &Path) -> io::Result<()> {
    let f = open(path, libc::O_RDONLY)?;
    // SAFETY: setns on a namespace descriptor we own; affects only this thread.
    check(unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) }).map(|_| ())
}

/// A netlink socket subscribed to link and address changes (IPv4 and IPv6): it becomes readable the
/// moment a NIC loses its carrier or an address comes or goes (Linux).
#[cfg(target_os = "linux")]
pub fn nic_events() -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2); the descriptor is owned below.
    let fd = check(unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            libc::NETLINK_ROUTE,
        )
    })?;
    // SAFETY: `fd` was just created and is owned by nobody else.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: sockaddr_nl is plain data; all-zero is a valid value.
    let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    addr.nl_groups =
        (libc::RTMGRP_LINK | libc::RTMGRP_IPV4_IFADDR | libc::RTMGRP_IPV6_IFADDR) as u32;
    // SAFETY: `addr` is a valid sockaddr_nl and the length is its size.
    check(unsafe {
        libc::bind(
            fd,
            (&addr as *const libc::sockaddr_nl).cast(),
            std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
        )
    })?;
    Ok(owned)
}

/// Sends one request to the kernel's routing netlink and returns its answer (Linux): the
/// message is built and the answer read by the caller (`vip`).
#[cfg(target_os = "linux")]
pub fn netlink_route_request(msg: &[u8]) -> io::Result<Vec<u8>> {
    // SAFETY: plain socket(2); the descriptor is owned below.
    let fd = check(unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::NETLINK_ROUTE,
        )
    })?;
    // SAFETY: `fd` was just created and is owned by nobody else.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    // A bounded wait: the kernel answers at once, but never hang the caller on it.
    let tv = libc::timeval {
        tv_sec: 2,
        tv_usec: 0,
    };
    // SAFETY: `tv` is a valid timeval for the duration of the call.
    check(unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&tv as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    })?;
    // SAFETY: sockaddr_nl is plain data; all-zero addresses the kernel.
    let mut kernel: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    kernel.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    // SAFETY: `msg` is valid for its length and `kernel` is a valid sockaddr_nl.
    let sent = unsafe {
        libc::sendto(
            fd,
            msg.as_ptr().cast(),
            msg.len(),
            0,
            (&kernel as *const libc::sockaddr_nl).cast(),
            std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
        )
    };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut buf = vec![0u8; 8192];
    let n = read_some(&owned, &mut buf)?;
    buf.truncate(n);
    Ok(buf)
}

#[cfg(not(target_os = "linux"))]
pub fn netlink_route_request(_msg: &[u8]) -> io::Result<Vec<u8>> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "no netlink here",
    ))
}

/// The kernel's index of an interface, if it exists.
pub fn if_index(name: &str) -> Option<u32> {
    let c = CString::new(name).ok()?;
    // SAFETY: `c` is a valid NUL-terminated string for the call.
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    (i > 0).then_some(i)
}

#[cfg(not(target_os = "linux"))]
pub fn nic_events() -> io::Result<OwnedFd> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "no netlink here",
    ))
}

/// Every IPv4 and IPv6 address of every interface: (interface, address, prefix length).
pub fn interface_addresses() -> Vec<(String, std::net::IpAddr, u8)> {
    let mut out = Vec::new();
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list we free below.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return out;
    }
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: `cur` points into the list getifaddrs returned, valid until freeifaddrs.
        let ifa = unsafe { &*cur };
        cur = ifa.ifa_next;
        if ifa.ifa_addr.is_null() {
            continue;
        }
        // SAFETY: the name is a C string valid until freeifaddrs.
        let name = unsafe { std::ffi::CStr::from_ptr(ifa.ifa_name) }
            .to_string_lossy()
            .into_owned();
        // SAFETY: a non-null ifa_addr points to a sockaddr of its family; the netmask, when
        // present, is of the same family.
        match i32::from(unsafe { (*ifa.ifa_addr).sa_family }) {
            libc::AF_INET => {
                let (addr, mask) = unsafe {
                    let a = &*(ifa.ifa_addr as *const libc::sockaddr_in);
                    let m = if ifa.ifa_netmask.is_null() {
                        0
                    } else {
                        (*(ifa.ifa_netmask as *const libc::sockaddr_in))
                            .sin_addr
                            .s_addr
                    };
                    (a.sin_addr.s_addr, m)
                };
                out.push((
                    name,
                    std::net::IpAddr::V4(std::net::Ipv4Addr::from(u32::from_be(addr))),
                    u32::from_be(mask).leading_ones() as u8,
                ));
            }
            libc::AF_INET6 => {
                let (addr, mask) = unsafe {
                    let a = &*(ifa.ifa_addr as *const libc::sockaddr_in6);
                    let m = if ifa.ifa_netmask.is_null() {
                        [0u8; 16]
                    } else {
                        (*(ifa.ifa_netmask as *const libc::sockaddr_in6))
                            .sin6_addr
                            .s6_addr
                    };
                    (a.sin6_addr.s6_addr, m)
                };
                out.push((
                    name,
                    std::net::IpAddr::V6(std::net::Ipv6Addr::from(addr)),
                    u128::from_be_bytes(mask).leading_ones() as u8,
                ));
            }
            _ => {}
        }
    }
    // SAFETY: `head` came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(head) };
    out
}

fn ifreq(name: &str) -> io::Result<libc::ifreq> {
    // SAFETY: ifreq is plain data; zeroed is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    let b = name.as_bytes();
    if b.is_empty() || b.len() >= req.ifr_name.len() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "bad interface name",
        ));
    }
    for (d, s) in req.ifr_name.iter_mut().zip(b) {
        *d = *s as libc::c_char;
    }
    Ok(req)
}

fn inet_socket() -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2) call.
    let fd =
        check(unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: a fresh descriptor owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// An interface's state in this process's network namespace: (administratively up,
/// running: link and carrier). `None` if there is no such interface.
pub fn nic_flags(name: &str) -> Option<(bool, bool)> {
    let sock = inet_socket().ok()?;
    let mut req = ifreq(name).ok()?;
    // SAFETY: SIOCGIFFLAGS fills the ifreq we pass; the socket is ours.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) } < 0 {
        return None;
    }
    // SAFETY: after SIOCGIFFLAGS the union holds the flags.
    let flags = i32::from(unsafe { req.ifr_ifru.ifru_flags });
    Some((flags & libc::IFF_UP != 0, flags & libc::IFF_RUNNING != 0))
}

/// An interface's hardware (MAC) address.
pub fn nic_mac(name: &str) -> Option<[u8; 6]> {
    let sock = inet_socket().ok()?;
    let mut req = ifreq(name).ok()?;
    // SAFETY: SIOCGIFHWADDR fills the ifreq we pass; the socket is ours.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFHWADDR, &mut req) } < 0 {
        return None;
    }
    // SAFETY: after SIOCGIFHWADDR the union holds a sockaddr with the address.
    let data = unsafe { req.ifr_ifru.ifru_hwaddr.sa_data };
    let mut mac = [0u8; 6];
    for (m, d) in mac.iter_mut().zip(data.iter()) {
        *m = *d as u8;
    }
    Some(mac)
}

/// A UDP socket on `port` of every address, IPv6 and IPv4 alike (`IPV6_V6ONLY` off, whatever
/// `net.ipv6.bindv6only` says), non-blocking.
pub fn udp_dual_stack(port: u16) -> io::Result<std::net::UdpSocket> {
    // SAFETY: plain socket(2); the descriptor is owned below.
    let fd = check(unsafe {
        libc::socket(
            libc::AF_INET6,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            0,
        )
    })?;
    // SAFETY: `fd` was just created and is owned by nobody else.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    let off: libc::c_int = 0;
    // SAFETY: `off` is a valid c_int for the duration of the call.
    check(unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_IPV6,
            libc::IPV6_V6ONLY,
            (&off as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    })?;
    // SAFETY: sockaddr_in6 is plain data; all-zero is the unspecified address.
    let mut addr: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
    addr.sin6_family = libc::AF_INET6 as libc::sa_family_t;
    addr.sin6_port = port.to_be();
    // SAFETY: `addr` is a valid sockaddr_in6 and the length is its size.
    check(unsafe {
        libc::bind(
            fd,
            (&addr as *const libc::sockaddr_in6).cast(),
            std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
        )
    })?;
    Ok(std::net::UdpSocket::from(owned))
}
