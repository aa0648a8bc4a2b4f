//! The request line written to `$HAHOME/tmp/hasvrd.fifo`, the reply read back, and the
//! typed commands they carry. Pure: no I/O.
//!
//! Request: `sureha1 REPLY PID WORD...` on one line shorter than PIPE_BUF, where `REPLY` is the
//! client's reply FIFO name under `tmp/` (or `-` for no reply), `PID` the client's pid, and
//! each `WORD` percent-encoded (anything but `A-Za-z0-9` and `._~=/@:,+-` becomes `%XX`).
//! The words are haadm's own arguments (`service bringin web`) or an agent call
//! (`apiok web`), so the local tool, the remote door and the agents share one grammar.
//!
//! Reply: hasvrd first writes `TAKEN` and a newline as soon as it has read the request (the
//! client then waits for the answer, however long a bring-in takes; without it, it gives up
//! after 10 s); then the answer: first line `OK`, `STOP` (an agent is no longer wanted) or
//! `ERR message`; then the body, if any; then end of file.
//!
//! Words are strict: bytes outside the kept set come as `%XX` with two hex digits; `%00`
//! alone is the empty word, and no word holds a NUL. Stray bytes written before a request
//! (without their newline) are skipped up to the protocol word.

pub const VERSION: &str = "sureha1";
/// Longest request line, newline included (POSIX guarantees PIPE_BUF >= 512; Linux has 4096).
pub const MAX_LINE: usize = 4000;

fn keep(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"._~=/@:,+-".contains(&b)
}

pub fn encode_word(w: &str) -> String {
    let mut out = String::with_capacity(w.len());
    for &b in w.as_bytes() {
        if keep(b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    if out.is_empty() {
        out.push_str("%00");
    }
    out
}

pub fn decode_word(w: &str) -> Result<String, String> {
    if w == "%00" {
        return Ok(String::new());
    }
    let b = w.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            // Two hex digits exactly (from_str_radix alone would take "+F").
            let hex = w
                .get(i + 1..i + 3)
                .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("bad escape in '{w}'"))?;
            out.push(hex);
            i += 3;
        } else if keep(b[i]) {
            out.push(b[i]);
            i += 1;
        } else {
            // Strict: what the encoder escapes must come escaped.
            return Err(format!("unescaped byte 0x{:02x} in a word", b[i]));
        }
    }
    // No argument can hold a NUL (C strings), and "%00" alone is the empty word.
    if out.contains(&0) {
        return Err("a word holds a NUL byte".into());
    }
    String::from_utf8(out).map_err(|_| format!("'{w}' is not UTF-8"))
}

/// One decoded request line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub reply: Option<String>,
    pub pid: u32,
    pub words: Vec<String>,
}

pub fn encode(reply: Option<&str>, pid: u32, words: &[String]) -> Result<String, String> {
    let mut line = format!("{VERSION} {} {pid}", reply.unwrap_or("-"));
    for w in words {
        line.push(' ');
        line.push_str(&encode_word(w));
    }
    line.push('\n');
    if line.len() > MAX_LINE {
        return Err(format!(
            "request too long ({} bytes, at most {MAX_LINE})",
            line.len()
        ));
    }
    Ok(line)
}

pub fn decode(line: &[u8]) -> Result<Request, String> {
    let text = std::str::from_utf8(line).map_err(|_| "request is not UTF-8".to_string())?;
    let mut it = text.split_ascii_whitespace();
    match it.next() {
        Some(VERSION) => {}
        Some(v) => {
            let shown: String = v.chars().take(20).collect();
            return Err(format!("unknown protocol '{shown}' (expected {VERSION})"));
        }
        None => return Err("empty request".into()),
    }
    let reply = match it.next() {
        Some("-") => None,
        Some(r) if crate::paths::is_reply_name(r) => Some(r.to_string()),
        Some(r) => return Err(format!("bad reply name '{r}'")),
        None => return Err("request without reply name".into()),
    };
    let pid = it
        .next()
        .and_then(|p| p.parse().ok())
        .ok_or("request without pid")?;
    let words = it.map(decode_word).collect::<Result<Vec<_>, _>>()?;
    if words.is_empty() {
        return Err("request without a command".into());
    }
    Ok(Request { reply, pid, words })
}

/// Decodes a line, skipping stray bytes glued before the request (a write without its
/// newline that arrived together with the next request): the request is the first place where
/// the protocol word begins a line that decodes. Returns how many bytes were skipped.
pub fn decode_resync(line: &[u8]) -> Result<(usize, Request), String> {
    let first = decode(line);
    if let Ok(r) = first {
        return Ok((0, r));
    }
    let marker = format!("{VERSION} ");
    let m = marker.as_bytes();
    let mut at = 1;
    while at + m.len() <= line.len() {
        match line[at..].windows(m.len()).position(|w| w == m) {
            Some(p) => {
                let start = at + p;
                if let Ok(r) = decode(&line[start..]) {
                    return Ok((start, r));
                }
                at = start + 1;
            }
            None => break,
        }
    }
    first.map(|r| (0, r))
}

/// How a reply begins.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    Ok,
    Stop,
    Err(String),
}

/// A reply: its status and body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub status: Status,
    pub body: String,
}

impl Reply {
    pub fn ok(body: impl Into<String>) -> Reply {
        Reply {
            status: Status::Ok,
            body: body.into(),
        }
    }
    pub fn err(msg: impl Into<String>) -> Reply {
        Reply {
            status: Status::Err(msg.into()),
            body: String::new(),
        }
    }
    pub fn stop() -> Reply {
        Reply {
            status: Status::Stop,
            body: String::new(),
        }
    }

    pub fn to_text(&self) -> String {
        let mut s = match &self.status {
            Status::Ok => "OK\n".to_string(),
            Status::Stop => "STOP\n".to_string(),
            Status::Err(m) => format!("ERR {}\n", m.replace('\n', " ")),
        };
        s.push_str(&self.body);
        if !self.body.is_empty() && !self.body.ends_with('\n') {
            s.push('\n');
        }
        s
    }

    pub fn parse(text: &str) -> Result<Reply, String> {
        let (first, body) = text.split_once('\n').unwrap_or((text, ""));
        let status = match first {
            "OK" => Status::Ok,
            "STOP" => Status::Stop,
            _ => match first.strip_prefix("ERR ") {
                Some(m) => Status::Err(m.to_string()),
                None => return Err(format!("unexpected reply '{first}'")),
            },
        };
        Ok(Reply {
            status,
            body: body.to_string(),
        })
    }
}

/// The agent API calls (DESIGN §6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApiCall {
    Open,
    Ok,
    Err,
    Close,
}

impl ApiCall {
    pub fn word(self) -> &'static str {
        match self {
            ApiCall::Open => "apiopen",
            ApiCall::Ok => "apiok",
            ApiCall::Err => "apierr",
            ApiCall::Close => "apiclose",
        }
    }
}

/// Operations an administrator or an agent (`apicmd`) asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    BringIn,
    BringOut,
    FailOver,
    TakeOver,
}

impl Operation {
    pub fn word(self) -> &'static str {
        match self {
            Operation::BringIn => "bringin",
            Operation::BringOut => "bringout",
            Operation::FailOver => "failover",
            Operation::TakeOver => "takeover",
        }
    }
    fn from_word(w: &str) -> Option<Operation> {
        match w.to_ascii_lowercase().as_str() {
            "bringin" => Some(Operation::BringIn),
            "bringout" => Some(Operation::BringOut),
            "failover" => Some(Operation::FailOver),
            "takeover" => Some(Operation::TakeOver),
            _ => None,
        }
    }
}

/// Everything hasvrd is asked to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Status,
    /// Both servers' NICs, their state and addresses (the manual's AutoGet).
    Network,
    ServiceState(String),
    ServiceReview(String),
    /// What this node would do with a service if the peer died now, and why.
    Why(String),
    ServiceCreate(String, Vec<(String, String)>),
    ServiceRemove(String),
    Operate(Operation, String),
    PrivnetState(String),
    PrivnetReview(String),
    PrivnetCreate(String, String, Vec<(String, String)>),
    PrivnetRemove(String),
    Stop,
    Reload,
    Dump,
    Api(ApiCall, String),
    /// Lock the configuration on both nodes: who, since when.
    Lock(String, String),
    Unlock(String),
    /// Show the license lines, or store one host's: HOST SERIAL EXPIRATION LICENSE.
    License(Option<(String, String, String, String)>),
    /// Change the authkey on both nodes while they run.
    AuthkeyRotate,
    /// The figures for a monitoring system (Prometheus text format).
    Metrics,
}

impl Command {
    /// Commands that change the configuration or a service (the remote door asks for a
    /// login with write rights before relaying these).
    pub fn changes_anything(&self) -> bool {
        !matches!(
            self,
            Command::Status
                | Command::Metrics
                | Command::Network
                | Command::ServiceState(_)
                | Command::ServiceReview(_)
                | Command::Why(_)
                | Command::PrivnetState(_)
                | Command::PrivnetReview(_)
                | Command::License(None)
                | Command::Dump
        )
    }
}

pub const USAGE: &str = "\
usage: haadm status
       haadm check [FILE]
       haadm service state|review|remove|bringin|bringout|takeover|failover NAME
       haadm service create NAME KEY=VALUE...
       haadm privnet state|review|remove NAME
       haadm privnet create-socket|create-rs232|create-disk NAME KEY=VALUE...
       haadm license [HOST SERIAL EXPIRATION LICENSE]    (EXPIRATION: YYYY-MM-DD or never)
       haadm lock | unlock
       haadm network | stop | reload
       haadm metrics    (Prometheus text format: states, moves, links, lease, lock, licenses)
       haadm why NAME      (what this node would do with the service if the peer died now)
       haadm drill NAME [HOST:PORT]   (a planned move to the peer and back, timed, probed)
       haadm events [AFTER]   (the log's recent lines, from the offset of the last AT)
       haadm export pacemaker (the cluster as a Pacemaker CIB)
       haadm authkey rotate   (a new key on both nodes while they run)
       haadm authkey install FILE (the peer's etc/authkey, on a node whose key differs)
       haadm            (interactive menus)";

fn name_arg(words: &[String], what: &str) -> Result<String, String> {
    match words {
        [n] if crate::config::valid_name(n) => Ok(n.clone()),
        [n] => Err(format!(
            "'{}' is not a valid {what} name (1 to 32 letters, digits, '_' or '-')",
            n.chars().take(40).collect::<String>()
        )),
        [] => Err(format!("missing {what} name")),
        _ => Err(format!("too many arguments after the {what} name")),
    }
}

/// A word of the license or lock: printable, no spaces, not too long.
pub fn valid_word(w: &str) -> bool {
    !w.is_empty() && w.len() <= 128 && w.bytes().all(|b| b.is_ascii_graphic())
}

/// `YYYY-MM-DD` (a real date) or `never`.
pub fn valid_expiration(e: &str) -> bool {
    if e == "never" {
        return true;
    }
    let p: Vec<&str> = e.split('-').collect();
    match p.as_slice() {
        [y, m, d] if y.len() == 4 && m.len() == 2 && d.len() == 2 => {
            let (Ok(y), Ok(m), Ok(d)) = (y.parse::<u32>(), m.parse::<u32>(), d.parse::<u32>())
            else {
                return false;
            };
            let days = match m {
                1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
                4 | 6 | 9 | 11 => 30,
                2 if y % 4 == 0 && (y % 100 != 0 || y % 400 == 0) => 29,
                2 => 28,
                _ => return false,
            };
            (1970..=9999).contains(&y) && (1..=days).contains(&d)
        }
        _ => false,
    }
}

/// Parses command words into a command; the error is a usage message.
pub fn parse_command(words: &[String]) -> Result<Command, String> {
    let w: Vec<&str> = words.iter().map(String::as_str).collect();
    let rest = |n: usize| &words[n.min(words.len())..];
    Ok(match w.as_slice() {
        ["status"] => Command::Status,
        ["network"] => Command::Network,
        ["stop"] => Command::Stop,
        ["reload"] => Command::Reload,
        ["dump"] => Command::Dump,
        ["metrics"] => Command::Metrics,
        [w @ ("status" | "network" | "stop" | "reload" | "dump" | "metrics"), extra, ..] => {
            return Err(format!(
                "{w} takes no arguments (found '{}')",
                crate::config::shown(extra)
            ))
        }
        ["why", ..] => Command::Why(name_arg(rest(1), "service")?),
        ["service", "state", ..] => Command::ServiceState(name_arg(rest(2), "service")?),
        ["service", "review", ..] => Command::ServiceReview(name_arg(rest(2), "service")?),
        ["service", "remove", ..] => Command::ServiceRemove(name_arg(rest(2), "service")?),
        ["service", "create", ..] => {
            let name = name_arg(&words[2..3.min(words.len())], "service")?;
            let kvs = crate::config::parse_assignments(rest(3))?;
            if kvs.is_empty() {
                return Err("service create NAME KEY=VALUE...: no keys given".into());
            }
            Command::ServiceCreate(name, kvs)
        }
        ["service", op, ..] if Operation::from_word(op).is_some() => Command::Operate(
            Operation::from_word(op).unwrap_or(Operation::BringIn),
            name_arg(rest(2), "service")?,
        ),
        ["privnet", "state", ..] => Command::PrivnetState(name_arg(rest(2), "privnet")?),
        ["privnet", "review", ..] => Command::PrivnetReview(name_arg(rest(2), "privnet")?),
        ["privnet", "remove", ..] => Command::PrivnetRemove(name_arg(rest(2), "privnet")?),
        ["privnet", kind @ ("create-socket" | "create-rs232" | "create-disk"), ..] => {
            let name = name_arg(&words[2..3.min(words.len())], "privnet")?;
            let kvs = crate::config::parse_assignments(rest(3))?;
            let ty = kind.trim_start_matches("create-").to_string();
            if let Some((_, t)) = kvs
                .iter()
                .find(|(k, v)| k == "type" && !v.eq_ignore_ascii_case(&ty))
            {
                return Err(format!(
                    "privnet {kind} makes a {ty} link, but type={} was given; use create-{}",
                    crate::config::shown(t),
                    t.to_ascii_lowercase()
                ));
            }
            Command::PrivnetCreate(ty, name, kvs)
        }
        [call @ ("apiopen" | "apiok" | "apierr" | "apierror" | "apiclose"), ..] => {
            let c = match *call {
                "apiopen" => ApiCall::Open,
                "apiok" => ApiCall::Ok,
                "apiclose" => ApiCall::Close,
                _ => ApiCall::Err,
            };
            Command::Api(c, name_arg(rest(1), "service")?)
        }
        ["lock", by, since] => Command::Lock(by.to_string(), since.to_string()),
        ["authkey", "rotate"] => Command::AuthkeyRotate,
        ["unlock", by] => Command::Unlock(by.to_string()),
        ["license"] => Command::License(None),
        ["license", h, serial, exp, key] => {
            if !crate::config::valid_name(h) {
                return Err(format!(
                    "license: '{}' is not a host name",
                    crate::config::shown(h)
                ));
            }
            if !valid_expiration(exp) {
                return Err(format!(
                    "license: expiration '{}' is not a date YYYY-MM-DD or never",
                    crate::config::shown(exp)
                ));
            }
            if !valid_word(serial) || !valid_word(key) {
                return Err("license: SERIAL and LICENSE are words of printable characters".into());
            }
            Command::License(Some((
                h.to_string(),
                serial.to_string(),
                exp.to_string(),
                key.to_string(),
            )))
        }
        ["license", ..] => {
            return Err("usage: haadm license [HOST SERIAL EXPIRATION LICENSE]".into())
        }
        ["lock" | "unlock", ..] => return Err("usage: haadm lock | haadm unlock".into()),
        ["apicmd", cmd, ..] => {
            let op = Operation::from_word(cmd).ok_or_else(|| {
                format!("unknown command '{cmd}' (BRINGIN, BRINGOUT, FAILOVER or TAKEOVER)")
            })?;
            Command::Operate(op, name_arg(rest(2), "service")?)
        }
        ["service"] | ["privnet"] => return Err(format!("{}: missing subcommand", w[0])),
        ["service", sub, ..] | ["privnet", sub, ..] => {
            return Err(format!("{}: unknown subcommand '{sub}'", w[0]))
        }
        [] => return Err("no command".into()),
        [other, ..] => return Err(format!("unknown command '{}'", crate::config::shown(other))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split(' ').map(str::to_string).collect()
    }

    #[test]
    fn words_round_trip() {
        for w in ["plain", "with space", "a=b c", "100%", "", "ünï", "x\ny"] {
            assert_eq!(decode_word(&encode_word(w)).unwrap(), w);
        }
        assert!(decode_word("%G1").is_err());
        assert!(decode_word("%4").is_err());
    }

    #[test]
    fn lines_round_trip_and_reject_garbage() {
        let ws = words("service create web active_ip=192.0.2.1%20192.0.2.2");
        let line = encode(Some("reply.1.2"), 1, &ws).unwrap();
        let r = decode(line.trim_end().as_bytes()).unwrap();
        assert_eq!(r.words, ws);
        assert_eq!(r.reply.as_deref(), Some("reply.1.2"));
        for bad in [
            "",
            "hello",
            "sureha1",
            "sureha1 ../x 1 status",
            "sureha1 - x status",
            "sureha1 - 1",
            "sureha2 - 1 status",
        ] {
            assert!(decode(bad.as_bytes()).is_err(), "{bad}");
        }
        assert!(decode(b"sureha1 - 1 \xff").is_err());
        assert!(encode(None, 1, &[("x".repeat(5000))])
            .unwrap_err()
            .contains("too long"));
    }

    #[test]
    fn stray_bytes_before_a_request_are_skipped_and_escapes_are_strict() {
        let (skipped, r) = decode_resync(b"x\x00junk sureha1 reply.1.2 7 status").unwrap();
        assert_eq!((skipped, r.words), (7, vec!["status".to_string()]));
        // A word that happens to be the protocol word is not a place to resync.
        let (skipped, r) = decode_resync(b"sureha1 - 7 service state sureha1").unwrap();
        assert_eq!(skipped, 0);
        assert_eq!(r.words.len(), 3);
        assert!(decode_resync(b"nothing here").is_err());
        assert!(decode_word("%+F").is_err());
        assert!(decode_word("%-1").is_err());
        assert!(parse_command(&words("status extra"))
            .unwrap_err()
            .contains("status takes no arguments"));
        assert!(parse_command(&words("privnet create-socket l type=rs232"))
            .unwrap_err()
            .contains("use create-rs232"));
    }

    #[test]
    fn replies() {
        for r in [
            Reply::ok(""),
            Reply::ok("a\nb\n"),
            Reply::stop(),
            Reply::err("no such service"),
        ] {
            assert_eq!(Reply::parse(&r.to_text()).unwrap(), r);
        }
        assert!(Reply::parse("what\n").is_err());
    }

    #[test]
    fn commands() {
        assert_eq!(
            parse_command(&words("service bringin web")),
            Ok(Command::Operate(Operation::BringIn, "web".into()))
        );
        assert_eq!(
            parse_command(&words("apicmd FAILOVER web")),
            Ok(Command::Operate(Operation::FailOver, "web".into()))
        );
        assert_eq!(
            parse_command(&words("apiok web")),
            Ok(Command::Api(ApiCall::Ok, "web".into()))
        );
        assert_eq!(
            parse_command(&words("service create web a=1 b=2")),
            Ok(Command::ServiceCreate(
                "web".into(),
                vec![("a".into(), "1".into()), ("b".into(), "2".into())]
            ))
        );
        assert!(parse_command(&words("service bringin"))
            .unwrap_err()
            .contains("missing service name"));
        assert!(parse_command(&words("service bringin a b"))
            .unwrap_err()
            .contains("too many"));
        assert!(parse_command(&words("service frob web"))
            .unwrap_err()
            .contains("unknown subcommand"));
        assert!(parse_command(&words("apiok ../../etc"))
            .unwrap_err()
            .contains("not a valid service name"));
        assert!(parse_command(&[format!("apiok {}", "x".repeat(40))]).is_err());
        assert!(parse_command(&words(
            "apiok aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        ))
        .unwrap_err()
        .contains("not a valid"));
        assert!(parse_command(&words("apicmd EXPLODE web"))
            .unwrap_err()
            .contains("unknown command"));
        assert!(parse_command(&words("service create web"))
            .unwrap_err()
            .contains("no keys"));
        assert!(parse_command(&words("frobnicate"))
            .unwrap_err()
            .contains("unknown command"));
    }
}
