//! Time as the engine sees it: milliseconds on a monotonic clock, passed in by the caller.
//! Wall-clock time is only for log lines.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Milliseconds on a monotonic clock. The engine never reads a clock itself.
pub type Millis = u64;

/// A monotonic clock: `past` at its creation, then counting up.
pub struct Clock {
    origin: Instant,
    past: Millis,
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock {
    /// Zero at its creation.
    pub fn new() -> Self {
        Clock::with_past(0)
    }

    /// Reads `past` at its creation, so that moments up to `past` before it (a
    /// predecessor's last lease renewal) are times the engine can hold, not all zero.
    pub fn with_past(past: Millis) -> Self {
        Clock {
            origin: Instant::now(),
            past,
        }
    }

    pub fn now(&self) -> Millis {
        self.past + self.uptime()
    }

    /// Milliseconds since its creation.
    pub fn uptime(&self) -> Millis {
        self.origin.elapsed().as_millis() as Millis
    }
}

/// Seconds since the Unix epoch.
pub fn unix_seconds() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Milliseconds since the Unix epoch.
pub fn unix_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The boot id of a new hasvrd instance: the wall clock in milliseconds, but always above
/// the previous instance's, so a peer's replay guard recognises a restart even after the
/// clock was stepped back.
pub fn next_instance(previous: Option<u64>, wall_ms: u64) -> u64 {
    wall_ms.max(previous.map_or(0, |p| p.saturating_add(1)))
}

/// Local time as `YYYY-MM-DD HH:MM:SS.mmm` (milliseconds: failovers are that quick).
pub fn local_timestamp() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let (y, mo, d, h, mi, s) = crate::sys::localtime(now.as_secs() as i64);
    format!(
        "{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}.{:03}",
        now.subsec_millis()
    )
}

/// A duration for people: `250ms`, `3s`, `1.5s`.
pub fn human(ms: Millis) -> String {
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{:.1}s", ms as f64 / 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instances_grow_whatever_the_clock_does() {
        assert_eq!(next_instance(None, 1000), 1000);
        assert_eq!(next_instance(Some(500), 1000), 1000);
        // The clock was stepped back an hour: the id still grows.
        assert_eq!(next_instance(Some(3_601_000), 1000), 3_601_001);
    }
}
