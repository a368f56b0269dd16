//! Google's localized folder names, and dates written into file names.

use ferry_core::model::Timestamp;
use time::{Date, Month, PrimitiveDateTime, Time};

use super::matcher::nfc;

/// The Google Photos folder under `Takeout/`, as Google names it per account language.
/// Detection also works by content, so a missing language only costs the fast path.
pub const ROOT_NAMES: &[&str] = &[
    "Google Photos",
    "Google Fotos",
    "Google Foto",
    "Zdjęcia Google",
    "Google Фото",
    "Fotky Google",
    "Google フォト",
    "Google 相簿",
    "Google 相册",
    "Google 포토",
];

/// Google Photos' bin: what the user deleted is not moved.
const TRASH: &[&str] = &[
    "Trash",
    "Bin",
    "Papierkorb",
    "Corbeille",
    "Papelera",
    "Cestino",
    "Prullenbak",
    "Kosz",
    "Lixeira",
    "Корзина",
];

/// Media the user hid behind a lock: not moved to another service behind their back.
const LOCKED: &[&str] = &[
    "Locked Folder",
    "Gesperrter Ordner",
    "Dossier verrouillé",
    "Carpeta bloqueada",
    "Cartella bloccata",
    "Vergrendelde map",
];

/// Uploads Google could not process; usually unplayable.
const FAILED: &[&str] = &["Failed Videos", "Fehlgeschlagene Videos", "Vidéos en échec"];

/// Why files in a special top-level folder are not moved, or `None` for any other folder.
/// `Archive/` is not special: archived photos are the user's photos, hidden from the main
/// view only.
pub fn special_folder(name: &str) -> Option<&'static str> {
    let name = nfc(name);
    let is = |list: &[&str]| {
        list.iter()
            .any(|n| n.eq_ignore_ascii_case(&name) || **n == name)
    };
    if is(TRASH) {
        Some("in Google Photos' trash; deleted photos are not moved")
    } else if is(LOCKED) {
        Some("in Google Photos' Locked Folder; private photos are not moved (copy them yourself)")
    } else if is(FAILED) {
        Some("in Google Photos' Failed Videos folder (Google could not process the upload)")
    } else {
        None
    }
}

pub fn is_root_name(name: &str) -> bool {
    let name = nfc(name);
    ROOT_NAMES.iter().any(|n| **n == name)
}

/// The date a camera or app wrote into a file name: `IMG_20161204_194948`,
/// `PXL_20231006_063000139`, `Screenshot_20220807-195908`, `Screenshot_2022-08-07-19-59-08`,
/// `IMG-20190101-WA0001` (date only). Read as UTC: the offset is unknown.
pub fn date_from_name(name: &str) -> Option<Timestamp> {
    let digits: Vec<(usize, u8)> = name.bytes().enumerate().collect();
    let is_digit = |i: usize| digits.get(i).is_some_and(|(_, b)| b.is_ascii_digit());
    let mut i = 0;
    while i < digits.len() {
        // A run of digits that starts here.
        if !is_digit(i) || (i > 0 && is_digit(i - 1)) {
            i += 1;
            continue;
        }
        let run = (i..).take_while(|&j| is_digit(j)).count();
        let text = name.get(i..)?;
        let found = if run == 8 {
            compact(text)
        } else if run == 4 {
            dashed(text)
        } else {
            None
        };
        if found.is_some() {
            return found;
        }
        i += run;
    }
    None
}

fn num(s: &str, from: usize, len: usize) -> Option<u32> {
    let part = s.get(from..from + len)?;
    if !part.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    part.parse().ok()
}

fn sep(s: &str, at: usize) -> bool {
    matches!(s.as_bytes().get(at), Some(b'_' | b'-' | b' ' | b'T' | b'.'))
}

fn make(y: u32, mo: u32, d: u32, time: Option<(u32, u32, u32)>) -> Option<Timestamp> {
    if !(1990..=2100).contains(&y) {
        return None;
    }
    let month = Month::try_from(u8::try_from(mo).ok()?).ok()?;
    let date =
        Date::from_calendar_date(i32::try_from(y).ok()?, month, u8::try_from(d).ok()?).ok()?;
    let time = match time {
        Some((h, m, s)) => Time::from_hms(
            u8::try_from(h).ok()?,
            u8::try_from(m).ok()?,
            u8::try_from(s).ok()?,
        )
        .ok()?,
        None => Time::MIDNIGHT,
    };
    Some(Timestamp::from_local(
        PrimitiveDateTime::new(date, time),
        None,
    ))
}

/// `YYYYMMDD`, then maybe a separator and `HHMMSS`.
fn compact(s: &str) -> Option<Timestamp> {
    let (y, mo, d) = (num(s, 0, 4)?, num(s, 4, 2)?, num(s, 6, 2)?);
    let time = if sep(s, 8) {
        match (num(s, 9, 2), num(s, 11, 2), num(s, 13, 2)) {
            (Some(h), Some(m), Some(sec)) => Some((h, m, sec)),
            _ => None,
        }
    } else {
        None
    };
    // A time that is not a valid time: the date alone.
    make(y, mo, d, time).or_else(|| make(y, mo, d, None))
}

/// `YYYY-MM-DD`, then maybe a separator and `HH-MM-SS` (or with dots or colons).
fn dashed(s: &str) -> Option<Timestamp> {
    if !(sep(s, 4) && sep(s, 7)) {
        return None;
    }
    let (y, mo, d) = (num(s, 0, 4)?, num(s, 5, 2)?, num(s, 8, 2)?);
    let time = if sep(s, 10) {
        let b = s.as_bytes();
        let joiner = |at: usize| matches!(b.get(at), Some(b'-' | b'.' | b':'));
        match (num(s, 11, 2), num(s, 14, 2), num(s, 17, 2)) {
            (Some(h), Some(m), Some(sec)) if joiner(13) && joiner(16) => Some((h, m, sec)),
            _ => None,
        }
    } else {
        None
    };
    make(y, mo, d, time).or_else(|| make(y, mo, d, None))
}

/// The date of an old date folder (`2013-04-12`), which Google grouped by day.
pub fn date_folder(name: &str) -> Option<Timestamp> {
    if name.len() != 10 {
        return None;
    }
    dashed(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unix(name: &str) -> Option<i64> {
        date_from_name(name).map(|t| t.utc.unix_timestamp())
    }

    #[test]
    fn dates_in_file_names() {
        assert_eq!(unix("IMG_20161204_194948.jpg"), Some(1_480_880_988));
        assert_eq!(unix("Screenshot_20230501-101010.jpg"), Some(1_682_935_810));
        assert_eq!(unix("PXL_20231006_063000139.jpg"), Some(1_696_573_800));
        assert_eq!(
            unix("Screenshot_2023-05-01-10-10-10.png"),
            Some(1_682_935_810)
        );
        assert_eq!(unix("IMG-20230501-WA0001.jpg"), Some(1_682_899_200));
        assert_eq!(unix("20230501_101010.mp4"), Some(1_682_935_810));
        // Facebook-style ids hold no date; a run of 8 digits inside a longer run is no date.
        assert_eq!(unix("13039_327707840323_537990323_n.jpg"), None);
        assert_eq!(unix("IMG_3479.JPG"), None);
        assert_eq!(unix("IMG_20231399_000000.jpg"), None);
        assert_eq!(
            date_folder("2013-04-12").map(|t| t.utc.unix_timestamp()),
            Some(1_365_724_800)
        );
        assert_eq!(date_folder("Photos from 2013"), None);
    }

    #[test]
    fn special_folders() {
        assert!(special_folder("Trash").is_some());
        assert!(special_folder("Papierkorb").is_some());
        assert!(special_folder("Locked Folder").is_some());
        assert!(special_folder("Archive").is_none());
        assert!(special_folder("Photos from 2023").is_none());
        assert!(is_root_name("Google Fotos"));
        assert!(is_root_name(&"Zdjęcia Google".chars().collect::<String>()));
    }
}
