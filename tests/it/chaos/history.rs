//! The run's history: one JSON object a line in `target/chaos/SEED/history.jsonl` (DESIGN
//! §15), each with `t`, seconds since the run began, and `event`. Shared by every thread of
//! the run; the last lines are kept in memory to show the history around a violation.

use serde_json::{json, Value};
use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

const KEEP: usize = 400;

struct Inner {
    out: BufWriter<File>,
    recent: VecDeque<String>,
}

#[derive(Clone)]
pub struct History {
    began: Instant,
    inner: Arc<Mutex<Inner>>,
    pub dir: PathBuf,
}

impl History {
    pub fn create(dir: &Path) -> History {
        std::fs::create_dir_all(dir).unwrap();
        let out = BufWriter::new(File::create(dir.join("history.jsonl")).unwrap());
        History {
            began: Instant::now(),
            inner: Arc::new(Mutex::new(Inner {
                out,
                recent: VecDeque::new(),
            })),
            dir: dir.to_path_buf(),
        }
    }

    /// Seconds since the run began.
    pub fn t(&self) -> f64 {
        self.began.elapsed().as_secs_f64()
    }

    pub fn at(&self, i: Instant) -> f64 {
        i.saturating_duration_since(self.began).as_secs_f64()
    }

    pub fn began(&self) -> Instant {
        self.began
    }

    /// Records an event; `fields` is a JSON object merged after `t` and `event`.
    pub fn record(&self, event: &str, fields: Value) {
        self.record_at(self.t(), event, fields);
    }

    pub fn record_at(&self, t: f64, event: &str, fields: Value) {
        let mut v = json!({ "t": (t * 1000.0).round() / 1000.0, "event": event });
        if let (Some(o), Value::Object(f)) = (v.as_object_mut(), fields) {
            o.extend(f);
        }
        let line = v.to_string();
        let mut g = self.inner.lock().unwrap();
        let _ = writeln!(g.out, "{line}");
        g.recent.push_back(line);
        if g.recent.len() > KEEP {
            g.recent.pop_front();
        }
    }

    /// The recorded lines within `span` seconds before `t` (samples left out: they repeat).
    pub fn around(&self, t: f64, span: f64) -> Vec<String> {
        let g = self.inner.lock().unwrap();
        g.recent
            .iter()
            .filter(|l| {
                let v: Value = serde_json::from_str(l).unwrap_or(Value::Null);
                let lt = v["t"].as_f64().unwrap_or(0.0);
                lt >= t - span && lt <= t + 1.0 && v["event"] != "sample"
            })
            .cloned()
            .collect()
    }

    pub fn flush(&self) {
        let _ = self.inner.lock().unwrap().out.flush();
    }
}

/// The run's random numbers: SplitMix64, so a seed gives the same schedule everywhere.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x5eed_c4a0_5eed_c4a0)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }

    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.next() as usize % xs.len()]
    }

    /// True with probability `pct` percent.
    pub fn chance(&mut self, pct: u64) -> bool {
        self.next() % 100 < pct
    }
}
