//! Deterministic, valid media files for seeding emulators, tests, the demo and benchmarks.
//!
//! Photos are baseline JPEGs (encoded by `jpeg-encoder`) carrying an EXIF block written here:
//! DateTimeOriginal, OffsetTimeOriginal and GPS, the tags real cameras and phones write and that
//! ferry reads back. Videos are MP4 files holding Motion-JPEG frames (`mp4v` sample entry with
//! the JPEG object type), laid out "fast start" (moov before mdat) so that they can be streamed
//! at any size: the frames repeat, so a multi-GiB video costs a few KiB of memory.
//!
//! Everything is a pure function of its spec, so the same seed always gives the same bytes.

use bytes::{Bytes, BytesMut};
use jpeg_encoder::{ColorType, Encoder};
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

/// What a generated photo looks like and carries.
#[derive(Clone, Debug)]
pub struct PhotoSpec {
    /// Varies the pixels, so that different photos have different bytes.
    pub seed: u64,
    pub width: u16,
    pub height: u16,
    /// Local wall-clock time the photo was taken, written as EXIF DateTimeOriginal.
    pub taken: Option<PrimitiveDateTime>,
    /// Written as EXIF OffsetTimeOriginal when both it and `taken` are set.
    pub offset: Option<UtcOffset>,
    /// Latitude and longitude in degrees (south and west negative), written as EXIF GPS.
    pub gps: Option<(f64, f64)>,
    /// Pad the file with an application segment to exactly this many bytes, when it is larger
    /// than the encoded image (benchmarks want fixed sizes).
    pub pad_to: Option<usize>,
}

impl PhotoSpec {
    pub fn new(seed: u64) -> Self {
        PhotoSpec {
            seed,
            width: 64,
            height: 48,
            taken: None,
            offset: None,
            gps: None,
            pad_to: None,
        }
    }
}

/// Encodes a JPEG for `spec`.
pub fn jpeg(spec: &PhotoSpec) -> Vec<u8> {
    let pixels = pattern(spec.seed, spec.width, spec.height);
    let exif = exif_block(spec);
    let base = encode_jpeg(&pixels, spec.width, spec.height, exif.as_deref(), 0);
    match spec.pad_to {
        Some(target) if target > base.len() + 4 => encode_jpeg(
            &pixels,
            spec.width,
            spec.height,
            exif.as_deref(),
            target - base.len(),
        ),
        _ => base,
    }
}

fn encode_jpeg(pixels: &[u8], width: u16, height: u16, exif: Option<&[u8]>, pad: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(4096 + pad);
    let mut encoder = Encoder::new(&mut out, 85);
    if let Some(exif) = exif {
        // The block is far below the 64 KiB segment limit, so this cannot fail.
        let _ = encoder.add_app_segment(1, exif.to_vec());
    }
    // Each APPn segment costs 4 bytes of marker and length beside its data.
    let mut remaining = pad;
    while remaining >= 4 {
        let data = (remaining - 4).min(65533);
        let _ = encoder.add_app_segment(15, vec![0x5a; data]);
        remaining -= data + 4;
    }
    encoder
        .encode(pixels, width, height, ColorType::Rgb)
        .expect("encoding an in-memory RGB buffer of the declared size cannot fail");
    out
}

/// A deterministic RGB picture: smooth gradients whose colours depend on the seed.
fn pattern(seed: u64, width: u16, height: u16) -> Vec<u8> {
    let mut rng = SplitMix(seed);
    let (r0, g0, b0) = (rng.byte(), rng.byte(), rng.byte());
    let (w, h) = (width as usize, height as usize);
    let mut pixels = Vec::with_capacity(w * h * 3);
    for y in 0..h {
        for x in 0..w {
            pixels.push(r0.wrapping_add((x * 255 / w.max(1)) as u8));
            pixels.push(g0.wrapping_add((y * 255 / h.max(1)) as u8));
            pixels.push(b0.wrapping_add(((x + y) * 127 / (w + h).max(1)) as u8));
        }
    }
    pixels
}

/// The APP1 payload: "Exif\0\0" and a little-endian TIFF structure with IFD0 pointing at an
/// Exif IFD (dates) and a GPS IFD.
fn exif_block(spec: &PhotoSpec) -> Option<Vec<u8>> {
    if spec.taken.is_none() && spec.gps.is_none() {
        return None;
    }
    let mut exif_ifd = Vec::new();
    if let Some(taken) = spec.taken {
        exif_ifd.push(Entry::ascii(0x9003, &format_exif_time(taken)));
        if let Some(offset) = spec.offset {
            exif_ifd.push(Entry::ascii(0x9011, &format_offset(offset)));
        }
    }
    let mut gps_ifd = Vec::new();
    if let Some((lat, lon)) = spec.gps {
        gps_ifd.push(Entry::bytes(0x0000, &[2, 3, 0, 0]));
        gps_ifd.push(Entry::ascii(0x0001, if lat < 0.0 { "S" } else { "N" }));
        gps_ifd.push(Entry::rationals(0x0002, &dms(lat.abs())));
        gps_ifd.push(Entry::ascii(0x0003, if lon < 0.0 { "W" } else { "E" }));
        gps_ifd.push(Entry::rationals(0x0004, &dms(lon.abs())));
    }

    // Layout: TIFF header, IFD0, Exif IFD, GPS IFD; each IFD followed by its out-of-line values.
    // IFD0 only points at the IFDs that have something in them.
    let pointers = usize::from(!exif_ifd.is_empty()) + usize::from(!gps_ifd.is_empty());
    let exif_at = 8 + ifd_len(pointers, &[]);
    let gps_at = exif_at
        + if exif_ifd.is_empty() {
            0
        } else {
            ifd_len(exif_ifd.len(), &exif_ifd)
        };
    let mut ifd0 = Vec::new();
    if !exif_ifd.is_empty() {
        ifd0.push(Entry::long(0x8769, exif_at as u32));
    }
    if !gps_ifd.is_empty() {
        ifd0.push(Entry::long(0x8825, gps_at as u32));
    }

    let mut tiff = Vec::new();
    tiff.extend_from_slice(b"II*\0");
    tiff.extend_from_slice(&8u32.to_le_bytes());
    write_ifd(&mut tiff, &ifd0);
    for ifd in [&exif_ifd, &gps_ifd] {
        if !ifd.is_empty() {
            write_ifd(&mut tiff, ifd);
        }
    }

    let mut block = b"Exif\0\0".to_vec();
    block.extend_from_slice(&tiff);
    Some(block)
}

struct Entry {
    tag: u16,
    kind: u16,
    count: u32,
    value: Vec<u8>,
}

impl Entry {
    fn ascii(tag: u16, text: &str) -> Entry {
        let mut value = text.as_bytes().to_vec();
        value.push(0);
        Entry {
            tag,
            kind: 2,
            count: value.len() as u32,
            value,
        }
    }
    fn bytes(tag: u16, data: &[u8]) -> Entry {
        Entry {
            tag,
            kind: 1,
            count: data.len() as u32,
            value: data.to_vec(),
        }
    }
    fn long(tag: u16, n: u32) -> Entry {
        Entry {
            tag,
            kind: 4,
            count: 1,
            value: n.to_le_bytes().to_vec(),
        }
    }
    fn rationals(tag: u16, parts: &[(u32, u32)]) -> Entry {
        let value = parts
            .iter()
            .flat_map(|(n, d)| n.to_le_bytes().into_iter().chain(d.to_le_bytes()))
            .collect();
        Entry {
            tag,
            kind: 5,
            count: parts.len() as u32,
            value,
        }
    }
    /// Bytes this entry's value takes after the IFD (values of up to 4 bytes sit inline).
    fn out_of_line(&self) -> usize {
        if self.value.len() > 4 {
            self.value.len().next_multiple_of(2)
        } else {
            0
        }
    }
}

fn ifd_len(count: usize, entries: &[Entry]) -> usize {
    2 + 12 * count + 4 + entries.iter().map(Entry::out_of_line).sum::<usize>()
}

/// Appends an IFD (entries sorted by tag, as TIFF requires) and its out-of-line values.
fn write_ifd(tiff: &mut Vec<u8>, entries: &[Entry]) {
    let mut sorted: Vec<&Entry> = entries.iter().collect();
    sorted.sort_by_key(|e| e.tag);
    let mut data_at = tiff.len() + 2 + 12 * sorted.len() + 4;
    let mut data = Vec::new();
    tiff.extend_from_slice(&(sorted.len() as u16).to_le_bytes());
    for entry in &sorted {
        tiff.extend_from_slice(&entry.tag.to_le_bytes());
        tiff.extend_from_slice(&entry.kind.to_le_bytes());
        tiff.extend_from_slice(&entry.count.to_le_bytes());
        if entry.value.len() <= 4 {
            let mut inline = entry.value.clone();
            inline.resize(4, 0);
            tiff.extend_from_slice(&inline);
        } else {
            tiff.extend_from_slice(&(data_at as u32).to_le_bytes());
            data.extend_from_slice(&entry.value);
            if entry.value.len() % 2 == 1 {
                data.push(0);
            }
            data_at += entry.out_of_line();
        }
    }
    tiff.extend_from_slice(&0u32.to_le_bytes()); // no next IFD
    tiff.extend_from_slice(&data);
}

fn format_exif_time(t: PrimitiveDateTime) -> String {
    format!(
        "{:04}:{:02}:{:02} {:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

fn format_offset(offset: UtcOffset) -> String {
    let (h, m, _) = offset.as_hms();
    let sign = if offset.is_negative() { '-' } else { '+' };
    format!("{sign}{:02}:{:02}", h.unsigned_abs(), m.unsigned_abs())
}

/// Degrees as EXIF degrees/minutes/seconds rationals (seconds to 1/1000).
fn dms(degrees: f64) -> [(u32, u32); 3] {
    let d = degrees.trunc();
    let minutes = (degrees - d) * 60.0;
    let m = minutes.trunc();
    let s = ((minutes - m) * 60.0 * 1000.0).round();
    [(d as u32, 1), (m as u32, 1), (s as u32, 1000)]
}

/// What a generated video looks like and carries.
#[derive(Clone, Debug)]
pub struct VideoSpec {
    pub seed: u64,
    /// Total file size in bytes; the file is exactly this long unless it is smaller than the
    /// smallest possible video (a header and one frame), which is then what it is.
    pub size: u64,
    /// Written as the movie's creation time (mvhd, tkhd and mdhd).
    pub created: Option<OffsetDateTime>,
    pub width: u16,
    pub height: u16,
}

impl VideoSpec {
    pub fn new(seed: u64, size: u64) -> Self {
        VideoSpec {
            seed,
            size,
            created: None,
            width: 160,
            height: 120,
        }
    }
}

const FPS: u32 = 30;
/// Frames are handed out in blocks of about this size, so that streaming moves few large chunks.
const BLOCK_BYTES: usize = 256 * 1024;

/// A streamable MP4: its exact length is known before the first byte.
pub struct Mp4 {
    header: Bytes,
    block: Bytes,
    frames_per_block: u64,
    frame: Bytes,
    frames: u64,
}

impl Mp4 {
    pub fn new(spec: &VideoSpec) -> Mp4 {
        let mut photo = PhotoSpec::new(spec.seed);
        photo.width = spec.width;
        photo.height = spec.height;
        let frame = Bytes::from(jpeg(&photo));
        let frame_len = frame.len() as u64;

        // The header's size does not depend on the frame count, so size it once with zero.
        let probe = header(spec, 0, frame_len, 0);
        let room = spec.size.saturating_sub(probe.len() as u64);
        let mut frames = (room / frame_len).max(1);
        let mut padding = spec
            .size
            .saturating_sub(probe.len() as u64 + frames * frame_len);
        // A `free` box needs at least its 8-byte header.
        if padding > 0 && padding < 8 {
            if frames > 1 {
                frames -= 1;
                padding += frame_len;
            } else {
                padding = 0;
            }
        }
        let header = header(spec, frames, frame_len, padding);

        let frames_per_block = (BLOCK_BYTES as u64 / frame_len).max(1);
        let mut block = BytesMut::with_capacity((frames_per_block * frame_len) as usize);
        for _ in 0..frames_per_block {
            block.extend_from_slice(&frame);
        }
        Mp4 {
            header,
            block: block.freeze(),
            frames_per_block,
            frame,
            frames,
        }
    }

    /// The file's exact length in bytes.
    pub fn len(&self) -> u64 {
        self.header.len() as u64 + self.frames * self.frame.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    /// The file as a sequence of chunks (cheap clones of a few shared buffers).
    pub fn chunks(&self) -> impl Iterator<Item = Bytes> + Send + 'static {
        let header = self.header.clone();
        let block = self.block.clone();
        let frame = self.frame.clone();
        let (per_block, frames) = (self.frames_per_block, self.frames);
        let full_blocks = frames / per_block;
        let tail = frames % per_block;
        std::iter::once(header)
            .chain(std::iter::repeat_n(block, full_blocks as usize))
            .chain(std::iter::repeat_n(frame, tail as usize))
    }

    /// The whole file in memory (for small videos and tests).
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len() as usize);
        for chunk in self.chunks() {
            out.extend_from_slice(&chunk);
        }
        out
    }
}

/// Seconds between the MP4 epoch (1904-01-01) and the Unix epoch.
const MP4_EPOCH_OFFSET: i64 = 2_082_844_800;

/// ftyp, optional free padding, moov, and the mdat header; the frames follow.
fn header(spec: &VideoSpec, frames: u64, frame_len: u64, padding: u64) -> Bytes {
    let created = spec
        .created
        .map(|t| (t.unix_timestamp() + MP4_EPOCH_OFFSET).clamp(0, u32::MAX as i64) as u32)
        .unwrap_or(0);
    let duration = frames as u32;

    let ftyp = mp4_box(
        b"ftyp",
        &[
            b"isom".as_slice(),
            &0x200u32.to_be_bytes(),
            b"isom",
            b"iso2",
            b"mp41",
        ]
        .concat(),
    );
    let free = if padding >= 8 {
        let mut b = (padding as u32).to_be_bytes().to_vec();
        b.extend_from_slice(b"free");
        b.resize(padding as usize, 0);
        b
    } else {
        Vec::new()
    };

    let matrix: Vec<u8> = [0x0001_0000u32, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000]
        .iter()
        .flat_map(|v| v.to_be_bytes())
        .collect();

    let mut mvhd = full_box_head(0, 0);
    for v in [created, created, FPS, duration, 0x0001_0000] {
        mvhd.extend_from_slice(&v.to_be_bytes());
    }
    mvhd.extend_from_slice(&0x0100u16.to_be_bytes()); // volume
    mvhd.extend_from_slice(&[0; 10]);
    mvhd.extend_from_slice(&matrix);
    mvhd.extend_from_slice(&[0; 24]); // pre_defined
    mvhd.extend_from_slice(&2u32.to_be_bytes()); // next track id

    let mut tkhd = full_box_head(0, 3); // enabled, in movie
    for v in [created, created, 1, 0, duration] {
        tkhd.extend_from_slice(&v.to_be_bytes());
    }
    tkhd.extend_from_slice(&[0; 8]);
    tkhd.extend_from_slice(&[0; 4]); // layer, alternate group
    tkhd.extend_from_slice(&[0; 4]); // volume, reserved
    tkhd.extend_from_slice(&matrix);
    tkhd.extend_from_slice(&((spec.width as u32) << 16).to_be_bytes());
    tkhd.extend_from_slice(&((spec.height as u32) << 16).to_be_bytes());

    let mut mdhd = full_box_head(0, 0);
    for v in [created, created, FPS, duration] {
        mdhd.extend_from_slice(&v.to_be_bytes());
    }
    mdhd.extend_from_slice(&0x55c4u16.to_be_bytes()); // language "und"
    mdhd.extend_from_slice(&[0; 2]);

    let mut hdlr = full_box_head(0, 0);
    hdlr.extend_from_slice(&[0; 4]);
    hdlr.extend_from_slice(b"vide");
    hdlr.extend_from_slice(&[0; 12]);
    hdlr.extend_from_slice(b"VideoHandler\0");

    let mut vmhd = full_box_head(0, 1);
    vmhd.extend_from_slice(&[0; 8]);

    let mut url = full_box_head(0, 1); // data is in this file
    url.truncate(4);
    let mut dref = full_box_head(0, 0);
    dref.extend_from_slice(&1u32.to_be_bytes());
    dref.extend_from_slice(&mp4_box(b"url ", &url));

    // MPEG-4 sample entry whose decoder config names JPEG (object type 0x6C): Motion JPEG.
    let mut esds = full_box_head(0, 0);
    let decoder_config = [
        &[0x6c, 0x11][..],           // object type JPEG, stream type visual
        &[0, 0, 0],                  // buffer size
        &4_000_000u32.to_be_bytes(), // max bitrate
        &4_000_000u32.to_be_bytes(), // average bitrate
    ]
    .concat();
    let sl_config = [0x06, 0x01, 0x02];
    let mut es = vec![0x00, 0x01, 0x00]; // ES id 1, no flags
    es.push(0x04);
    es.push(decoder_config.len() as u8);
    es.extend_from_slice(&decoder_config);
    es.extend_from_slice(&sl_config);
    esds.push(0x03);
    esds.push(es.len() as u8);
    esds.extend_from_slice(&es);

    let mut mp4v = vec![0; 6];
    mp4v.extend_from_slice(&1u16.to_be_bytes()); // data reference index
    mp4v.extend_from_slice(&[0; 16]);
    mp4v.extend_from_slice(&spec.width.to_be_bytes());
    mp4v.extend_from_slice(&spec.height.to_be_bytes());
    mp4v.extend_from_slice(&0x0048_0000u32.to_be_bytes());
    mp4v.extend_from_slice(&0x0048_0000u32.to_be_bytes());
    mp4v.extend_from_slice(&[0; 4]);
    mp4v.extend_from_slice(&1u16.to_be_bytes()); // frames per sample
    let mut compressor = [0u8; 32];
    compressor[0] = 10;
    compressor[1..11].copy_from_slice(b"ferry mjpg");
    mp4v.extend_from_slice(&compressor);
    mp4v.extend_from_slice(&0x0018u16.to_be_bytes());
    mp4v.extend_from_slice(&(-1i16).to_be_bytes());
    mp4v.extend_from_slice(&mp4_box(b"esds", &esds));

    let mut stsd = full_box_head(0, 0);
    stsd.extend_from_slice(&1u32.to_be_bytes());
    stsd.extend_from_slice(&mp4_box(b"mp4v", &mp4v));

    let table = |entries: &[u32]| {
        let mut b = full_box_head(0, 0);
        for e in entries {
            b.extend_from_slice(&e.to_be_bytes());
        }
        b
    };
    let stts = table(&[1, frames as u32, 1]);
    let stsc = table(&[1, 1, frames as u32, 1]);
    let stsz = table(&[frame_len as u32, frames as u32]);

    // The one chunk starts right after the mdat header, whose offset we know once moov is built;
    // build moov with a placeholder offset first (its size does not depend on the value).
    let build_moov = |chunk_offset: u32| {
        let stco = table(&[1, chunk_offset]);
        let stbl = [
            mp4_box(b"stsd", &stsd),
            mp4_box(b"stts", &stts),
            mp4_box(b"stsc", &stsc),
            mp4_box(b"stsz", &stsz),
            mp4_box(b"stco", &stco),
        ]
        .concat();
        let minf = [
            mp4_box(b"vmhd", &vmhd),
            mp4_box(b"dinf", &mp4_box(b"dref", &dref)),
            mp4_box(b"stbl", &stbl),
        ]
        .concat();
        let mdia = [
            mp4_box(b"mdhd", &mdhd),
            mp4_box(b"hdlr", &hdlr),
            mp4_box(b"minf", &minf),
        ]
        .concat();
        let trak = [mp4_box(b"tkhd", &tkhd), mp4_box(b"mdia", &mdia)].concat();
        mp4_box(
            b"moov",
            &[mp4_box(b"mvhd", &mvhd), mp4_box(b"trak", &trak)].concat(),
        )
    };

    let payload = frames * frame_len;
    let large = payload + 8 > u32::MAX as u64;
    let mdat_head_len = if large { 16 } else { 8 };
    let moov_len = build_moov(0).len();
    let chunk_offset = (ftyp.len() + free.len() + moov_len + mdat_head_len) as u32;
    let moov = build_moov(chunk_offset);

    let mut out = BytesMut::new();
    out.extend_from_slice(&ftyp);
    out.extend_from_slice(&free);
    out.extend_from_slice(&moov);
    if large {
        out.extend_from_slice(&1u32.to_be_bytes());
        out.extend_from_slice(b"mdat");
        out.extend_from_slice(&(payload + 16).to_be_bytes());
    } else {
        out.extend_from_slice(&((payload + 8) as u32).to_be_bytes());
        out.extend_from_slice(b"mdat");
    }
    out.freeze()
}

fn mp4_box(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(body.len() + 8);
    b.extend_from_slice(&((body.len() + 8) as u32).to_be_bytes());
    b.extend_from_slice(kind);
    b.extend_from_slice(body);
    b
}

fn full_box_head(version: u8, flags: u32) -> Vec<u8> {
    let mut b = vec![version];
    b.extend_from_slice(&flags.to_be_bytes()[1..]);
    b
}

/// A tiny deterministic generator (SplitMix64): seeds must give the same media on every
/// machine and every version of the `rand` crate.
pub struct SplitMix(pub u64);

impl SplitMix {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn byte(&mut self) -> u8 {
        (self.next_u64() >> 56) as u8
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{datetime, offset};

    #[test]
    fn jpeg_is_deterministic_and_padded_exactly() {
        let mut spec = PhotoSpec::new(7);
        spec.taken = Some(datetime!(2021-06-05 14:03:09));
        spec.offset = Some(offset!(+02:00));
        spec.gps = Some((48.8584, 2.2945));
        let a = jpeg(&spec);
        assert_eq!(a, jpeg(&spec));
        assert_eq!(&a[..2], &[0xff, 0xd8]);
        assert_eq!(&a[a.len() - 2..], &[0xff, 0xd9]);
        assert!(a.windows(19).any(|w| w == b"2021:06:05 14:03:09"));
        spec.pad_to = Some(100 * 1024);
        assert_eq!(jpeg(&spec).len(), 100 * 1024);
        assert_ne!(jpeg(&PhotoSpec::new(1)), jpeg(&PhotoSpec::new(2)));
    }

    #[test]
    fn mp4_has_the_requested_length_and_structure() {
        for size in [1u64, 5_000, 300_001, 3 * 1024 * 1024 + 5] {
            let mut spec = VideoSpec::new(3, size);
            spec.created = Some(datetime!(2020-01-02 03:04:05 UTC));
            let mp4 = Mp4::new(&spec);
            let bytes = mp4.to_vec();
            assert_eq!(bytes.len() as u64, mp4.len());
            if size > 5_000 {
                assert_eq!(mp4.len(), size);
            }
            assert_eq!(&bytes[4..8], b"ftyp");
            // Walk the top-level boxes: they must tile the file exactly.
            let mut at = 0usize;
            let mut kinds = Vec::new();
            while at < bytes.len() {
                let len = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
                kinds.push(String::from_utf8_lossy(&bytes[at + 4..at + 8]).to_string());
                at += len;
            }
            assert_eq!(at, bytes.len());
            assert_eq!(kinds.last().map(String::as_str), Some("mdat"));
            assert!(kinds.contains(&"moov".to_string()));
        }
    }
}
