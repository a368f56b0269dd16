//! The one error taxonomy. Every connector maps its service's errors onto these kinds and the
//! engine decides what to do from the kind alone: retry, wait, skip, pause or fail the item.

use std::io;
use std::time::Duration;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Clone, Debug, thiserror::Error)]
pub enum Error {
    /// A passing fault (timeout, reset, 5xx): try again after a backoff.
    #[error("{0}")]
    Retryable(String),
    /// The service asked us to slow down; `retry_after` is honoured exactly when given.
    #[error("{message}")]
    RateLimited {
        retry_after: Option<Duration>,
        message: String,
    },
    /// Credentials expired or were revoked and could not be refreshed: the job pauses.
    #[error("{0}")]
    AuthExpired(String),
    /// The destination has no room: the job pauses until space is freed.
    #[error("{0}")]
    DestinationFull(String),
    /// The item no longer exists at the source: it is skipped with this reason.
    #[error("{0}")]
    NotFound(String),
    /// Retrying cannot help (bad input, refused by the service): the item fails, the job goes on.
    #[error("{0}")]
    Permanent(String),
}

/// The kind of an [`Error`], without its details.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    Retryable,
    RateLimited,
    AuthExpired,
    DestinationFull,
    NotFound,
    Permanent,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Retryable => "retryable",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::AuthExpired => "auth_expired",
            ErrorKind::DestinationFull => "destination_full",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Permanent => "permanent",
        }
    }

    /// Whether this kind stops the whole job rather than one item.
    pub fn pauses_job(self) -> bool {
        matches!(self, ErrorKind::AuthExpired | ErrorKind::DestinationFull)
    }
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Retryable(_) => ErrorKind::Retryable,
            Error::RateLimited { .. } => ErrorKind::RateLimited,
            Error::AuthExpired(_) => ErrorKind::AuthExpired,
            Error::DestinationFull(_) => ErrorKind::DestinationFull,
            Error::NotFound(_) => ErrorKind::NotFound,
            Error::Permanent(_) => ErrorKind::Permanent,
        }
    }

    pub fn permanent(message: impl Into<String>) -> Error {
        Error::Permanent(message.into())
    }

    pub fn retryable(message: impl Into<String>) -> Error {
        Error::Retryable(message.into())
    }

    /// Maps an I/O error onto the taxonomy; `what` names the file or operation for the message.
    pub fn io(what: impl std::fmt::Display, err: &io::Error) -> Error {
        let message = format!("{what}: {}", describe_io(err));
        match err.kind() {
            io::ErrorKind::NotFound => Error::NotFound(message),
            io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => {
                Error::DestinationFull(message)
            }
            io::ErrorKind::Interrupted
            | io::ErrorKind::TimedOut
            | io::ErrorKind::WouldBlock
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::UnexpectedEof => Error::Retryable(message),
            _ => Error::Permanent(message),
        }
    }
}

/// The OS message without the "(os error N)" tail, which means nothing to a person.
fn describe_io(err: &io::Error) -> String {
    let text = err.to_string();
    match text.find(" (os error") {
        Some(at) => text[..at].to_lowercase(),
        None => text,
    }
}
