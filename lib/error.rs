//! Errors that carry their context and the exit status they map to.

use std::fmt;

/// Exit statuses shared by every program (DESIGN §5).
pub mod exit {
    /// Done.
    pub const OK: i32 = 0;
    /// Refused or failed; one line on stderr says why.
    pub const FAILED: i32 = 1;
    /// Usage error.
    pub const USAGE: i32 = 2;
    /// Invalid configuration: permanent, a supervisor must not respawn on it.
    pub const CONFIG: i32 = 3;
}

/// An error with the exit status it maps to and a message that says what and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub status: i32,
    pub message: String,
}

impl Error {
    pub fn failed(message: impl Into<String>) -> Self {
        Error {
            status: exit::FAILED,
            message: message.into(),
        }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Error {
            status: exit::USAGE,
            message: message.into(),
        }
    }

    pub fn config(message: impl Into<String>) -> Self {
        Error {
            status: exit::CONFIG,
            message: message.into(),
        }
    }

    /// Prefixes the message with what we were doing.
    pub fn context(mut self, what: impl fmt::Display) -> Self {
        self.message = format!("{what}: {}", self.message);
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

/// Adds "what we were doing" to I/O errors.
pub trait Context<T> {
    fn context(self, what: impl fmt::Display) -> Result<T>;
}

impl<T> Context<T> for std::io::Result<T> {
    fn context(self, what: impl fmt::Display) -> Result<T> {
        self.map_err(|e| Error::failed(format!("{what}: {e}")))
    }
}

/// Prints `prog: message` on stderr and exits with the error's status.
pub fn exit_with(prog: &str, result: Result<()>) -> ! {
    match result {
        Ok(()) => std::process::exit(exit::OK),
        Err(e) => {
            eprintln!("{prog}: {}", e.message);
            std::process::exit(e.status)
        }
    }
}
