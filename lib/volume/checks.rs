//! What havol is given, checked before anything is touched: the device, the mount point, and
//! what is mounted where.

use crate::error::{Error, Result};
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

/// One line of /proc/self/mountinfo: the source and the mount point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mounted {
    pub source: String,
    pub point: String,
}

/// Unescapes mountinfo's octal escapes (`\040` for a space).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 4 <= b.len() {
            let code = std::str::from_utf8(&b[i + 1..i + 4])
                .ok()
                .and_then(|s| u8::from_str_radix(s, 8).ok());
            if let Some(v) = code {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses mountinfo text (this mount namespace's mounts).
pub fn parse_mountinfo(text: &str) -> Vec<Mounted> {
    text.lines()
        .filter_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            let point = left.split(' ').nth(4)?;
            let source = right.split(' ').nth(1)?;
            Some(Mounted {
                source: unescape(source),
                point: unescape(point),
            })
        })
        .collect()
}

pub fn mounts() -> Vec<Mounted> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .map(|t| parse_mountinfo(&t))
        .unwrap_or_default()
}

/// What is mounted on `point` (the last mount there wins), if anything.
pub fn mounted_on(point: &str) -> Option<String> {
    let p = canonical(point);
    mounts()
        .into_iter()
        .rev()
        .find(|m| canonical(&m.point) == p)
        .map(|m| m.source)
}

fn canonical(p: &str) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| PathBuf::from(p))
}

/// A loop device's backing file, if `dev` is a loop device.
fn loop_backing(dev: &Path) -> Option<PathBuf> {
    let name = dev.file_name()?.to_str()?;
    let t = std::fs::read_to_string(format!("/sys/block/{name}/loop/backing_file")).ok()?;
    Some(PathBuf::from(t.trim()))
}

/// Whether a mount's source is this device (or its file, through a loop device).
pub fn same_device(source: &str, dev: &str) -> bool {
    let (s, d) = (canonical(source), canonical(dev));
    if s == d {
        return true;
    }
    loop_backing(&s).is_some_and(|b| b == d) || loop_backing(&d).is_some_and(|b| b == s)
}

/// The device must be a block device, or a regular file of a real file system (mounted
/// through a loop device).
pub fn check_device(dev: &str) -> Result<()> {
    if !dev.starts_with('/') {
        return Err(Error::failed(format!("{dev}: not an absolute device path")));
    }
    let meta = std::fs::metadata(dev).map_err(|e| Error::failed(format!("{dev}: {e}")))?;
    let ft = meta.file_type();
    if ft.is_block_device() {
        return Ok(());
    }
    let real = canonical(dev);
    if ft.is_file() {
        if ["/proc", "/sys", "/dev"]
            .iter()
            .any(|p| real.starts_with(p))
        {
            return Err(Error::failed(format!(
                "{dev}: a file of {} is not a volume",
                real.iter()
                    .nth(1)
                    .map_or("?".into(), |s| s.to_string_lossy())
            )));
        }
        if meta.len() == 0 {
            return Err(Error::failed(format!(
                "{dev}: an empty file is not a volume"
            )));
        }
        return Ok(());
    }
    Err(Error::failed(format!(
        "{dev}: not a block device ({})",
        if ft.is_dir() {
            "a directory"
        } else if ft.is_char_device() {
            "a character device"
        } else {
            "not a device"
        }
    )))
}

/// The mount point must be an absolute directory (created when missing) on which nothing
/// else is mounted, and the device must not be mounted anywhere else.
pub fn check_mount(dev: &str, point: &str) -> Result<bool> {
    if !point.starts_with('/') || point == "/" {
        return Err(Error::failed(format!(
            "{point}: a mount point is an absolute directory other than /"
        )));
    }
    match std::fs::metadata(point) {
        Ok(m) if !m.is_dir() => {
            return Err(Error::failed(format!("{point}: not a directory")));
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::failed(format!("{point}: {e}"))),
    }
    let here = canonical(point);
    let mut already = false;
    for m in mounts() {
        let on_point = canonical(&m.point) == here;
        let ours = same_device(&m.source, dev);
        match (on_point, ours) {
            (true, true) => already = true,
            (true, false) => {
                return Err(Error::failed(format!(
                    "{point}: {} is mounted there",
                    m.source
                )))
            }
            (false, true) => {
                return Err(Error::failed(format!(
                    "{dev} is already mounted on {}",
                    m.point
                )))
            }
            _ => {}
        }
    }
    Ok(already)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_lines_give_source_and_point() {
        let t = "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/vda rw\n\
                 30 22 7:3 / /mnt/my\\040data rw - ext4 /dev/loop3 rw\n\
                 garbage\n";
        assert_eq!(
            parse_mountinfo(t),
            vec![
                Mounted {
                    source: "/dev/vda".into(),
                    point: "/".into()
                },
                Mounted {
                    source: "/dev/loop3".into(),
                    point: "/mnt/my data".into()
                }
            ]
        );
    }

    #[test]
    fn what_is_not_a_volume_is_refused_with_its_reason() {
        assert!(check_device("/proc/version")
            .unwrap_err()
            .to_string()
            .contains("proc"));
        assert!(check_device("/tmp")
            .unwrap_err()
            .to_string()
            .contains("directory"));
        assert!(check_device("/dev/null")
            .unwrap_err()
            .to_string()
            .contains("character"));
        assert!(check_device("relative").is_err());
        assert!(check_mount("/dev/null", "/etc/hostname")
            .unwrap_err()
            .to_string()
            .contains("not a directory"));
        assert!(check_mount("/nonexistent-file", "/proc")
            .unwrap_err()
            .to_string()
            .contains("mounted there"));
    }
}
