//! What every bench shares: the machine line, and its section of docs/benchmarks.md.
#![allow(dead_code)]

use std::process::Command;

/// "2 cores, Linux 6.1.0": where the figures were measured.
pub fn machine() -> String {
    format!(
        "{} cores, {}",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        Command::new("uname")
            .arg("-sr")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    )
}

pub use ferry_testkit::bench::write_section;
