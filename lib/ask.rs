//! Asking hasvrd: a request's words through the request FIFO, waited for as long as the
//! command may take on hasvrd's side (from this node's configuration), never unbounded.
//! haadm's commands, its menus, a drill, the admin door and the API tools all ask this way.

use crate::error::{Error, Result};
use crate::fifo::{self, Patience};
use crate::paths::Home;
use crate::request::{self, Status};
use std::time::Duration;

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
    use crate::config::waiting_limit;
    use request::Command;
    let config = crate::config::read(&home.config()).ok().map(|(c, _)| c);
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
