//! The log, `$HAHOME/etc/sureha.log`: one line an event,
//! `YYYY-MM-DD HH:MM:SS.mmm NODE PROGRAM LEVEL subject: what happened; what SureHA did`.
//! Each line is one `write` on an `O_APPEND` descriptor, so daemons never interleave.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Info,
    Warning,
    Error,
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Level::Info => "INFO",
            Level::Warning => "WARNING",
            Level::Error => "ERROR",
        })
    }
}

pub struct Logger {
    path: PathBuf,
    file: Option<File>,
    node: String,
    program: &'static str,
    /// Also copy lines to stderr (foreground mode).
    pub echo: bool,
}

impl Logger {
    pub fn new(path: PathBuf, node: &str, program: &'static str) -> Logger {
        let mut l = Logger {
            path,
            file: None,
            node: node.to_string(),
            program,
            echo: false,
        };
        l.reopen();
        l
    }

    /// Reopens the file (after log rotation, on SIGHUP).
    pub fn reopen(&mut self) {
        self.file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o640)
            .open(&self.path)
            .ok();
    }

    pub fn log(&mut self, level: Level, text: &str) {
        let mut line = format!(
            "{} {} {} {} {}",
            crate::clock::local_timestamp(),
            self.node,
            self.program,
            level,
            text.replace('\n', " ")
        );
        line.push('\n');
        if let Some(f) = self.file.as_mut() {
            let _ = f.write_all(line.as_bytes());
        }
        if self.echo || self.file.is_none() {
            let _ = std::io::stderr().write_all(line.as_bytes());
        }
    }

    pub fn info(&mut self, text: &str) {
        self.log(Level::Info, text)
    }
    pub fn warning(&mut self, text: &str) {
        self.log(Level::Warning, text)
    }
    pub fn error(&mut self, text: &str) {
        self.log(Level::Error, text)
    }
}
