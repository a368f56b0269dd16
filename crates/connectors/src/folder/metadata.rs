//! What a file is and when it was taken, read from its content.

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::time::SystemTime;

use ferry_core::{Location, MediaKind, Timestamp};
use nom_exif::{ExifTag, MediaParser, MediaSource, TrackInfoTag};
use time::{OffsetDateTime, UtcOffset};

/// How many bytes content sniffing looks at (`infer` needs at most this many).
const SNIFF_BYTES: usize = 8192;

/// Recognises a photo or video by its magic bytes, falling back to the extension when the
/// content is unknown (a truncated JPEG is still a photo someone wants to keep). `Ok(None)`:
/// not a photo or video.
pub fn kind_of(path: &Path) -> std::io::Result<Option<(MediaKind, Option<String>)>> {
    let mut head = Vec::with_capacity(SNIFF_BYTES);
    File::open(path)?
        .take(SNIFF_BYTES as u64)
        .read_to_end(&mut head)?;
    if let Some(found) = infer::get(&head) {
        return Ok(media_kind(found.mime_type()).map(|k| (k, Some(found.mime_type().to_string()))));
    }
    Ok(kind_from_extension(path))
}

pub fn kind_from_extension(path: &Path) -> Option<(MediaKind, Option<String>)> {
    let guess = mime_guess::from_path(path).first()?;
    let mime = guess.essence_str().to_string();
    media_kind(&mime).map(|k| (k, Some(mime)))
}

fn media_kind(mime: &str) -> Option<MediaKind> {
    if mime.starts_with("image/") {
        Some(MediaKind::Photo)
    } else if mime.starts_with("video/") {
        Some(MediaKind::Video)
    } else {
        None
    }
}

/// Reads the taken time and place from EXIF (photos) or the container (videos). Damaged or
/// missing metadata is not an error: the item simply has none.
pub fn read_dates(path: &Path, kind: MediaKind) -> (Option<Timestamp>, Option<Location>) {
    let Ok(source) = MediaSource::open(path) else {
        return (None, None);
    };
    let mut parser = MediaParser::new();
    match (kind, source.kind()) {
        (_, nom_exif::MediaKind::Image) => {
            let Ok(iter) = parser.parse_exif(source) else {
                return (None, None);
            };
            let exif: nom_exif::Exif = iter.into();
            let taken = [
                ExifTag::DateTimeOriginal,
                ExifTag::CreateDate,
                ExifTag::ModifyDate,
            ]
            .into_iter()
            .find_map(|tag| exif.get(tag).and_then(|v| v.as_datetime()))
            .and_then(exif_time);
            let location = exif.gps_info().and_then(gps_location);
            (taken, location)
        }
        (_, nom_exif::MediaKind::Track) => {
            let Ok(track) = parser.parse_track(source) else {
                return (None, None);
            };
            let taken = track
                .get(TrackInfoTag::CreateDate)
                .and_then(|v| v.as_datetime())
                .and_then(exif_time)
                // Containers store UTC; the offset where it was filmed is unknown.
                .map(|t| Timestamp::from_utc(t.utc))
                // An MP4 creation time of 0 (1904) means "not set".
                .filter(|t| t.utc.year() > 1970);
            let location = track.gps_info().and_then(gps_location);
            (taken, location)
        }
    }
}

fn exif_time(value: nom_exif::ExifDateTime) -> Option<Timestamp> {
    match value {
        nom_exif::ExifDateTime::Aware(t) => {
            let offset = UtcOffset::from_whole_seconds(t.offset().local_minus_utc()).ok()?;
            let utc = OffsetDateTime::from_unix_timestamp(t.timestamp()).ok()?;
            Some(Timestamp {
                utc,
                offset: Some(offset),
            })
        }
        nom_exif::ExifDateTime::Naive(t) => Timestamp::from_unix(t.and_utc().timestamp()),
    }
}

fn gps_location(gps: &nom_exif::GPSInfo) -> Option<Location> {
    let mut latitude = gps.latitude.to_decimal_degrees()?;
    let mut longitude = gps.longitude.to_decimal_degrees()?;
    if matches!(gps.latitude_ref, nom_exif::LatRef::South) {
        latitude = -latitude;
    }
    if matches!(gps.longitude_ref, nom_exif::LonRef::West) {
        longitude = -longitude;
    }
    // 0,0 is what broken writers put when they have no fix.
    if !latitude.is_finite() || !longitude.is_finite() || (latitude == 0.0 && longitude == 0.0) {
        return None;
    }
    // Seven decimals is about a centimetre: more is rounding noise from the rationals.
    let round = |v: f64| (v * 1e7).round() / 1e7;
    Some(Location {
        latitude: round(latitude),
        longitude: round(longitude),
        altitude: None,
        name: None,
    })
}

pub fn mtime(modified: std::io::Result<SystemTime>) -> Option<Timestamp> {
    let modified = modified.ok()?;
    Some(Timestamp::from_utc(OffsetDateTime::from(modified)))
}
