//! What the console answers: a status, a content type, a body, maybe a cookie; JSON bodies
//! and errors as the page reads them; and the query strings it is asked with.

use super::json::Obj;

#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    pub cookie: Option<String>,
}

pub fn json(status: u16, body: String) -> Reply {
    Reply {
        status,
        content_type: "application/json",
        body: body.into_bytes(),
        cookie: None,
    }
}

pub fn error(status: u16, message: &str) -> Reply {
    let mut o = Obj::new();
    o.str("error", message);
    json(status, o.end())
}

/// The value of `name` in a query string.
pub fn query_value(query: &str, name: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}
