//! Prometheus text exposition format (version 0.0.4): families of samples, each family's
//! `# HELP` and `# TYPE` once and its samples together, label values escaped.

use std::fmt::Write;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Gauge,
    Counter,
}

struct Family {
    name: &'static str,
    kind: Kind,
    help: &'static str,
    samples: String,
}

/// What `haadm metrics` prints, built up by whoever knows each figure.
#[derive(Default)]
pub struct Metrics {
    families: Vec<Family>,
}

/// A label value as the format wants it: `\`, `"` and newlines escaped.
fn escaped(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

impl Metrics {
    /// One sample of family `name` (declared on first use, with its kind and help).
    pub fn add(
        &mut self,
        name: &'static str,
        kind: Kind,
        help: &'static str,
        labels: &[(&str, &str)],
        value: f64,
    ) {
        let i = match self.families.iter().position(|f| f.name == name) {
            Some(i) => i,
            None => {
                self.families.push(Family {
                    name,
                    kind,
                    help,
                    samples: String::new(),
                });
                self.families.len() - 1
            }
        };
        let f = &mut self.families[i];
        f.samples.push_str(name);
        if !labels.is_empty() {
            f.samples.push('{');
            for (n, (k, v)) in labels.iter().enumerate() {
                if n > 0 {
                    f.samples.push(',');
                }
                let _ = write!(f.samples, "{k}=\"{}\"", escaped(v));
            }
            f.samples.push('}');
        }
        let _ = writeln!(f.samples, " {}", number(value));
    }

    pub fn gauge(
        &mut self,
        name: &'static str,
        help: &'static str,
        labels: &[(&str, &str)],
        v: f64,
    ) {
        self.add(name, Kind::Gauge, help, labels, v);
    }

    pub fn counter(
        &mut self,
        name: &'static str,
        help: &'static str,
        labels: &[(&str, &str)],
        v: f64,
    ) {
        self.add(name, Kind::Counter, help, labels, v);
    }

    pub fn text(&self) -> String {
        let mut t = String::new();
        for f in &self.families {
            let kind = match f.kind {
                Kind::Gauge => "gauge",
                Kind::Counter => "counter",
            };
            let _ = writeln!(t, "# HELP {} {}", f.name, f.help);
            let _ = writeln!(t, "# TYPE {} {kind}", f.name);
            t.push_str(&f.samples);
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_are_grouped_declared_once_and_values_escaped() {
        let mut m = Metrics::default();
        m.gauge("sureha_a", "A.", &[("service", "w\"e\\b\n")], 1.0);
        m.counter("sureha_b_total", "B.", &[], 3.0);
        m.gauge("sureha_a", "A.", &[("service", "db")], 0.25);
        m.gauge("sureha_c", "C.", &[("host", "x")], f64::INFINITY);
        assert_eq!(
            m.text(),
            "# HELP sureha_a A.\n# TYPE sureha_a gauge\nsureha_a{service=\"w\\\"e\\\\b\\n\"} 1\nsureha_a{service=\"db\"} 0.25\n\
             # HELP sureha_b_total B.\n# TYPE sureha_b_total counter\nsureha_b_total 3\n\
             # HELP sureha_c C.\n# TYPE sureha_c gauge\nsureha_c{host=\"x\"} +Inf\n"
        );
    }
}
