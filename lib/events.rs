//! `haadm events [AFTER]`: the log's recent lines for a reader that follows it (the console's
//! message bar), by byte offset, so a poll sends only what is new. First line `AT OFFSET`,
//! the offset to pass next time; then whole log lines, oldest first.

use crate::error::{Error, Result};
use crate::paths::Home;
use std::io::{Read, Seek, SeekFrom};

/// Lines given without AFTER, or when AFTER is gone (the log was rotated).
const FIRST_LINES: usize = 50;
/// At most this much of the log is read on one call, and these many lines are given.
const MAX_BYTES: u64 = 256 * 1024;
const MAX_LINES: usize = 200;

pub fn run(home: &Home, after: Option<&str>) -> Result<String> {
    let after = match after {
        None => None,
        Some(a) => Some(a.parse::<u64>().map_err(|_| {
            Error::usage(format!(
                "events: '{}' is not an offset (the number after AT)",
                crate::config::shown(a)
            ))
        })?),
    };
    let path = home.log();
    let mut f = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok("AT 0\n".into()),
        Err(e) => {
            return Err(Error::failed(format!(
                "cannot read {}: {e}",
                path.display()
            )))
        }
    };
    let size = f
        .metadata()
        .map_err(|e| Error::failed(format!("{}: {e}", path.display())))?
        .len();
    let (from, only_last) = match after {
        Some(a) if a <= size => (a.max(size.saturating_sub(MAX_BYTES)), MAX_LINES),
        _ => (size.saturating_sub(MAX_BYTES), FIRST_LINES),
    };
    let mut buf = Vec::new();
    f.seek(SeekFrom::Start(from))
        .and_then(|_| f.take(size - from).read_to_end(&mut buf))
        .map_err(|e| Error::failed(format!("{}: {e}", path.display())))?;
    Ok(render(
        &buf,
        from,
        after.is_some_and(|a| a == from),
        only_last,
    ))
}

/// The whole lines of `buf` (read from offset `from`; `aligned` when `from` starts a line),
/// the last `only_last` of them, after their `AT` line. A line still being written waits.
fn render(buf: &[u8], from: u64, aligned: bool, only_last: usize) -> String {
    let mut start = 0;
    if !aligned && from > 0 {
        // Skip to the first line that begins inside what was read.
        start = buf
            .iter()
            .position(|&b| b == b'\n')
            .map_or(buf.len(), |i| i + 1);
    }
    let end = buf
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(start, |i| i + 1);
    let end = end.max(start);
    let text = String::from_utf8_lossy(&buf[start..end]);
    let lines: Vec<&str> = text.lines().collect();
    let shown = &lines[lines.len().saturating_sub(only_last)..];
    let mut out = format!("AT {}\n", from + end as u64);
    for l in shown {
        out.push_str(l);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_whole_lines_and_the_offset_to_go_on_from() {
        let log = b"one\ntwo\nthr";
        assert_eq!(render(log, 0, true, 50), "AT 8\none\ntwo\n");
        // Read from the middle of a line: that line is skipped.
        assert_eq!(render(&log[2..], 2, false, 50), "AT 8\ntwo\n");
        assert_eq!(render(&log[4..], 4, true, 50), "AT 8\ntwo\n");
        assert_eq!(render(b"", 8, true, 50), "AT 8\n");
        assert_eq!(render(b"a\nb\nc\n", 0, true, 2), "AT 6\nb\nc\n");
        assert_eq!(render(b"partial", 0, true, 2), "AT 0\n");
    }
}
