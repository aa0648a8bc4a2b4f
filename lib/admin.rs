//! haadm: one-shot subcommands for scripts, numbered menus for people. Both send the same
//! words to hasvrd through the request FIFO.

use crate::error::{Error, Result};
use crate::fifo::{self, Patience};
use crate::files;
use crate::paths::{Daemon, Home};
use crate::request::{self, Status};
use std::io::{BufRead, Write};
use std::time::{Duration, Instant};

/// haadm gives hasvrd 10 s to take a request, then as long as the command may take (see
/// `answer_within`); a restart of hasvrd is waited out.
const PATIENCE: Patience = Patience {
    taken: Duration::from_secs(10),
    reply: None,
    while_down: Duration::from_secs(3),
    ask_again: false,
};

/// The longest hasvrd may take to answer `cmd`: what the engine itself allows the command,
/// from this node's configuration, plus a margin. Never unbounded, even if hasvrd hangs.
pub fn answer_within(home: &Home, cmd: &request::Command) -> Duration {
    use crate::engine::waiting_limit;
    use request::Command;
    let config = crate::executor::load_config(home).ok().map(|(c, _)| c);
    let services = config.as_ref().map_or(&[][..], |c| &c.services[..]);
    let ms = match cmd {
        Command::Operate(_, name) => waiting_limit(services.iter().find(|s| &s.name == name)),
        // Every service may have to stop.
        Command::Stop | Command::Reload => services
            .iter()
            .map(|s| waiting_limit(Some(s)))
            .max()
            .unwrap_or(60_000),
        _ => 60_000,
    };
    Duration::from_millis(ms) + Duration::from_secs(10)
}

/// `haadm check [FILE]`: every error as FILE:LINE: message.
pub fn check(home: &Home, file: Option<&str>) -> Result<String> {
    let path = file
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| home.config());
    let text = files::read_regular_text(&path, crate::config::MAX_FILE)
        .map_err(|e| Error::failed(format!("cannot read {}: {e}", path.display())))?;
    let key = crate::link::load_key(home).err().map(|e| e.message);
    match crate::config::parse(&path.display().to_string(), &text) {
        Ok(_) if key.is_some() => Err(Error::failed(key.unwrap_or_default())),
        Err(d) => Err(Error::failed(match key {
            Some(k) => format!("{d}\n{k}"),
            None => d.to_string(),
        })),
        Ok(c) => {
            let mut out = String::new();
            for w in c.warnings() {
                out.push_str(&format!(
                    "{}:{}: WARNING: {}\n",
                    path.display(),
                    w.line,
                    w.message
                ));
            }
            out.push_str(&format!(
                "{}: OK ({} link(s), {} service(s))\n",
                path.display(),
                c.links.len(),
                c.services.len()
            ));
            Ok(out)
        }
    }
}

/// Sends command words to hasvrd; returns the reply body.
pub fn send(home: &Home, words: &[String]) -> Result<String> {
    let cmd = request::parse_command(words)
        .map_err(|e| Error::usage(format!("{e}\n{}", request::USAGE)))?;
    let patience = Patience {
        reply: Some(answer_within(home, &cmd)),
        ..PATIENCE
    };
    let reply = fifo::call(home, words, patience)?;
    match reply.status {
        Status::Ok => Ok(reply.body),
        Status::Err(m) => Err(Error::failed(m)),
        Status::Stop => Err(Error::failed("refused")),
    }
}

/// `haadm stop`: hasvrd stops the services here and leaves, hamond follows; returns once
/// neither runs any more.
pub fn stop(home: &Home) -> Result<String> {
    let body = send(home, &["stop".to_string()])?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if files::running_pid(home, Daemon::Hasvrd).is_none()
            && files::running_pid(home, Daemon::Hamond).is_none()
        {
            return Ok(body);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(Error::failed(
        "hasvrd answered, but the daemons are still running after 30s; see the log",
    ))
}

/// One-shot use: the words of the command line.
pub fn run(home: &Home, words: &[String]) -> Result<String> {
    match words.first().map(String::as_str) {
        None => interactive(home),
        Some("check") if words.len() <= 2 => check(home, words.get(1).map(String::as_str)),
        Some("check") => Err(Error::usage("usage: haadm check [FILE]")),
        Some("stop") if words.len() == 1 => stop(home),
        // Who locked and when: this node's administrator, now (the door puts its user).
        Some("lock") if words.len() == 1 => send(home, &lock_words("lock", &local_user(home))),
        Some("unlock") if words.len() == 1 => send(home, &lock_words("unlock", &local_user(home))),
        Some("help") => Ok(format!("{}\n", request::USAGE)),
        Some("service") if words.get(1).map(String::as_str) == Some("create") => {
            programs_exist(home, words.get(3..).unwrap_or(&[]))?;
            send(home, words)
        }
        Some(_) => send(home, words),
    }
}

/// The scripts and agent a new service names exist here and can run (the peer checks its
/// own when it starts them).
fn programs_exist(home: &Home, kvs: &[String]) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    for kv in kvs {
        let Some((k, v)) = kv.split_once('=') else {
            continue;
        };
        let what = match k.trim().to_ascii_lowercase().as_str() {
            "start" => "start script",
            "stop" => "stop script",
            "agent" if !v.contains(':') => "agent",
            _ => continue,
        };
        let path = home.program(v.trim());
        match std::fs::metadata(&path) {
            Ok(m) if m.is_file() && m.permissions().mode() & 0o111 != 0 => {}
            Ok(_) => {
                return Err(Error::failed(format!(
                    "refused: {what} {} is not an executable file",
                    path.display()
                )))
            }
            Err(e) => {
                return Err(Error::failed(format!(
                    "refused: {what} {}: {e}",
                    path.display()
                )))
            }
        }
    }
    Ok(())
}

/// A local administrator: `root@NODE` (or `$SUDO_USER@NODE`).
pub fn local_user(home: &Home) -> String {
    let who = std::env::var("SUDO_USER")
        .ok()
        .filter(|u| crate::auth::valid_user(u))
        .unwrap_or_else(|| "root".into());
    format!("{who}@{}", home.node)
}

/// The words hasvrd gets for lock (who and since when) and unlock (who).
pub fn lock_words(verb: &str, who: &str) -> Vec<String> {
    let mut w = vec![verb.to_string(), who.to_string()];
    if verb == "lock" {
        w.push(crate::clock::local_timestamp()[..19].replace(' ', "T"));
    }
    w
}

fn prompt(out: &mut impl Write, input: &mut impl BufRead, text: &str) -> Option<String> {
    let _ = write!(out, "{text}");
    let _ = out.flush();
    let mut line = String::new();
    match input.read_line(&mut line) {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(line.trim().to_string()),
    }
}

fn show(out: &mut impl Write, r: Result<String>) {
    let _ = match r {
        Ok(body) => write!(out, "{body}"),
        Err(e) => writeln!(out, "error: {}", e.message),
    };
}

/// The numbered menus: Tools, PrivateNet, Services, Status.
fn interactive(home: &Home) -> Result<String> {
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let mut out = std::io::stdout();
    let w = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    loop {
        let _ = writeln!(out, "\nSureHA on {} ({})\n  1) Status\n  2) Services\n  3) Private networks\n  4) Tools\n  0) Quit", home.node, home.root.display());
        let Some(choice) = prompt(&mut out, &mut input, "choice> ") else {
            break;
        };
        match choice.as_str() {
            "1" => show(&mut out, send(home, &w(&["status"]))),
            "2" => {
                show(
                    &mut out,
                    send(home, &w(&["status"])).map(|s| {
                        s.lines()
                            .filter(|l| l.starts_with("SERVICE"))
                            .map(|l| format!("{l}\n"))
                            .collect()
                    }),
                );
                let _ = writeln!(out, "  1) Review  2) Bring in  3) Bring out  4) Take over  5) Fail over  6) Remove  7) State  0) Back");
                let Some(c) = prompt(&mut out, &mut input, "service action> ") else {
                    break;
                };
                let verb = match c.as_str() {
                    "1" => "review",
                    "2" => "bringin",
                    "3" => "bringout",
                    "4" => "takeover",
                    "5" => "failover",
                    "6" => "remove",
                    "7" => "state",
                    _ => continue,
                };
                let Some(name) = prompt(&mut out, &mut input, "service name> ") else {
                    break;
                };
                show(&mut out, send(home, &w(&["service", verb, &name])));
            }
            "3" => {
                show(
                    &mut out,
                    send(home, &w(&["status"])).map(|s| {
                        s.lines()
                            .filter(|l| l.starts_with("LINK"))
                            .map(|l| format!("{l}\n"))
                            .collect()
                    }),
                );
                let _ = writeln!(out, "  1) Review  2) State  3) Remove  0) Back");
                let Some(c) = prompt(&mut out, &mut input, "privnet action> ") else {
                    break;
                };
                let verb = match c.as_str() {
                    "1" => "review",
                    "2" => "state",
                    "3" => "remove",
                    _ => continue,
                };
                let Some(name) = prompt(&mut out, &mut input, "privnet name> ") else {
                    break;
                };
                show(&mut out, send(home, &w(&["privnet", verb, &name])));
            }
            "4" => {
                let _ = writeln!(out, "  1) Check the configuration  2) Reload the configuration  3) Stop SureHA on this node  0) Back");
                let Some(c) = prompt(&mut out, &mut input, "tool> ") else {
                    break;
                };
                match c.as_str() {
                    "1" => show(&mut out, check(home, None)),
                    "2" => show(&mut out, send(home, &w(&["reload"]))),
                    "3" => {
                        let sure = prompt(
                            &mut out,
                            &mut input,
                            "stop every service here and leave? (yes/no)> ",
                        );
                        if sure.as_deref() == Some("yes") {
                            show(&mut out, stop(home));
                        }
                    }
                    _ => {}
                }
            }
            "0" | "q" | "quit" => break,
            "" => {}
            other => {
                let _ = writeln!(out, "no choice '{other}'");
            }
        }
    }
    Ok(String::new())
}
