//! What a file is and when it was taken, read from its content.

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::time::SystemTime;

use ferry_core::{Location, MediaKind, Timestamp};
use nom_exif::{ExifTag, MediaParser, MediaSource, TrackInfoTag};
use time::{OffsetDateTime, UtcOffset};

/// How much of a file's start is read once, for both content sniffing (`infer` needs 8 KiB)
/// and EXIF, which in JPEGs sits at the start; when EXIF runs past it (a large thumbnail), the
/// file is read again by the EXIF parser.
const HEAD_BYTES: u64 = 16 * 1024;

/// What a file is, when and where it was taken.
pub struct Probe {
    pub kind: MediaKind,
    pub mime_type: Option<String>,
    pub taken: Option<Timestamp>,
    pub location: Option<Location>,
}

/// Recognises a photo or video by its magic bytes, falling back to the extension when the
/// content is unknown (a truncated JPEG is still a photo someone wants to keep), and reads its
/// dates. `Ok(None)`: not a photo or video.
pub fn probe(path: &Path) -> std::io::Result<Option<Probe>> {
    let mut head = Vec::with_capacity(HEAD_BYTES as usize);
    let file = File::open(path)?;
    #[cfg(target_os = "linux")]
    // SAFETY: advice on an open descriptor; it changes no memory. Without it the kernel reads
    // ahead 128 KiB to serve these 16: listing would read whole photos before moving any.
    unsafe {
        use std::os::fd::AsRawFd;
        libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_RANDOM);
    }
    file.take(HEAD_BYTES).read_to_end(&mut head)?;
    let found = match infer::get(&head) {
        Some(t) => MediaKind::of_mime(t.mime_type()).map(|k| (k, Some(t.mime_type().to_string()))),
        None => kind_from_extension(path),
    };
    let Some((kind, mime_type)) = found else {
        return Ok(None);
    };
    let (taken, location) = match kind {
        MediaKind::Photo => exif_from_memory(head).unwrap_or_else(|| read_dates(path)),
        MediaKind::Video => read_dates(path),
    };
    Ok(Some(Probe {
        kind,
        mime_type,
        taken,
        location,
    }))
}

pub fn kind_from_extension(path: &Path) -> Option<(MediaKind, Option<String>)> {
    let guess = mime_guess::from_path(path).first()?;
    let mime = guess.essence_str().to_string();
    MediaKind::of_mime(&mime).map(|k| (k, Some(mime)))
}

type Dates = (Option<Timestamp>, Option<Location>);

/// EXIF from the head already read; `None` when it does not parse there (EXIF further in, or
/// not an EXIF-carrying format), so that the caller reads the file.
fn exif_from_memory(head: Vec<u8>) -> Option<Dates> {
    let source = MediaSource::from_memory(head).ok()?;
    if !matches!(source.kind(), nom_exif::MediaKind::Image) {
        return None;
    }
    let iter = MediaParser::new().parse_exif(source).ok()?;
    Some(exif_dates(iter.into()))
}

/// Reads the taken time and place from EXIF (photos) or the container (videos). Damaged or
/// missing metadata is not an error: the item simply has none.
fn read_dates(path: &Path) -> Dates {
    let Ok(source) = MediaSource::open(path) else {
        return (None, None);
    };
    let mut parser = MediaParser::new();
    match source.kind() {
        nom_exif::MediaKind::Image => match parser.parse_exif(source) {
            Ok(iter) => exif_dates(iter.into()),
            Err(_) => (None, None),
        },
        nom_exif::MediaKind::Track => {
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

fn exif_dates(exif: nom_exif::Exif) -> Dates {
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
    Some(Location::at(round(latitude), round(longitude)))
}

/// A file's size and modification time to the nanosecond: what rsync's quick check and ferry's
/// re-runs take as "unchanged".
pub fn revision(meta: &std::fs::Metadata) -> Option<String> {
    let since = meta
        .modified()
        .ok()?
        .duration_since(SystemTime::UNIX_EPOCH)
        .ok()?;
    Some(format!(
        "{}:{}.{:09}",
        meta.len(),
        since.as_secs(),
        since.subsec_nanos()
    ))
}

pub fn mtime(modified: std::io::Result<SystemTime>) -> Option<Timestamp> {
    let modified = modified.ok()?;
    Some(Timestamp::from_utc(OffsetDateTime::from(modified)))
}
