//! The house's shape, checked: imports between the library's modules go one way, down.
//!
//! Every file of `lib/` is a module (`lib/a/b.rs` is `a::b`, `lib/a/mod.rs` is `a`); a file
//! depends on the modules its code names (`crate::x::y`, `super::y`, and each member of a
//! group, `super::{x, y}`), test code left out. Three checks: the top-level modules
//! (`engine`, `frame`, `admin`, ...) form no circle; no two files do either, leaving aside a
//! module and the files inside it (a parent declares its children, and a child names its
//! parent's types); and `lib/lib.rs`'s map puts every module on one floor, each using only
//! the floors below its own.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The module path of a file under `lib/`; `None` for what is test code or the crate root.
fn module_of(rel: &Path) -> Option<String> {
    let mut parts: Vec<String> = rel
        .with_extension("")
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    let test = parts.iter().any(|p| p == "tests" || p == "sim");
    if parts == ["lib"] || parts.is_empty() || test {
        return None;
    }
    Some(parts.join("::"))
}

/// The code of a file without its test module (by convention at the end).
fn code(text: &str) -> &str {
    text.find("#[cfg(test)]\nmod tests")
        .map_or(text, |i| &text[..i])
}

/// Paths named after `prefix` (`crate::` or `super::`): the words joined by `::`; a group
/// (`super::{a, b::C}`) names each of its members.
fn named_after(text: &str, prefix: &str) -> Vec<String> {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find(prefix) {
        let before = rest[..i].chars().last();
        let after = &rest[i + prefix.len()..];
        let end = after.find(|c: char| !word(c)).unwrap_or(after.len());
        let path = after[..end].trim_end_matches(':');
        if !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            if after[end..].starts_with('{') {
                let group = &after[end + 1..];
                let close = group.find('}').unwrap_or(group.len());
                for member in group[..close].split(',') {
                    let member = member.trim().trim_start_matches('{');
                    let member: String = member.chars().take_while(|&c| word(c)).collect();
                    let member = member.trim_end_matches(':');
                    if member.is_empty() || member == "self" {
                        out.push(path.to_string());
                    } else if path.is_empty() {
                        out.push(member.to_string());
                    } else {
                        out.push(format!("{path}::{member}"));
                    }
                }
            } else {
                out.push(path.to_string());
            }
        }
        rest = &after[end..];
    }
    out
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let lib = Path::new(env!("CARGO_MANIFEST_DIR")).join("lib");
    let mut files = Vec::new();
    rust_files(&lib, &mut files);
    let modules: BTreeMap<String, PathBuf> = files
        .iter()
        .filter_map(|f| {
            Some((
                module_of(
                    f.strip_prefix(lib.parent().unwrap())
                        .ok()?
                        .strip_prefix("lib")
                        .ok()?,
                )?,
                f.clone(),
            ))
        })
        .collect();
    let resolve = |path: &str| -> Option<String> {
        let parts: Vec<&str> = path.split("::").filter(|p| !p.is_empty()).collect();
        (1..=parts.len())
            .rev()
            .map(|n| parts[..n].join("::"))
            .find(|m| modules.contains_key(m))
    };
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (m, f) in &modules {
        let text = std::fs::read_to_string(f).unwrap();
        let text = code(&text);
        let parent = m.rsplit_once("::").map_or("", |(p, _)| p);
        let mut to: BTreeSet<String> = named_after(text, "crate::")
            .iter()
            .filter_map(|p| resolve(p))
            .collect();
        for s in named_after(text, "super::") {
            let full = if parent.is_empty() {
                s.to_string()
            } else {
                format!("{parent}::{s}")
            };
            if let Some(t) =
                resolve(&full).or_else(|| (!parent.is_empty()).then(|| parent.to_string()))
            {
                to.insert(t);
            }
        }
        to.remove(m);
        edges.insert(m.clone(), to);
    }
    edges
}

/// A circle through `from`, if there is one: the modules on it.
fn circle(edges: &BTreeMap<String, BTreeSet<String>>, from: &str) -> Option<Vec<String>> {
    let mut stack = vec![(from.to_string(), vec![from.to_string()])];
    let mut seen = BTreeSet::new();
    while let Some((n, path)) = stack.pop() {
        for next in edges.get(&n).into_iter().flatten() {
            if next == from {
                return Some(path);
            }
            if seen.insert(next.clone()) {
                let mut p = path.clone();
                p.push(next.clone());
                stack.push((next.clone(), p));
            }
        }
    }
    None
}

fn inside(a: &str, b: &str) -> bool {
    a.starts_with(&format!("{b}::"))
}

#[test]
fn the_top_level_modules_form_no_circle() {
    let top = |m: &str| m.split("::").next().unwrap_or(m).to_string();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (a, bs) in graph() {
        for b in bs {
            if top(&a) != top(&b) {
                edges.entry(top(&a)).or_default().insert(top(&b));
            }
        }
    }
    assert!(edges.len() > 30, "the graph is read: {edges:?}");
    for m in edges.keys() {
        if let Some(c) = circle(&edges, m) {
            panic!("modules in a circle: {} -> {m}", c.join(" -> "));
        }
    }
}

#[test]
fn no_two_files_form_a_circle_outside_a_module_and_its_own_files() {
    let edges: BTreeMap<String, BTreeSet<String>> = graph()
        .into_iter()
        .map(|(a, bs)| {
            let bs = bs
                .into_iter()
                .filter(|b| !inside(&a, b) && !inside(b, &a))
                .collect();
            (a, bs)
        })
        .collect();
    assert!(edges.len() > 90, "every file is read: {}", edges.len());
    let circles: Vec<String> = edges
        .keys()
        .filter_map(|m| circle(&edges, m).map(|c| format!("{} -> {m}", c.join(" -> "))))
        .collect();
    assert!(
        circles.is_empty(),
        "files in a circle:\n{}",
        circles.join("\n")
    );
}

/// `lib/lib.rs`'s map of the house: each top-level module and its floor (`N. `name` its job;
/// `name` its job`, a floor's lines together).
fn floors() -> BTreeMap<String, usize> {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("lib/lib.rs")).unwrap();
    let mut by_floor: Vec<(usize, String)> = Vec::new();
    for line in text.lines().filter_map(|l| l.strip_prefix("//!")) {
        let body = line.trim_start();
        let number = body
            .split_once(". ")
            .and_then(|(n, _)| n.parse::<usize>().ok());
        match (number, by_floor.last_mut()) {
            (Some(n), _) => by_floor.push((n, body.to_string())),
            (None, Some(last)) if line.starts_with("    ") => {
                last.1.push(' ');
                last.1.push_str(body);
            }
            _ => {}
        }
    }
    let mut floors = BTreeMap::new();
    for (n, text) in by_floor {
        for part in text.split("; ") {
            let name = part.split('`').nth(1).unwrap_or_default();
            assert!(
                floors.insert(name.to_string(), n).is_none(),
                "{name} is on two floors of lib.rs's map"
            );
        }
    }
    floors
}

#[test]
fn every_module_is_on_the_map_and_uses_only_the_floors_below_its_own() {
    let floors = floors();
    let root =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("lib/lib.rs")).unwrap();
    let modules: BTreeSet<String> = root
        .lines()
        .filter_map(|l| l.strip_prefix("pub mod "))
        .map(|l| l.trim_end_matches(';').to_string())
        .collect();
    let mapped: BTreeSet<String> = floors.keys().cloned().collect();
    assert_eq!(mapped, modules, "lib.rs's map names each module once");
    let top = |m: &str| m.split("::").next().unwrap_or(m).to_string();
    let mut up = Vec::new();
    for (a, bs) in graph() {
        for b in bs {
            let (fa, fb) = (floors[&top(&a)], floors[&top(&b)]);
            if top(&a) != top(&b) && fb >= fa {
                up.push(format!("{a} (floor {fa}) uses {b} (floor {fb})"));
            }
        }
    }
    assert!(
        up.is_empty(),
        "imports that do not go down:\n{}",
        up.join("\n")
    );
}
