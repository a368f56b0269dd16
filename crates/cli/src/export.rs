//! `ferry export`: a "download your information" archive of everything the sources hold.

use anyhow::{Result, bail};
use ferry_core::model::Timestamp;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, Duration, OffsetDateTime};

/// `2GiB`, `500MB`, `1.5 GiB`, `1048576`: binary and decimal units, case-insensitive.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("'{text}' is not a size (try 2GiB, 500MB)"))?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "kb" => 1_000,
        "m" | "mib" => 1 << 20,
        "mb" => 1_000_000,
        "g" | "gib" => 1 << 30,
        "gb" => 1_000_000_000,
        "t" | "tib" => 1 << 40,
        "tb" => 1_000_000_000_000,
        other => return Err(format!("unknown size unit '{other}' in '{text}'")),
    };
    let bytes = number * factor as f64;
    if !(bytes.is_finite() && bytes >= 1.0 && bytes < u64::MAX as f64) {
        return Err(format!("'{text}' is not a usable size"));
    }
    Ok(bytes as u64)
}

/// A day (`2024-06-01`, UTC) or an instant (RFC 3339). With `end_of_day`, a day means the
/// start of the next one, so that `--until 2024-06-30` includes the 30th.
pub fn parse_date(text: &str, end_of_day: bool) -> Result<Timestamp> {
    let t = text.trim();
    if let Ok(instant) = OffsetDateTime::parse(t, &Rfc3339) {
        return Ok(Timestamp::with_offset(instant));
    }
    let Ok(day) = Date::parse(t, format_description!("[year]-[month]-[day]")) else {
        bail!("'{text}' is not a date (YYYY-MM-DD, or RFC 3339 like 2024-06-01T12:00:00Z)");
    };
    let mut at = day.midnight().assume_utc();
    if end_of_day {
        at += Duration::days(1);
    }
    Ok(Timestamp::from_utc(at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_and_decimal_units() {
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
        assert_eq!(parse_size("2 gib"), Ok(2 << 30));
        assert_eq!(parse_size("500MB"), Ok(500_000_000));
        assert_eq!(parse_size("1.5KiB"), Ok(1536));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("0").is_err());
        assert!(parse_size("2 parsecs").is_err());
        assert!(parse_size("GiB").is_err());
    }

    #[test]
    fn dates_parse_as_days_or_instants() {
        let since = parse_date("2024-06-01", false).unwrap();
        assert_eq!(since.utc.unix_timestamp(), 1_717_200_000);
        let until = parse_date("2024-06-01", true).unwrap();
        assert_eq!(until.utc.unix_timestamp(), 1_717_200_000 + 86_400);
        let instant = parse_date("2024-06-01T12:00:00+02:00", false).unwrap();
        assert_eq!(instant.utc.unix_timestamp(), 1_717_236_000);
        assert!(parse_date("June 1st", false).is_err());
    }
}

/// The passphrase for `--encrypt`: `FERRY_EXPORT_PASSPHRASE`, else one line read from the
/// terminal without echo (or from stdin when it is not a terminal).
pub fn read_passphrase() -> Result<secrecy::SecretString> {
    if let Ok(value) = std::env::var("FERRY_EXPORT_PASSPHRASE")
        && !value.is_empty()
    {
        return Ok(secrecy::SecretString::from(value));
    }
    use std::io::{BufRead, IsTerminal};
    let stdin = std::io::stdin();
    let terminal = stdin.is_terminal();
    if terminal {
        eprint!("passphrase for the archive (not shown): ");
    }
    let _echo = terminal.then(EchoOff::new).flatten();
    let mut line = String::new();
    stdin.lock().read_line(&mut line)?;
    if terminal {
        eprintln!();
    }
    let passphrase = line.trim_end_matches(['\r', '\n']).to_string();
    if passphrase.is_empty() {
        bail!("--encrypt needs a passphrase (FERRY_EXPORT_PASSPHRASE, or typed) or --recipient");
    }
    Ok(secrecy::SecretString::from(passphrase))
}

/// Turns terminal echo off until dropped.
struct EchoOff(libc::termios);

impl EchoOff {
    fn new() -> Option<EchoOff> {
        // SAFETY: tcgetattr/tcsetattr on stdin with a zeroed termios that tcgetattr fills.
        unsafe {
            let mut saved: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(libc::STDIN_FILENO, &mut saved) != 0 {
                return None;
            }
            let mut quiet = saved;
            quiet.c_lflag &= !libc::ECHO;
            (libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &quiet) == 0)
                .then_some(EchoOff(saved))
        }
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        // SAFETY: restores the settings read in `new`.
        unsafe {
            libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &self.0);
        }
    }
}

#[derive(clap::Args)]
pub struct ExportArgs {
    /// Sources (connections like `facebook:`, folders, export archives), then the archive to
    /// write (`OUT.zip`; parts `OUT-1.zip`, `OUT-2.zip`, … when it is split).
    #[arg(required = true, num_args = 2.., value_name = "FROM... OUT.zip")]
    paths: Vec<String>,
    /// What to include (photos, videos, posts, comments, stories, messages, profile, notes,
    /// events, check-ins); everything when left out.
    #[arg(long, value_delimiter = ',')]
    types: Vec<ferry_core::DataType>,
    /// Only what is dated on or after this day (YYYY-MM-DD, UTC) or instant (RFC 3339).
    #[arg(long, value_name = "DATE")]
    since: Option<String>,
    /// Only what is dated up to and including this day, or before this instant.
    #[arg(long, value_name = "DATE")]
    until: Option<String>,
    /// The largest a part may be (a single file larger than this gets a part of its own).
    #[arg(long, default_value = "2GiB", value_parser = parse_size, value_name = "SIZE")]
    split_size: u64,
    /// Encrypt each part with age, with a passphrase (FERRY_EXPORT_PASSPHRASE, or typed).
    #[arg(long)]
    encrypt: bool,
    /// Encrypt each part with age to this public key (`age1…`) instead; repeatable.
    #[arg(long, value_name = "AGE_PUBLIC_KEY")]
    recipient: Vec<String>,
    /// Print exactly one JSON object (the summary) at the end, and no progress.
    #[arg(long)]
    json: bool,
}

pub async fn export(ferry: &crate::Ferry, args: ExportArgs) -> Result<u8> {
    use ferry_archives::ferry::{Encryption, ExportOptions};
    let (from, out) = args.paths.split_at(args.paths.len() - 1);
    let out = std::path::absolute(&out[0])?;
    if out.is_dir() {
        bail!(
            "{} is a folder; name the archive to write (OUT.zip)",
            out.display()
        );
    }
    let scope = ferry_core::Scope {
        types: crate::chosen_types(&args.types),
        since: args
            .since
            .as_deref()
            .map(|d| parse_date(d, false))
            .transpose()?,
        until: args
            .until
            .as_deref()
            .map(|d| parse_date(d, true))
            .transpose()?,
    };
    let encryption = if !args.recipient.is_empty() {
        Some(Encryption::Recipients(args.recipient.clone()))
    } else if args.encrypt {
        Some(Encryption::Passphrase(read_passphrase()?))
    } else {
        None
    };
    let specs = ferry_endpoints::normalize_sources(
        &ferry.connections,
        crate::LOCAL,
        from,
        ferry_archives::SourceOptions::default(),
    )
    .await?;
    let mut sources = Vec::new();
    for spec in &specs {
        sources.push(ferry_endpoints::open_source(&ferry.connections, crate::LOCAL, spec).await?);
    }
    let options = ExportOptions {
        scope,
        split_size: args.split_size,
        encryption,
        // Saved where the person asked, like any file they save: their umask decides.
        private: false,
    };
    let bar = (!args.json).then(|| {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} {msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        bar
    });
    let show = |p: &ferry_archives::ferry::ExportProgress| {
        if let Some(bar) = &bar {
            use ferry_archives::ferry::ExportPhase;
            let phase = match p.phase {
                ExportPhase::Listing => format!("listing ({} records)", p.records),
                ExportPhase::Media => {
                    format!("media {}/{} · part {}", p.media_done, p.media_total, p.part)
                }
                ExportPhase::Data => "records".to_string(),
                ExportPhase::Pages => "viewer pages".to_string(),
                ExportPhase::Finishing => "finishing".to_string(),
            };
            bar.set_length(p.media_bytes_total);
            bar.set_position(p.media_bytes_done);
            bar.set_message(phase);
        }
    };
    let result = ferry_archives::ferry::export(&sources, &out, &options, &show).await;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let summary = result?;
    if args.json {
        let value = serde_json::json!({
            "parts": summary.parts.iter().map(|p| serde_json::json!({
                "path": p.path, "size": p.size, "sha256": p.sha256,
            })).collect::<Vec<_>>(),
            "counts": summary.counts,
            "files": summary.files,
            "media_bytes": summary.media_bytes,
            "bytes": summary.bytes,
            "skipped": summary.skipped.iter().map(|s| serde_json::json!({
                "id": s.id, "reason": s.reason,
            })).collect::<Vec<_>>(),
        });
        println!("{value}");
        return Ok(0);
    }
    for part in &summary.parts {
        println!(
            "wrote {} ({}, sha256 {})",
            part.path.display(),
            indicatif::HumanBytes(part.size),
            part.sha256
        );
    }
    let counts: Vec<String> = summary
        .counts
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(kind, n)| format!("{n} {kind}"))
        .collect();
    println!("holds {}", counts.join(", "));
    if !summary.skipped.is_empty() {
        println!("left out {} entries:", summary.skipped.len());
        for s in summary.skipped.iter().take(20) {
            println!("  {}: {}", s.id, s.reason);
        }
        if summary.skipped.len() > 20 {
            println!("  … and {} more (see --json)", summary.skipped.len() - 20);
        }
    }
    Ok(0)
}
