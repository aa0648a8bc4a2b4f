//! The create forms of the menus and the console (DESIGN §9, §11): which keys a new service
//! or link asks, with default and range, and the check of one answer, with the same parser
//! (and so the same error text) as the configuration file.

/// What a key asks: its name, what to show as default and range, and whether it must be
/// given.
#[derive(Clone, Debug)]
pub struct Key {
    pub name: &'static str,
    pub default: Option<String>,
    pub range: &'static str,
    pub required: bool,
}

fn key(name: &'static str, default: Option<&str>, range: &'static str, required: bool) -> Key {
    Key {
        name,
        default: default.map(str::to_string),
        range,
        required,
    }
}

pub const SERVICE_TYPES: &str = "NFS ORACLE SYBASE INFORMIX WWW PGSQL MYSQL USERDEF OCF LSB";

/// The keys of a new service; `me` and `peer` are the defaults of its servers. The manual's
/// keys in the manual's order, which scripts feeding the menus rely on; later keys
/// (`switchback_delay`, `switchback_max`, `ha_NAME`) go on the command line or in the file.
pub fn service_keys(me: &str, peer: Option<&str>) -> Vec<Key> {
    vec![
        key("type", Some("USERDEF"), SERVICE_TYPES, false),
        key("active_server", Some(me), "a node of the cluster", true),
        key("standby_server", peer, "the other node", true),
        key(
            "active_ip",
            None,
            "a.b.c.d, several, or a.b.c.d~a.b.c.e; empty: none",
            false,
        ),
        key(
            "active_nic",
            None,
            "NICs of the active server, in order (with active_ip)",
            false,
        ),
        key(
            "standby_nic",
            None,
            "NICs of the standby server, in order (with active_ip)",
            false,
        ),
        key("subnetmask", Some("255.255.255.0"), "a netmask", false),
        key(
            "start",
            None,
            "start script, in $HAHOME/bin unless absolute",
            true,
        ),
        key("stop", None, "stop script", true),
        key("agent", None, "agent program; empty: none", false),
        key("check_interval", Some("20s"), "100ms–120s", false),
        key("start_timeout", Some("150s"), "1s–1000s", false),
        key("restart_times", Some("0"), "0–5", false),
        key("switchback", Some("no"), "yes/no", false),
        key(
            "groupid",
            None,
            "services of a group move together; empty: none",
            false,
        ),
        key(
            "volume",
            None,
            "ACTIVE-DEV BACKUP-DEV MOUNT-POINT; empty: none",
            false,
        ),
        key("sid", None, "for ORACLE", false),
        key("server_name", None, "for SYBASE and INFORMIX", false),
        key("username", None, "for ORACLE, SYBASE and INFORMIX", false),
        key(
            "path",
            None,
            "for WWW, NFS, INFORMIX, PGSQL and MYSQL",
            false,
        ),
    ]
}

/// The keys of a new link of `kind` (socket, rs232 or disk).
pub fn privnet_keys(kind: &str, me: &str, peer: Option<&str>) -> Vec<Key> {
    let mut keys = vec![
        key("host1", Some(me), "this node", true),
        key("host2", peer, "the other node", true),
    ];
    match kind {
        "socket" => keys.extend([
            key("ip1", None, "host1's address on this link", true),
            key("ip2", None, "host2's address on this link", true),
            key("port", Some("3000"), "1–65535", false),
        ]),
        "rs232" => keys.extend([
            key(
                "device1",
                None,
                "host1's serial device, e.g. /dev/ttyS0",
                true,
            ),
            key("device2", None, "host2's serial device", true),
            key("baudrate", Some("9600"), "1200 … 115200", false),
        ]),
        _ => keys.extend([
            key(
                "device1",
                None,
                "the shared device as host1 sees it (havol init it first)",
                true,
            ),
            key("device2", None, "the shared device as host2 sees it", true),
        ]),
    }
    keys.extend([
        key("interval", Some("5s"), "50ms–15s", false),
        key("maxmiss", Some("3"), "2–10", false),
        key("priority", Some("50"), "0–100", false),
    ]);
    keys
}

/// Whether `key` must be answered: it is required, or the service's type needs it.
pub fn needed(section: &str, k: &Key, answers: &[(String, String)]) -> bool {
    let stype = answers
        .iter()
        .find(|(n, _)| n == "type")
        .map_or_else(|| "USERDEF".to_string(), |(_, v)| v.to_ascii_uppercase());
    // A type whose scripts SureHA ships does not need them named.
    let shipped = crate::config::BUILTIN_SCRIPTS.contains(&stype.to_ascii_lowercase().as_str());
    if section == "service" && shipped && matches!(k.name, "start" | "stop") {
        return false;
    }
    k.required
        || (section == "service"
            && crate::config::type_keys(&stype)
                .iter()
                .any(|(n, _)| *n == k.name))
}

/// Whether `name` may name a new service or link; the error text otherwise.
pub fn check_name(name: &str) -> Result<(), String> {
    if crate::config::valid_name(name) {
        Ok(())
    } else {
        Err("1 to 32 letters, digits, '_' or '-', starting with a letter or digit".into())
    }
}

/// The answers so far, as a section of a configuration: what the parser says about `key`
/// (the same words as `haadm check`). Other keys' complaints wait for their turn.
pub fn check_answer(
    section: &str,
    kind: &str,
    name: &str,
    answers: &[(String, String)],
    key: &str,
) -> Result<(), String> {
    let mut text = String::new();
    let host = |k: &str| answers.iter().find(|(x, _)| x == k).map(|(_, v)| v.clone());
    if section == "service" {
        let a = host("active_server").unwrap_or_else(|| "node-a".into());
        let b = host("standby_server")
            .unwrap_or_else(|| if a == "node-b" { "node-a" } else { "node-b" }.into());
        text.push_str(&format!("[privnet menu-check]\ntype = socket\nhost1 = {a}\nhost2 = {b}\nip1 = 192.0.2.1\nip2 = 192.0.2.2\n\n[service {name}]\n"));
    } else {
        text.push_str(&format!("[privnet {name}]\ntype = {kind}\n"));
    }
    for (k, v) in answers {
        // A value is one line of the file: a newline would be a second key.
        if v.contains(['\n', '\r']) {
            return Err(format!("{k}: one line only"));
        }
        text.push_str(&format!("{k} = {v}\n"));
    }
    let diags = match crate::config::parse("answer", &text) {
        Ok(_) => return Ok(()),
        Err(d) => d.list,
    };
    let mine: Vec<String> = diags
        .into_iter()
        .map(|d| d.message)
        .filter(|m| {
            // What a type needs is said when its key is asked, not before.
            if m.contains(" needs '") {
                return m.contains(&format!("'{key}'"));
            }
            m.contains(&format!(": {key}:"))
                || m.contains(&format!("'{key}'"))
                || m.contains(&format!(" {key} "))
        })
        .filter(|m| !m.contains("is required"))
        .collect();
    if mine.is_empty() {
        Ok(())
    } else {
        Err(mine.join("; "))
    }
}

/// `(key, value)` or `(key, error)` pairs, in the form's order.
pub type Fields = Vec<(String, String)>;

/// A whole form at once, in the order of `keys` (as the menus ask them): each field's error,
/// and the answers to send (defaults filled in, empty optional fields left out).
pub fn check_form(
    section: &str,
    kind: &str,
    name: &str,
    keys: &[Key],
    given: &[(String, String)],
) -> (Fields, Fields) {
    let mut errors = Vec::new();
    if let Err(e) = check_name(name) {
        errors.push(("name".to_string(), e));
    }
    for (k, _) in given {
        if !keys.iter().any(|x| x.name == k) {
            errors.push((k.clone(), format!("{k}: not a key of a new {section}")));
        }
    }
    let mut answers: Vec<(String, String)> = Vec::new();
    for k in keys {
        let value = given
            .iter()
            .find(|(n, _)| n == k.name)
            .map(|(_, v)| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .or_else(|| k.default.clone());
        let Some(value) = value else {
            if needed(section, k, &answers) {
                errors.push((k.name.to_string(), format!("{} is required", k.name)));
            }
            continue;
        };
        let mut trial = answers.clone();
        trial.push((k.name.to_string(), value));
        match check_answer(section, kind, name, &trial, k.name) {
            Ok(()) => answers = trial,
            Err(e) => errors.push((k.name.to_string(), e)),
        }
    }
    (answers, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn given(kv: &[(&str, &str)]) -> Vec<(String, String)> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_form_gets_the_parsers_words_for_each_bad_field() {
        let keys = service_keys("alpha", Some("beta"));
        let (_, errors) = check_form(
            "service",
            "service",
            "web",
            &keys,
            &given(&[
                ("start", "a.start"),
                ("stop", "a.stop"),
                ("check_interval", "fast"),
            ]),
        );
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].0, "check_interval");
        assert!(errors[0].1.contains("check_interval"), "{errors:?}");
        let (answers, errors) = check_form(
            "service",
            "service",
            "web",
            &keys,
            &given(&[("start", "a.start"), ("stop", "a.stop")]),
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert!(answers.contains(&("active_server".into(), "alpha".into())));
        let (_, errors) = check_form("service", "service", "-x", &keys, &given(&[]));
        let fields: Vec<&str> = errors.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(fields, ["name", "start", "stop"], "{errors:?}");
        let (_, errors) = check_form(
            "service",
            "service",
            "db",
            &keys,
            &given(&[("start", "a\nb = c"), ("stop", "s"), ("evil", "1")]),
        );
        let fields: Vec<&str> = errors.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(fields, ["evil", "start"], "{errors:?}");
    }
}
