//! What the page's API does: the picture and events it polls, Connect, the toolbar's
//! operations and tools, and the create and license forms (checked field by field with the
//! menus' checks, so with the same error text as `haadm` and the configuration file).

use super::doors::Cluster;
use super::json::{self, Obj};
use super::reply::{error, json, query_value, Reply};
use super::sessions::Session;
use super::{view, Console};
use crate::forms;
use std::sync::Arc;

type Form = [(String, String)];

fn field<'a>(f: &'a Form, name: &str) -> &'a str {
    f.iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}

fn ok_text(text: &str) -> Reply {
    let mut o = Obj::new();
    o.bool("ok", true).str("text", text);
    json(200, o.end())
}

fn connected(s: &Session) -> Result<Arc<Cluster>, Reply> {
    s.cluster()
        .ok_or_else(|| error(409, "not connected: Connect to a node first"))
}

pub fn read(_c: &Console, s: &Arc<Session>, path: &str, query: &str) -> Reply {
    match path {
        "/api/session" => {
            let mut o = Obj::new();
            o.str("csrf", &s.csrf);
            match s.cluster() {
                Some(cl) => {
                    let nodes: Vec<String> =
                        cl.doors.iter().map(|d| json::string(&d.node)).collect();
                    o.bool("connected", true)
                        .str("user", &cl.user)
                        .raw("doors", &json::array(&nodes));
                }
                None => {
                    o.bool("connected", false);
                }
            }
            json(200, o.end())
        }
        "/api/state" => {
            let cl = match connected(s) {
                Ok(c) => c,
                Err(r) => return r,
            };
            let since = query_value(query, "since")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let polled = cl.poll();
            let (events, seq) = cl.events_after(since);
            let mut o = Obj::new();
            o.bool("connected", true);
            match polled {
                Ok((status, via)) => o.raw("view", &view::cluster(&status, &via)),
                Err(e) => o.raw("view", "null").str("error", &e.message),
            };
            o.raw("events", &json::array(&events)).num("seq", seq);
            json(200, o.end())
        }
        "/api/form" => {
            let cl = match connected(s) {
                Ok(c) => c,
                Err(r) => return r,
            };
            let kind = query_value(query, "kind").unwrap_or_default();
            let Some((_, keys)) = form_keys(&cl, &kind) else {
                return error(400, "kind: service, socket, rs232 or disk");
            };
            let list: Vec<String> = keys
                .iter()
                .map(|k| {
                    let mut o = Obj::new();
                    o.str("name", k.name)
                        .str("default", k.default.as_deref().unwrap_or(""))
                        .str("range", k.range)
                        .bool("required", k.required);
                    o.end()
                })
                .collect();
            json(200, format!("{{\"keys\":{}}}", json::array(&list)))
        }
        _ => error(404, "no such API"),
    }
}

pub fn change(_c: &Console, s: &Arc<Session>, path: &str, f: &Form) -> Reply {
    if path == "/api/connect" {
        return connect(s, f);
    }
    let cl = match connected(s) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let node = Some(field(f, "node")).filter(|n| !n.is_empty());
    let words: Vec<String> = match path {
        "/api/op" => {
            let (verb, svc) = (field(f, "verb"), field(f, "service"));
            if !matches!(
                verb,
                "bringin" | "bringout" | "takeover" | "failover" | "review" | "remove"
            ) {
                return error(
                    400,
                    "verb: bringin, bringout, takeover, failover, review or remove",
                );
            }
            if !crate::config::valid_name(svc) {
                return error(400, "choose a service first");
            }
            return op(&cl, verb, svc, node);
        }
        "/api/tool" => match field(f, "verb") {
            v @ ("lock" | "unlock" | "network" | "license" | "status") => vec![v.to_string()],
            "stop" => {
                let Some(n) = node else {
                    return error(400, "Stop: choose the server to stop");
                };
                return run(&cl, Some(n), &["stop".to_string()]);
            }
            _ => return error(400, "verb: lock, unlock, network, license, status or stop"),
        },
        "/api/privnet" => {
            let (verb, name) = (field(f, "verb"), field(f, "name"));
            if !matches!(verb, "review" | "remove") || !crate::config::valid_name(name) {
                return error(400, "verb: review or remove, and a link name");
            }
            vec!["privnet".into(), verb.into(), name.into()]
        }
        "/api/license" => {
            let (h, serial, exp, lic) = (
                field(f, "host"),
                field(f, "serial"),
                field(f, "expiration"),
                field(f, "license"),
            );
            let mut errors = Vec::new();
            if !crate::config::valid_node(h) {
                errors.push(("host", "a node name".to_string()));
            }
            use crate::request::{valid_expiration, valid_word};
            for (k, v) in [("serial", serial), ("license", lic)] {
                if !valid_word(v) {
                    errors.push((
                        k,
                        format!(
                            "'{}' is not a word of printable characters",
                            crate::config::shown(v)
                        ),
                    ));
                }
            }
            if !valid_expiration(exp) {
                errors.push((
                    "expiration",
                    format!(
                        "'{}' is not a date YYYY-MM-DD or never",
                        crate::config::shown(exp)
                    ),
                ));
            }
            if !errors.is_empty() {
                return field_errors(&errors);
            }
            vec![
                "license".into(),
                h.into(),
                serial.into(),
                exp.into(),
                lic.into(),
            ]
        }
        "/api/check" | "/api/create" => return create(&cl, path == "/api/create", f),
        _ => return error(404, "no such API"),
    };
    run(&cl, node, &words)
}

fn run(cl: &Cluster, node: Option<&str>, words: &[String]) -> Reply {
    match cl.run(node, words) {
        Ok(text) => {
            cl.note(&format!(
                "INFO console: haadm {} done",
                crate::config::shown(&words.join(" "))
            ));
            ok_text(&text)
        }
        Err(e) => {
            cl.note(&format!(
                "ERROR console: haadm {}: {}",
                crate::config::shown(&words.join(" ")),
                e.message
            ));
            error(409, &e.message)
        }
    }
}

/// A toolbar operation on a service, sent where it means what was clicked: FailOver on the
/// node running it, TakeOver on the node standing by. Without a door to that node, the
/// same move is asked of the other node in its own words.
fn op(cl: &Cluster, verb: &str, svc: &str, node: Option<&str>) -> Reply {
    let words = |v: &str| vec!["service".to_string(), v.to_string(), svc.to_string()];
    match (verb, node) {
        ("failover" | "takeover", Some(n)) if !cl.reaches(n) => {
            let other = if verb == "failover" {
                "takeover"
            } else {
                "failover"
            };
            run(cl, None, &words(other))
        }
        ("failover" | "takeover", None) => error(400, "choose the service on a server first"),
        _ => run(cl, node, &words(verb)),
    }
}

/// A create form's section and keys, with this cluster's nodes as the defaults.
fn form_keys(cl: &Cluster, kind: &str) -> Option<(&'static str, Vec<forms::Key>)> {
    let nodes: Vec<&str> = cl.doors.iter().map(|d| d.node.as_str()).collect();
    let (me, peer) = (nodes.first().copied().unwrap_or(""), nodes.get(1).copied());
    match kind {
        "service" => Some(("service", forms::service_keys(me, peer))),
        "socket" | "rs232" | "disk" => Some(("privnet", forms::privnet_keys(kind, me, peer))),
        _ => None,
    }
}

fn field_errors(errors: &[(&str, String)]) -> Reply {
    let mut o = Obj::new();
    for (k, e) in errors {
        o.str(k, e);
    }
    let mut r = Obj::new();
    r.str("error", "some fields need a change")
        .raw("fields", &o.end());
    json(400, r.end())
}

/// The create forms: `/api/check` says what each field's value would get from the
/// configuration parser; `/api/create` does the same and, when all is well, creates.
fn create(cl: &Cluster, really: bool, f: &Form) -> Reply {
    let (kind, name) = (field(f, "kind"), field(f, "name"));
    let Some((section, keys)) = form_keys(cl, kind) else {
        return error(400, "kind: service, socket, rs232 or disk");
    };
    let given: Vec<(String, String)> = f
        .iter()
        .filter(|(k, _)| k != "kind" && k != "name")
        .cloned()
        .collect();
    let (answers, errors) = forms::check_form(section, kind, name, &keys, &given);
    if !errors.is_empty() {
        let e: Vec<(&str, String)> = errors
            .iter()
            .map(|(k, e)| (k.as_str(), e.clone()))
            .collect();
        return field_errors(&e);
    }
    if !really {
        return ok_text("");
    }
    let mut words: Vec<String> = if section == "service" {
        vec!["service".into(), "create".into(), name.into()]
    } else {
        vec!["privnet".into(), format!("create-{kind}"), name.into()]
    };
    words.extend(answers.iter().map(|(k, v)| format!("{k}={v}")));
    run(cl, None, &words)
}

fn connect(s: &Arc<Session>, f: &Form) -> Reply {
    let Ok(_one) = s.connecting.try_lock() else {
        return error(409, "a Connect is already under way");
    };
    let (host, user, password) = (field(f, "host"), field(f, "user"), field(f, "password"));
    let user = if user.is_empty() { "admin" } else { user };
    if host.is_empty() || host.len() > 255 || host.contains(char::is_whitespace) {
        return field_errors(&[("host", "the node's address: HOST or HOST:PORT".into())]);
    }
    if !crate::auth::valid_user(user) {
        return field_errors(&[("user", "a user name of etc/passwd".into())]);
    }
    // The doors count connections by address: the old ones go before the new ones come.
    if let Ok(mut c) = s.cluster.lock() {
        *c = None;
    }
    match Cluster::connect(host, user, password) {
        Ok(cl) => {
            let nodes: Vec<String> = cl.doors.iter().map(|d| d.node.clone()).collect();
            if let Ok(mut c) = s.cluster.lock() {
                *c = Some(Arc::new(cl));
            }
            ok_text(&format!("connected to {}", nodes.join(" and ")))
        }
        Err(e) => error(403, &e.message),
    }
}
