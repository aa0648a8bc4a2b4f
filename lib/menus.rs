//! `haadm` alone: the manual's numbered menus (DESIGN §9) — Tools, PrivateNet, Services,
//! Status — for a person at a terminal or a script piping answers in, one a line. Each item
//! sends the same words as the one-shot command, to this node or, after Tools > Connect, to a
//! remote node's admin door. Create asks each key with its default and range and checks each
//! answer at once, with the same parser (and the same error text) as the configuration file.

use crate::admin;
use crate::door::client::Session;
use crate::error::{Error, Result};
use crate::forms::{self, Key};
use crate::paths::Home;
use std::io::{BufRead, Write};

/// Where the menus' commands go.
enum Target {
    Local,
    Remote(Box<Session>, String),
}

struct Menus<'a> {
    home: &'a Home,
    target: Target,
    input: std::io::StdinLock<'static>,
    out: std::io::Stdout,
}

pub fn run(home: &Home) -> Result<String> {
    let mut m = Menus {
        home,
        target: Target::Local,
        input: std::io::stdin().lock(),
        out: std::io::stdout(),
    };
    m.main();
    Ok(String::new())
}

impl Menus<'_> {
    fn say(&mut self, text: &str) {
        let _ = write!(self.out, "{text}");
        let _ = self.out.flush();
    }

    /// One answer; `None` at the end of the input (the menus end).
    fn ask(&mut self, prompt: &str) -> Option<String> {
        self.say(prompt);
        let mut line = String::new();
        match self.input.read_line(&mut line) {
            Ok(0) | Err(_) => None,
            Ok(_) => Some(line.trim().to_string()),
        }
    }

    fn call(&mut self, words: &[&str]) -> Result<String> {
        let words: Vec<String> = words.iter().map(|w| w.to_string()).collect();
        match &mut self.target {
            Target::Local => admin::command(self.home, &words),
            Target::Remote(s, _) => s.call(&words),
        }
    }

    fn show(&mut self, r: Result<String>) {
        match r {
            Ok(body) => self.say(&body),
            Err(e) => self.say(&format!("error: {}\n", e.message)),
        }
    }

    fn where_(&self) -> String {
        match &self.target {
            Target::Local => format!("{} (this node)", self.home.node),
            Target::Remote(_, who) => who.clone(),
        }
    }

    fn main(&mut self) {
        loop {
            let head = format!(
                "\nSureHA — {}\n  1) Tools\n  2) PrivateNet\n  3) Services\n  4) Status\n  0) Exit\n",
                self.where_()
            );
            self.say(&head);
            let Some(c) = self.ask("choice> ") else {
                return;
            };
            let go_on = match c.as_str() {
                "1" => self.tools(),
                "2" => self.privnet(),
                "3" => self.services(),
                "4" => {
                    let r = self.call(&["status"]);
                    self.show(r);
                    true
                }
                "0" | "q" | "exit" => return,
                "" => true,
                other => {
                    self.say(&format!(
                        "'{}': choose a number\n",
                        crate::config::shown(other)
                    ));
                    true
                }
            };
            if !go_on {
                return;
            }
        }
    }

    /// Tools: Connect, License, Network, Lock, Unlock, Disconnect, Stop, Exit.
    fn tools(&mut self) -> bool {
        self.say("  1) Connect  2) License  3) Network  4) Lock  5) Unlock  6) Disconnect  7) Stop  8) Exit  0) Back\n");
        let Some(c) = self.ask("tools> ") else {
            return false;
        };
        match c.as_str() {
            "1" => self.connect(),
            "2" => return self.license(),
            "3" => {
                let r = self.call(&["network"]);
                self.show(r);
            }
            "4" => {
                let r = self.call(&["lock"]);
                self.show(r);
            }
            "5" => {
                let r = self.call(&["unlock"]);
                self.show(r);
            }
            "6" => {
                if matches!(self.target, Target::Remote(..)) {
                    self.target = Target::Local;
                    self.say("disconnected; the menus work on this node again\n");
                } else {
                    self.say("not connected\n");
                }
            }
            "7" => {
                let Some(sure) = self.ask(&format!(
                    "stop every service on {} and leave? (yes/no)> ",
                    self.where_()
                )) else {
                    return false;
                };
                if sure == "yes" {
                    let r = self.call(&["stop"]);
                    self.show(r);
                }
            }
            "8" => return false,
            _ => {}
        }
        true
    }

    fn connect(&mut self) {
        let Some(host) = self.ask("node address (HOST or HOST:PORT)> ") else {
            return;
        };
        if host.is_empty() {
            return;
        }
        let Some(user) = self.ask("user [admin]> ") else {
            return;
        };
        let user = if user.is_empty() {
            "admin".to_string()
        } else {
            user
        };
        let _ = self.out.flush();
        // From the terminal without echo, or the next line of a script.
        let password = match crate::sys::read_hidden_line("password> ") {
            Some(r) => r.unwrap_or_default(),
            None => match self.ask("password> ") {
                Some(p) => p,
                None => return,
            },
        };
        match Session::login(&host, &user, &password) {
            Ok(s) => {
                self.say(&format!("connected to {host} as {user}\n"));
                if let Some(w) = s.clear_warning() {
                    self.say(&format!("{w}\n"));
                }
                self.target = Target::Remote(Box::new(s), format!("{user}@{host}"));
            }
            Err(e) => self.say(&format!("error: {}\n", e.message)),
        }
    }

    fn license(&mut self) -> bool {
        let r = self.call(&["license"]);
        self.show(r);
        let Some(host) = self.ask("store a license for host (empty: back)> ") else {
            return false;
        };
        if host.is_empty() {
            return true;
        }
        let mut answers = Vec::new();
        for (prompt, check) in [
            ("serial number> ", "serial"),
            ("expiration (YYYY-MM-DD or never)> ", "expiration"),
            ("license> ", "license"),
        ] {
            loop {
                let Some(a) = self.ask(prompt) else {
                    return false;
                };
                let ok = match check {
                    "expiration" => crate::request::valid_expiration(&a),
                    _ => crate::request::valid_word(&a),
                };
                if ok {
                    answers.push(a);
                    break;
                }
                self.say(&format!(
                    "error: '{}' is not {}\n",
                    crate::config::shown(&a),
                    if check == "expiration" {
                        "a date YYYY-MM-DD or never"
                    } else {
                        "a word of printable characters"
                    }
                ));
            }
        }
        let r = self.call(&["license", &host, &answers[0], &answers[1], &answers[2]]);
        self.show(r);
        true
    }

    /// The two nodes, as the target's status names them (this node first).
    fn nodes(&mut self) -> (String, String) {
        let status = self.call(&["status"]).unwrap_or_default();
        let names: Vec<String> = status
            .lines()
            .filter_map(|l| l.strip_prefix("NODE "))
            .filter_map(|r| r.split(' ').next().map(str::to_string))
            .collect();
        match names.as_slice() {
            [a, b, ..] => (a.clone(), b.clone()),
            [a] => (a.clone(), String::new()),
            [] => (self.home.node.clone(), String::new()),
        }
    }

    fn pick(&mut self, what: &str) -> Option<String> {
        let kind = if what == "service" { "SERVICE" } else { "LINK" };
        let status = self.call(&["status"]).unwrap_or_default();
        let list: String = status
            .lines()
            .filter(|l| l.starts_with(kind))
            .map(|l| format!("  {l}\n"))
            .collect();
        self.say(&list);
        self.ask(&format!("{what} name> "))
            .filter(|n| !n.is_empty())
    }

    fn privnet(&mut self) -> bool {
        self.say(
            "  1) Create RS232  2) Create Socket  3) Create Disk  4) Review  5) Remove  0) Back\n",
        );
        let Some(c) = self.ask("privnet> ") else {
            return false;
        };
        let kind = match c.as_str() {
            "1" => "rs232",
            "2" => "socket",
            "3" => "disk",
            "4" | "5" => {
                let Some(name) = self.pick("privnet") else {
                    return true;
                };
                let verb = if c == "4" { "review" } else { "remove" };
                let r = self.call(&["privnet", verb, &name]);
                self.show(r);
                return true;
            }
            _ => return true,
        };
        let (me, peer) = self.nodes();
        let peer = Some(peer.as_str()).filter(|p| !p.is_empty());
        let keys = forms::privnet_keys(kind, &me, peer);
        self.create("privnet", kind, keys)
    }

    fn services(&mut self) -> bool {
        self.say("  1) Create  2) Bring In  3) Bring Out  4) Take Over  5) Fail Over  6) Review  7) Remove  0) Back\n");
        let Some(c) = self.ask("services> ") else {
            return false;
        };
        let verb = match c.as_str() {
            "1" => {
                let (me, peer) = self.nodes();
                let peer = Some(peer.as_str()).filter(|p| !p.is_empty());
                let keys = forms::service_keys(&me, peer);
                return self.create("service", "service", keys);
            }
            "2" => "bringin",
            "3" => "bringout",
            "4" => "takeover",
            "5" => "failover",
            "6" => "review",
            "7" => "remove",
            _ => return true,
        };
        let Some(name) = self.pick("service") else {
            return true;
        };
        let r = self.call(&["service", verb, &name]);
        self.show(r);
        true
    }

    /// Asks the name and each key, checking every answer at once; then creates it.
    fn create(&mut self, section: &str, kind: &str, keys: Vec<Key>) -> bool {
        let name = loop {
            let Some(n) = self.ask(&format!("name of the new {section}> ")) else {
                return false;
            };
            if n.is_empty() {
                return true;
            }
            match forms::check_name(&n) {
                Ok(()) => break n,
                Err(e) => self.say(&format!("error: {e}\n")),
            }
        };
        let mut given: Vec<(String, String)> = Vec::new();
        for k in &keys {
            let needed = forms::needed(section, k, &given);
            loop {
                let shown_default = k
                    .default
                    .as_deref()
                    .map_or(String::new(), |d| format!(" [{d}]"));
                let Some(a) = self.ask(&format!("{} ({}){shown_default}> ", k.name, k.range))
                else {
                    return false;
                };
                let value = if a.is_empty() {
                    k.default.clone()
                } else {
                    Some(a)
                };
                let Some(value) = value else {
                    if needed {
                        self.say(&format!("error: {} is required\n", k.name));
                        continue;
                    }
                    break;
                };
                let mut trial = given.clone();
                trial.push((k.name.to_string(), value.clone()));
                match self.check_answer(section, kind, &name, &trial, k.name) {
                    Ok(()) => {
                        given = trial;
                        break;
                    }
                    Err(e) => self.say(&format!("error: {e}\n")),
                }
            }
        }
        let mut words: Vec<String> = if section == "service" {
            vec!["service".into(), "create".into(), name]
        } else {
            vec!["privnet".into(), format!("create-{kind}"), name]
        };
        words.extend(given.iter().map(|(k, v)| format!("{k}={v}")));
        let refs: Vec<&str> = words.iter().map(String::as_str).collect();
        let r = self.call(&refs);
        self.show(r);
        true
    }

    /// The answers so far, as a section of a configuration: what the parser says about this
    /// key (the same words as `haadm check`). Other keys' complaints wait for their turn.
    fn check_answer(
        &self,
        section: &str,
        kind: &str,
        name: &str,
        answers: &[(String, String)],
        key: &str,
    ) -> std::result::Result<(), String> {
        forms::check_answer(section, kind, name, answers, key)?;
        if matches!(self.target, Target::Local) && matches!(key, "start" | "stop" | "agent") {
            let v = &answers.last().map(|a| a.1.clone()).unwrap_or_default();
            admin::program_exists(self.home, key, v).map_err(|e: Error| e.message)?;
        }
        Ok(())
    }
}
