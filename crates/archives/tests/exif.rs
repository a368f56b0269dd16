//! `--write-exif` output read back by a real EXIF parser (nom-exif, which the folder source
//! uses): the date with its offset and the place come back as written, and the image is intact.

use ferry_archives::exif::{add_to_jpeg, lacks_exif};
use ferry_core::model::{Location, Timestamp};
use ferry_sandbox::media::{PhotoSpec, jpeg};
use nom_exif::{ExifDateTime, ExifTag, MediaParser, MediaSource};
use time::macros::datetime;

#[test]
fn written_exif_reads_back_with_nom_exif() {
    let photo = jpeg(&PhotoSpec::new(7));
    assert!(lacks_exif(&photo), "the sandbox's plain JPEG has no EXIF");
    let taken = Timestamp::with_offset(datetime!(2019-07-14 21:30:05 -05:00));
    let place = Location::at(-33.8568, 151.2153);
    let tagged = add_to_jpeg(&photo, Some(&taken), Some(&place)).expect("a JPEG without EXIF");

    let source = MediaSource::from_memory(tagged.clone()).unwrap();
    let exif: nom_exif::Exif = MediaParser::new().parse_exif(source).unwrap().into();
    match exif
        .get(ExifTag::DateTimeOriginal)
        .and_then(|v| v.as_datetime())
    {
        Some(ExifDateTime::Aware(t)) => {
            assert_eq!(t.timestamp(), taken.utc.unix_timestamp());
            assert_eq!(t.offset().local_minus_utc(), -5 * 3600);
        }
        other => panic!("DateTimeOriginal with offset expected, got {other:?}"),
    }
    let gps = exif.gps_info().expect("GPS");
    let lat = gps.latitude.to_decimal_degrees().unwrap();
    let lon = gps.longitude.to_decimal_degrees().unwrap();
    assert!((lat - 33.8568).abs() < 1e-6 && matches!(gps.latitude_ref, nom_exif::LatRef::South));
    assert!((lon - 151.2153).abs() < 1e-6 && matches!(gps.longitude_ref, nom_exif::LonRef::East));

    // The image after the inserted segment is byte for byte the original's.
    let inserted = tagged.len() - photo.len();
    let at = tagged.windows(2).position(|w| w == [0xFF, 0xE1]).unwrap();
    assert_eq!(&tagged[..at], &photo[..at]);
    assert_eq!(&tagged[at + inserted..], &photo[at..]);
}
