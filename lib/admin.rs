//! haadm's one-shot commands: what runs here (check, stop, events, metrics, authkey install,
//! export) and what is asked of hasvrd (`ask`). The menus and the admin door run commands
//! through `command`; `haadm` alone (the menus) and `drill` are the `haadm` module's.

use crate::ask::send;
use crate::error::{Error, Result};
use crate::files;
use crate::paths::{Daemon, Home};
use crate::request;
use std::time::{Duration, Instant};

/// `haadm check [FILE]`: every error as FILE:LINE: message.
pub fn check(home: &Home, file: Option<&str>) -> Result<String> {
    let path = file
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| home.config());
    let text = files::read_regular_text(&path, crate::config::MAX_FILE)
        .map_err(|e| Error::failed(format!("cannot read {}: {e}", path.display())))?;
    let key = crate::authkey::load_key(home).err().map(|e| e.message);
    match crate::config::parse(&path.display().to_string(), &text) {
        Ok(_) if key.is_some() => Err(Error::failed(key.unwrap_or_default())),
        Err(d) => Err(Error::failed(match key {
            Some(k) => format!("{d}\n{k}"),
            None => d.to_string(),
        })),
        Ok(c) => {
            let missing: Vec<String> = c
                .alerts
                .iter()
                .filter_map(|a| {
                    files::executable(std::path::Path::new(&a.program))
                        .err()
                        .map(|why| {
                            format!(
                                "{}:{}: [alert {}]: program {}: {why}",
                                path.display(),
                                a.line,
                                a.name,
                                a.program
                            )
                        })
                })
                .collect();
            if !missing.is_empty() {
                return Err(Error::failed(missing.join("\n")));
            }
            let mut out = String::new();
            for w in c.warnings() {
                out.push_str(&format!(
                    "{}:{}: WARNING: {}\n",
                    path.display(),
                    w.line,
                    w.message
                ));
            }
            // The key first: the last line stays the configuration's verdict.
            if let Ok(k) = crate::authkey::load_key(home) {
                out.push_str(&format!(
                    "{}: OK, fingerprint {} (the same on both nodes, or they cannot read each other: copy the file, then haadm authkey install FILE)\n",
                    home.authkey().display(),
                    crate::auth::key_fingerprint(&k)
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

/// One command, as its words give it (not the menus, not a drill).
pub fn command(home: &Home, words: &[String]) -> Result<String> {
    match words.first().map(String::as_str) {
        None => Err(Error::usage(request::USAGE)),
        Some("check") if words.len() <= 2 => check(home, words.get(1).map(String::as_str)),
        Some("check") => Err(Error::usage("usage: haadm check [FILE]")),
        Some("stop") if words.len() == 1 => stop(home),
        // Who locked and when: this node's administrator, now (the door puts its user).
        Some("lock") if words.len() == 1 => send(home, &lock_words("lock", &local_user(home))),
        Some("unlock") if words.len() == 1 => send(home, &lock_words("unlock", &local_user(home))),
        Some("help") => Ok(format!("{}\n", request::USAGE)),
        Some("events") if words.len() <= 2 => {
            crate::events::run(home, words.get(1).map(String::as_str))
        }
        Some("events") => Err(Error::usage("usage: haadm events [AFTER]")),
        // A scrape gets figures even from a node whose hasvrd does not answer.
        Some("metrics") if words.len() == 1 => Ok(crate::scrape::report(home).0),
        Some("authkey") if words.len() == 3 && words[1] == "install" => {
            install_authkey(home, &words[2])
        }
        Some("authkey") if words.len() == 2 && words[1] == "rotate" => send(home, words),
        Some("authkey") => Err(Error::usage(
            "usage: haadm authkey rotate | haadm authkey install FILE   (the peer's etc/authkey, copied here)",
        )),
        Some("export") if words.len() == 2 && words[1] == "pacemaker" => export_pacemaker(home),
        Some("export") => Err(Error::usage(
            "usage: haadm export pacemaker   (the cluster as a Pacemaker CIB, on standard output)",
        )),
        Some("service") if words.get(1).map(String::as_str) == Some("create") => {
            programs_exist(home, words.get(3..).unwrap_or(&[]))?;
            send(home, words)
        }
        Some(_) => send(home, words),
    }
}

/// `haadm authkey install FILE`: the peer's key, for a node whose key differs (it missed a
/// rotation, or was set up apart). Written as etc/authkey (0600, atomically); a running
/// hasvrd notices within a second, and its links take it.
fn install_authkey(home: &Home, file: &str) -> Result<String> {
    let text = crate::files::read_regular(std::path::Path::new(file), 4096)
        .map_err(|e| Error::failed(format!("cannot read {file}: {e}")))?;
    let key = text.trim_ascii();
    if key.is_empty() {
        return Err(Error::failed(format!("{file} is empty: not a key")));
    }
    if key.len() < 16 || key.iter().any(|b| b.is_ascii_control()) {
        return Err(Error::failed(format!(
            "{file} does not look like an authkey (at least 16 printable bytes, as 'make install' writes one)"
        )));
    }
    let path = home.authkey();
    let mut data = key.to_vec();
    data.push(b'\n');
    crate::files::write_atomic(&path, &data, 0o600)
        .map_err(|e| Error::failed(format!("cannot write {}: {e}", path.display())))?;
    Ok(format!(
        "{} installed (fingerprint {}); a running SureHA takes it within a second\n",
        path.display(),
        crate::auth::key_fingerprint(key)
    ))
}

/// `haadm export pacemaker`: this node's configuration as a Pacemaker CIB.
fn export_pacemaker(home: &Home) -> Result<String> {
    let (config, _) = crate::config::read(&home.config()).map_err(Error::failed)?;
    let root = std::fs::canonicalize(&home.root).unwrap_or_else(|_| home.root.clone());
    crate::export::pacemaker(&config, &root.display().to_string()).map_err(Error::failed)
}

/// The scripts and agent a new service names exist here and can run (the peer checks its
/// own when it starts them).
fn programs_exist(home: &Home, kvs: &[String]) -> Result<()> {
    let pairs: Vec<(String, String)> = kvs
        .iter()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    for (k, v) in &pairs {
        program_exists(home, k, v)?;
        // An OCF agent: installed here, its meta-data sound, its required parameters given.
        if k == "agent" && v.starts_with("ocf:") {
            crate::ocf::check_agent(v, &pairs)?;
        }
    }
    Ok(())
}

/// For `start`, `stop` and `agent`: the program exists here and can run.
pub fn program_exists(home: &Home, key: &str, value: &str) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let what = match key {
        "start" => "start script",
        "stop" => "stop script",
        "agent" if !value.contains(':') => "agent",
        _ => return Ok(()),
    };
    let path = home.program(value);
    match std::fs::metadata(&path) {
        Ok(m) if m.is_file() && m.permissions().mode() & 0o111 != 0 => Ok(()),
        Ok(_) => Err(Error::failed(format!(
            "refused: {what} {} is not an executable file",
            path.display()
        ))),
        Err(e) => Err(Error::failed(format!(
            "refused: {what} {}: {e}",
            path.display()
        ))),
    }
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
