//! ferry-endpoints: what the CLI and `ferry serve` share to run a job: turning the journal's
//! endpoint specs (a folder, an export archive's parts, `NAME:/path` on a connection) into
//! Sources and Destinations, and keeping people's connections to services, sealed.
//!
//! Connections belong to an owner: '' is the machine's own user (the CLI), a server account
//! has its id. Every lookup goes through the owner, so one account cannot open another's.
//!
//! Errors are `anyhow`: they are only ever shown to a person as one line (the CLI prints
//! them, the server puts them in a job's reason), never matched on.

pub mod connections;
pub mod jobs;
pub mod specs;

pub use connections::{Connections, Saved, validate_name};
pub use jobs::JobOpener;
pub use specs::{
    archive_parts, normalize_destination, normalize_source, normalize_sources, open_destination,
    open_source, show_source, show_sources,
};

/// An error and its causes on one line, each cause once: how the CLI prints errors and how a
/// worker words a job's pause reason.
pub fn one_line(err: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
    }
    parts.join(": ").replace('\n', " ")
}
