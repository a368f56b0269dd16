//! Writing the date and place an export knows into a JPEG that carries none (`--write-exif`).
//!
//! Meta strips EXIF from every photo it serves, so a photo from an Instagram or Facebook export
//! knows its date only from the export's JSON. Folder-like destinations keep that date as the
//! file time, but Google Photos dates a photo by its EXIF alone, and file times are lost on the
//! next copy. With `--write-exif` ferry adds a minimal EXIF block (DateTimeOriginal with its
//! offset, and GPS) to JPEGs that have no EXIF at all. Photos that already carry EXIF are never
//! touched: their camera's record beats the export's. It changes the bytes, so it is opt-in.
//!
//! The block is written by hand rather than with an EXIF-writing crate: it is a few fixed tags,
//! and inserting one APP1 segment after the JPEG's start needs no re-encoding.

use ferry_core::model::{Location, Timestamp};
use time::UtcOffset;

/// Whether `jpeg` is a JPEG with no EXIF segment before its image data.
pub fn lacks_exif(jpeg: &[u8]) -> bool {
    segments(jpeg).is_some_and(|segs| !segs.iter().any(|s| s.is_exif))
}

/// The JPEG with an EXIF block holding `taken` and `location` added, or `None` when the bytes
/// are not a JPEG, already carry EXIF, or there is nothing to write (a place without
/// coordinates has nothing for GPS tags).
pub fn add_to_jpeg(
    jpeg: &[u8],
    taken: Option<&Timestamp>,
    location: Option<&Location>,
) -> Option<Vec<u8>> {
    let location = location.filter(|l| l.coordinates().is_some());
    if taken.is_none() && location.is_none() {
        return None;
    }
    let segs = segments(jpeg)?;
    if segs.iter().any(|s| s.is_exif) {
        return None;
    }
    let tiff = tiff_block(taken, location);
    let app1_len = 2 + 6 + tiff.len();
    let app1_len = u16::try_from(app1_len).ok()?;
    // After a leading JFIF APP0 (JFIF readers want it first), else right after SOI.
    let at = segs
        .first()
        .filter(|s| s.marker == 0xE0)
        .map_or(2, |s| s.end);
    let mut out = Vec::with_capacity(jpeg.len() + app1_len as usize + 2);
    out.extend_from_slice(jpeg.get(..at)?);
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&app1_len.to_be_bytes());
    out.extend_from_slice(b"Exif\0\0");
    out.extend_from_slice(&tiff);
    out.extend_from_slice(jpeg.get(at..)?);
    Some(out)
}

/// How many bytes [`add_to_jpeg`] adds for these values (the size is known before reading).
pub fn added_len(taken: Option<&Timestamp>, location: Option<&Location>) -> u64 {
    let location = location.filter(|l| l.coordinates().is_some());
    if taken.is_none() && location.is_none() {
        return 0;
    }
    (4 + 6 + tiff_block(taken, location).len()) as u64
}

struct Segment {
    marker: u8,
    end: usize,
    is_exif: bool,
}

/// The marker segments before the image data; `None` when this is not a JPEG.
fn segments(jpeg: &[u8]) -> Option<Vec<Segment>> {
    if jpeg.get(..2)? != [0xFF, 0xD8] {
        return None;
    }
    let mut out = Vec::new();
    let mut at = 2usize;
    while let (Some(&0xFF), Some(&marker)) = (jpeg.get(at), jpeg.get(at + 1)) {
        // Start of scan or end of image: the headers are over.
        if marker == 0xDA || marker == 0xD9 {
            break;
        }
        let len = u16::from_be_bytes([*jpeg.get(at + 2)?, *jpeg.get(at + 3)?]) as usize;
        if len < 2 {
            return None;
        }
        let end = at.checked_add(2 + len)?;
        let body = jpeg.get(at + 4..end.min(jpeg.len()))?;
        out.push(Segment {
            marker,
            end,
            is_exif: marker == 0xE1 && body.starts_with(b"Exif\0\0"),
        });
        at = end;
    }
    Some(out)
}

// TIFF field types.
const BYTE: u16 = 1;
const ASCII: u16 = 2;
const LONG: u16 = 4;
const RATIONAL: u16 = 5;

struct Entry {
    tag: u16,
    kind: u16,
    count: u32,
    data: Vec<u8>,
}

fn ascii(tag: u16, text: &str) -> Entry {
    let mut data = text.as_bytes().to_vec();
    data.push(0);
    Entry {
        tag,
        kind: ASCII,
        count: data.len() as u32,
        data,
    }
}

fn rationals(tag: u16, values: &[(u32, u32)]) -> Entry {
    let mut data = Vec::with_capacity(values.len() * 8);
    for (n, d) in values {
        data.extend_from_slice(&n.to_be_bytes());
        data.extend_from_slice(&d.to_be_bytes());
    }
    Entry {
        tag,
        kind: RATIONAL,
        count: values.len() as u32,
        data,
    }
}

/// Degrees as degrees, minutes and seconds to 1/10000 s (about 3 mm).
fn dms(degrees: f64) -> [(u32, u32); 3] {
    let d = degrees.abs();
    let whole = d.trunc();
    let minutes = ((d - whole) * 60.0).trunc();
    let seconds = ((d - whole) * 60.0 - minutes) * 60.0;
    [
        (whole as u32, 1),
        (minutes as u32, 1),
        ((seconds * 10_000.0).round() as u32, 10_000),
    ]
}

fn exif_entries(taken: &Timestamp) -> Vec<Entry> {
    // The wall-clock time where it was taken, with that offset; when the offset is unknown the
    // time is written in UTC and says so, rather than passing UTC off as local time.
    let offset = taken.offset.unwrap_or(UtcOffset::UTC);
    let local = taken.utc.to_offset(offset);
    let stamp = format!(
        "{:04}:{:02}:{:02} {:02}:{:02}:{:02}",
        local.year(),
        u8::from(local.month()),
        local.day(),
        local.hour(),
        local.minute(),
        local.second()
    );
    let (h, m, _) = offset.as_hms();
    let sign = if offset.is_negative() { '-' } else { '+' };
    let offset_text = format!("{sign}{:02}:{:02}", h.unsigned_abs(), m.unsigned_abs());
    vec![
        ascii(0x9003, &stamp),       // DateTimeOriginal
        ascii(0x9011, &offset_text), // OffsetTimeOriginal
    ]
}

fn gps_entries(at: &Location) -> Vec<Entry> {
    let (latitude, longitude) = at.coordinates().unwrap_or_default();
    let mut entries = vec![
        Entry {
            tag: 0x0000, // GPSVersionID 2.3.0.0
            kind: BYTE,
            count: 4,
            data: vec![2, 3, 0, 0],
        },
        ascii(0x0001, if latitude < 0.0 { "S" } else { "N" }),
        rationals(0x0002, &dms(latitude)),
        ascii(0x0003, if longitude < 0.0 { "W" } else { "E" }),
        rationals(0x0004, &dms(longitude)),
    ];
    if let Some(altitude) = at.altitude.filter(|a| a.is_finite()) {
        entries.push(Entry {
            tag: 0x0005, // GPSAltitudeRef: 1 = below sea level
            kind: BYTE,
            count: 1,
            data: vec![u8::from(altitude < 0.0)],
        });
        entries.push(rationals(
            0x0006,
            &[((altitude.abs() * 100.0).round() as u32, 100)],
        ));
    }
    entries
}

/// Appends an IFD at `out.len()` (offsets are from the TIFF header, which starts `out`).
fn write_ifd(out: &mut Vec<u8>, entries: &[Entry]) {
    let start = out.len();
    let table = 2 + entries.len() * 12 + 4;
    let mut data_at = start + table;
    let mut data = Vec::new();
    out.extend_from_slice(&(entries.len() as u16).to_be_bytes());
    for e in entries {
        out.extend_from_slice(&e.tag.to_be_bytes());
        out.extend_from_slice(&e.kind.to_be_bytes());
        out.extend_from_slice(&e.count.to_be_bytes());
        if e.data.len() <= 4 {
            let mut inline = [0u8; 4];
            inline[..e.data.len()].copy_from_slice(&e.data);
            out.extend_from_slice(&inline);
        } else {
            out.extend_from_slice(&(data_at as u32).to_be_bytes());
            data.extend_from_slice(&e.data);
            // Values start on word boundaries.
            if e.data.len() % 2 == 1 {
                data.push(0);
            }
            data_at = start + table + data.len();
        }
    }
    out.extend_from_slice(&0u32.to_be_bytes()); // no next IFD
    out.extend_from_slice(&data);
}

fn ifd_len(entries: &[Entry]) -> usize {
    2 + entries.len() * 12
        + 4
        + entries
            .iter()
            .filter(|e| e.data.len() > 4)
            .map(|e| e.data.len() + e.data.len() % 2)
            .sum::<usize>()
}

/// A big-endian TIFF block: IFD0 pointing at an Exif IFD (the date) and a GPS IFD (the place).
fn tiff_block(taken: Option<&Timestamp>, location: Option<&Location>) -> Vec<u8> {
    let exif = taken.map(exif_entries);
    let gps = location.map(gps_entries);
    let pointers = usize::from(exif.is_some()) + usize::from(gps.is_some());
    let ifd0_len = 2 + pointers * 12 + 4;
    let exif_at = 8 + ifd0_len;
    let gps_at = exif_at + exif.as_deref().map_or(0, ifd_len);

    let mut out = b"MM\0\x2A\0\0\0\x08".to_vec();
    let mut ifd0 = Vec::new();
    if exif.is_some() {
        ifd0.push(Entry {
            tag: 0x8769, // ExifIFDPointer
            kind: LONG,
            count: 1,
            data: (exif_at as u32).to_be_bytes().to_vec(),
        });
    }
    if gps.is_some() {
        ifd0.push(Entry {
            tag: 0x8825, // GPSInfoIFDPointer
            kind: LONG,
            count: 1,
            data: (gps_at as u32).to_be_bytes().to_vec(),
        });
    }
    write_ifd(&mut out, &ifd0);
    if let Some(entries) = &exif {
        write_ifd(&mut out, entries);
    }
    if let Some(entries) = &gps {
        write_ifd(&mut out, entries);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn bare_jpeg() -> Vec<u8> {
        // SOI, a JFIF APP0, then a stand-in for the image data (SOS … EOI).
        let mut j = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10];
        j.extend_from_slice(b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0");
        j.extend_from_slice(&[0xFF, 0xDA, 0x00, 0x02, 1, 2, 3, 0xFF, 0xD9]);
        j
    }

    #[test]
    fn a_date_and_place_are_added_after_the_jfif_header_and_read_back() {
        let taken = Timestamp::with_offset(datetime!(2021-06-05 14:03:09 +02:00));
        let place = Location {
            altitude: Some(35.0),
            ..Location::at(48.8584, -2.2945)
        };
        let jpeg = bare_jpeg();
        assert!(lacks_exif(&jpeg));
        let out = add_to_jpeg(&jpeg, Some(&taken), Some(&place)).unwrap();
        assert_eq!(
            out.len() as u64,
            jpeg.len() as u64 + added_len(Some(&taken), Some(&place))
        );
        assert!(!lacks_exif(&out));
        assert_eq!(&out[..20], &jpeg[..20], "SOI and APP0 stay first");
        assert_eq!(&out[20..22], &[0xFF, 0xE1]);
        assert!(out.ends_with(&jpeg[20..]), "the image data is unchanged");
        let text = String::from_utf8_lossy(&out);
        assert!(text.contains("2021:06:05 14:03:09"), "local wall time");
        assert!(text.contains("+02:00"));
        // Never twice.
        assert!(add_to_jpeg(&out, Some(&taken), None).is_none());
    }

    #[test]
    fn nothing_is_written_to_non_jpegs_or_without_values() {
        let taken = Timestamp::from_utc(datetime!(2020-01-01 0:00 UTC));
        assert!(add_to_jpeg(b"\x89PNG\r\n", Some(&taken), None).is_none());
        assert!(add_to_jpeg(&bare_jpeg(), None, None).is_none());
        assert!(add_to_jpeg(&[0xFF, 0xD8, 0xFF, 0xE0, 0x00], Some(&taken), None).is_none());
    }

    #[test]
    fn degrees_become_degrees_minutes_seconds() {
        assert_eq!(dms(48.8584), [(48, 1), (51, 1), (302_400, 10_000)]);
        assert_eq!(dms(-0.5), [(0, 1), (30, 1), (0, 10_000)]);
    }
}
