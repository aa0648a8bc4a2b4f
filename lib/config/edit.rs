//! Edits on the text (`haadm ... create`, `remove`), so comments and order survive.

use super::*;

/// The text with a new `[KIND NAME]` section appended.
pub fn add_section(text: &str, kind: &str, name: &str, keys: &[(String, String)]) -> String {
    let mut out = text.to_string();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    if !out.is_empty() && !out.ends_with("\n\n") {
        out.push('\n');
    }
    out.push_str(&format!("[{kind} {name}]\n"));
    for (k, v) in keys {
        out.push_str(&format!("{k} = {v}\n"));
    }
    out
}

/// The text without the `[KIND NAME]` section (its header up to the next header); `None` if
/// there is no such section.
pub fn remove_section(text: &str, kind: &str, name: &str) -> Option<String> {
    let mut out = String::new();
    let mut skipping = false;
    let mut found = false;
    for line in text.lines() {
        let t = strip_comment(line).trim();
        if t.starts_with('[') {
            skipping = matches!(parse_header(t), Ok((k, n)) if k.word() == kind && n == name);
            found |= skipping;
        }
        if !skipping {
            out.push_str(line);
            out.push('\n');
        }
    }
    while out.ends_with("\n\n") {
        out.pop();
    }
    found.then_some(out)
}

/// Splits `KEY=VALUE` words (from `haadm ... create NAME KEY=VALUE...`).
pub fn parse_assignments(words: &[String]) -> Result<Vec<(String, String)>, String> {
    words
        .iter()
        .map(|w| {
            let (k, v) = w
                .split_once('=')
                .ok_or_else(|| format!("'{w}' is not KEY=VALUE"))?;
            let k = k.trim().to_ascii_lowercase();
            if k.is_empty() || !k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return Err(format!("'{w}': bad key"));
            }
            if v.contains('\n') {
                return Err(format!("'{k}': value contains a newline"));
            }
            Ok((k, v.trim().to_string()))
        })
        .collect()
}
