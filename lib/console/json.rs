//! The little JSON the console writes (it reads none): objects of strings, numbers, booleans
//! and nested values. Strings are escaped so that nothing in them can end a `<script>` or a
//! string early.

pub fn string(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                o.push_str(&format!("\\u{:04x}", c as u32))
            }
            c if (c as u32) < 0x20 || c == '\u{7f}' => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

pub fn array(items: &[String]) -> String {
    format!("[{}]", items.join(","))
}

/// An object under construction, keys in the order given.
pub struct Obj(String);

impl Default for Obj {
    fn default() -> Self {
        Self::new()
    }
}

impl Obj {
    pub fn new() -> Obj {
        Obj(String::from("{"))
    }
    pub fn raw(&mut self, k: &str, v: &str) -> &mut Obj {
        if self.0.len() > 1 {
            self.0.push(',');
        }
        self.0.push_str(&string(k));
        self.0.push(':');
        self.0.push_str(v);
        self
    }
    pub fn str(&mut self, k: &str, v: &str) -> &mut Obj {
        self.raw(k, &string(v))
    }
    pub fn bool(&mut self, k: &str, v: bool) -> &mut Obj {
        self.raw(k, if v { "true" } else { "false" })
    }
    pub fn num(&mut self, k: &str, v: u64) -> &mut Obj {
        self.raw(k, &v.to_string())
    }
    pub fn end(&mut self) -> String {
        let mut s = std::mem::take(&mut self.0);
        s.push('}');
        s
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn strings_cannot_break_out() {
        assert_eq!(
            super::string("a\"b\\c\n</script>\u{1}"),
            r#""a\"b\\c\n\u003c/script\u003e\u0001""#
        );
    }
}
