//! Values as the configuration writes them: durations, addresses, netmasks, numbers, yes/no, lists.

use super::*;

/// Parses a duration: `5`, `5s`, `1.5s`, `100ms`.
pub fn parse_duration(v: &str) -> Result<Millis, String> {
    let (num, scale) = if let Some(n) = v.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1000.0)
    } else {
        (v, 1000.0)
    };
    let ok = !num.is_empty()
        && num.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && num.bytes().filter(|&b| b == b'.').count() <= 1;
    let x: f64 = if ok {
        num.parse().map_err(|_| ())
    } else {
        Err(())
    }
    .map_err(|_| format!("'{v}' is not a duration (examples: 5, 5s, 1.5s, 100ms)"))?;
    let ms = (x * scale).round();
    if ms > 1e12 {
        return Err(format!("'{v}' is too long"));
    }
    Ok(ms as Millis)
}

/// Parses addresses, IPv4 (`a.b.c.d`) and IPv6 (`2001:db8::100`), several separated by
/// spaces, or ranges of one family (`a.b.c.d~a.b.c.e`, `2001:db8::100~2001:db8::103`).
pub fn parse_addresses(v: &str) -> Result<Vec<IpAddr>, String> {
    let addr = |a: &str, word: &str| -> Result<IpAddr, String> {
        a.parse().map_err(|_| {
            if a == word {
                format!("'{}' is not an IPv4 or IPv6 address", shown(a))
            } else {
                format!(
                    "'{}' is not an IPv4 or IPv6 address (in range '{}')",
                    shown(a),
                    shown(word)
                )
            }
        })
    };
    let mut out = Vec::new();
    for word in v.split_whitespace() {
        if let Some((a, b)) = word.split_once('~') {
            let (a, b) = (addr(a, word)?, addr(b, word)?);
            let (lo, hi) = match (a, b) {
                (IpAddr::V4(a), IpAddr::V4(b)) => {
                    (u128::from(u32::from(a)), u128::from(u32::from(b)))
                }
                (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a), u128::from(b)),
                _ => return Err(format!("range '{}' mixes IPv4 and IPv6", shown(word))),
            };
            if hi < lo {
                return Err(format!("range '{}' ends before it starts", shown(word)));
            }
            if hi - lo >= 256 {
                return Err(format!(
                    "range '{}' holds more than 256 addresses",
                    shown(word)
                ));
            }
            out.extend((lo..=hi).map(|n| match a {
                IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::from(n as u32)),
                IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::from(n)),
            }));
        } else {
            out.push(addr(word, word)?);
        }
    }
    if out.is_empty() {
        return Err("no address given".into());
    }
    Ok(out)
}

/// Netmask to prefix length; the mask must be contiguous.
pub fn mask_to_prefix(v: &str) -> Result<u8, String> {
    let m: Ipv4Addr = v
        .parse()
        .map_err(|_| format!("'{v}' is not a netmask like 255.255.255.0"))?;
    let bits = u32::from(m);
    let prefix = bits.leading_ones();
    if bits.checked_shl(prefix).unwrap_or(0) != 0 {
        return Err(format!("netmask '{v}' is not contiguous"));
    }
    Ok(prefix as u8)
}

pub(super) fn parse_int(v: &str, lo: u64, hi: u64) -> Result<u64, String> {
    // Digits only: no sign, no blanks (str::parse would take "+5").
    let n: u64 = Some(v)
        .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("'{}' is not a whole number", shown(v)))?;
    if n < lo || n > hi {
        return Err(format!("{n} is out of range {lo}–{hi}"));
    }
    Ok(n)
}

pub(super) fn parse_duration_in(v: &str, lo: Millis, hi: Millis) -> Result<Millis, String> {
    let ms = parse_duration(v)?;
    if ms < lo || ms > hi {
        return Err(format!(
            "{v} is out of range {}–{}",
            crate::clock::human(lo),
            crate::clock::human(hi)
        ));
    }
    Ok(ms)
}

pub(super) fn parse_yes_no(v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "yes" | "y" | "true" | "on" | "1" => Ok(true),
        "no" | "n" | "false" | "off" | "0" => Ok(false),
        _ => Err(format!("'{v}' is not yes or no")),
    }
}

pub(super) fn parse_list(v: &str) -> Vec<String> {
    v.split(|c: char| c.is_whitespace() || c == ',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}
