//! The house's shape, checked: imports between the library's modules go one way, down.
//!
//! Every file of `lib/` is a module (`lib/a/b.rs` is `a::b`, `lib/a/mod.rs` is `a`); a file
//! depends on the modules its code names (`crate::x::y`, `super::y`), test code left out.
//! Two checks: the top-level modules (`engine`, `frame`, `admin`, ...) form no circle, and
//! no two files do either, leaving aside a module and the files inside it (a parent declares
//! its children, and `use super::*` is how Rust files of one module share; issue "A house a
//! newcomer reads in an afternoon" takes those on).

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

/// Paths named after `prefix` (`crate::` or `super::`): the words joined by `::`.
fn named_after<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find(prefix) {
        let before = rest[..i].chars().last();
        let after = &rest[i + prefix.len()..];
        let end = after
            .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == ':'))
            .unwrap_or(after.len());
        if !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            out.push(after[..end].trim_end_matches(':'));
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
            .into_iter()
            .filter_map(&resolve)
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
    for m in edges.keys() {
        if let Some(c) = circle(&edges, m) {
            panic!("files in a circle: {} -> {m}", c.join(" -> "));
        }
    }
}
