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
