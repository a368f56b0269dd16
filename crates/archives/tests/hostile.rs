//! Hostile export archives, end to end through the public API: every one must give a clear
//! one-line error, or leave the entry out with its reason in `ArchiveFs::skipped`. Never a
//! panic, never a path that leaves the root, never memory in proportion to what a header lies
//! about.
//!
//! The zips are written by hand (a few dozen lines below) rather than with the `zip` crate's
//! writer, because the point is to write what no honest writer would: names with `..`, sizes
//! that lie, encryption flags without encryption.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ferry_archives::{ArchiveFs, Limits, NameDecoding, ReadError, safe_entry_path};
use futures::StreamExt;

// ---------------------------------------------------------------------------------------------
// Per-thread allocation accounting, to show that a lying header costs no memory. Tests run on
// several threads at once, so a process-wide figure would mix them up.

struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn account(delta: isize) {
    // `try_with`: the thread's slots may already be gone while it exits.
    let _ = LIVE.try_with(|live| {
        let now = live.get() + delta;
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        account(layout.size() as isize);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        account(-(layout.size() as isize));
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        account(new_size as isize - layout.size() as isize);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `f` and returns its result with the most memory this thread held above its starting
/// point while it ran.
fn peak_allocation<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let start = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(start));
    let out = f();
    let peak = PEAK.with(Cell::get);
    (out, (peak - start).max(0) as usize)
}

// ---------------------------------------------------------------------------------------------
// A zip writer that writes whatever it is told.

const MIB: usize = 1 << 20;
const S_IFLNK: u32 = 0o120_000;

#[derive(Clone)]
struct Entry {
    name: Vec<u8>,
    data: Vec<u8>,
    deflate: bool,
    /// General-purpose flags (bit 0: encrypted).
    flags: u16,
    /// Unix mode, written to the upper half of the external attributes.
    unix_mode: u32,
    /// The uncompressed size to declare instead of the true one.
    declared_size: Option<u32>,
}

fn entry(name: impl AsRef<[u8]>, data: impl AsRef<[u8]>) -> Entry {
    Entry {
        name: name.as_ref().to_vec(),
        data: data.as_ref().to_vec(),
        deflate: false,
        flags: 0,
        unix_mode: 0o100_644,
        declared_size: None,
    }
}

fn deflated(name: impl AsRef<[u8]>, data: impl AsRef<[u8]>) -> Entry {
    Entry {
        deflate: true,
        ..entry(name, data)
    }
}

/// The written zip, with where each entry's (compressed) data starts and how long it is.
struct Built {
    bytes: Vec<u8>,
    data_offsets: Vec<usize>,
    data_lengths: Vec<usize>,
}

fn build(entries: &[Entry]) -> Built {
    let mut out = Vec::new();
    let mut central = Vec::new();
    let mut data_offsets = Vec::new();
    let mut data_lengths = Vec::new();
    for e in entries {
        let crc = crc32fast::hash(&e.data);
        let (method, body): (u16, Vec<u8>) = if e.deflate {
            let mut enc =
                flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
            enc.write_all(&e.data).unwrap();
            (8, enc.finish().unwrap())
        } else {
            (0, e.data.clone())
        };
        let size = e
            .declared_size
            .unwrap_or(u32::try_from(e.data.len()).unwrap());
        let csize = u32::try_from(body.len()).unwrap();
        let name_len = u16::try_from(e.name.len()).unwrap();
        let offset = u32::try_from(out.len()).unwrap();
        // Local file header.
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        out.extend_from_slice(&20u16.to_le_bytes());
        out.extend_from_slice(&e.flags.to_le_bytes());
        out.extend_from_slice(&method.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes()); // time
        out.extend_from_slice(&0x21u16.to_le_bytes()); // date: 1980-01-01
        out.extend_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(&csize.to_le_bytes());
        out.extend_from_slice(&size.to_le_bytes());
        out.extend_from_slice(&name_len.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes()); // extra
        out.extend_from_slice(&e.name);
        data_offsets.push(out.len());
        data_lengths.push(body.len());
        out.extend_from_slice(&body);
        // Central directory record.
        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        central.extend_from_slice(&(3u16 << 8 | 20).to_le_bytes()); // made by: Unix
        central.extend_from_slice(&20u16.to_le_bytes());
        central.extend_from_slice(&e.flags.to_le_bytes());
        central.extend_from_slice(&method.to_le_bytes());
        central.extend_from_slice(&0u16.to_le_bytes());
        central.extend_from_slice(&0x21u16.to_le_bytes());
        central.extend_from_slice(&crc.to_le_bytes());
        central.extend_from_slice(&csize.to_le_bytes());
        central.extend_from_slice(&size.to_le_bytes());
        central.extend_from_slice(&name_len.to_le_bytes());
        central.extend_from_slice(&[0; 8]); // extra, comment, disk, internal attributes
        central.extend_from_slice(&(e.unix_mode << 16).to_le_bytes());
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(&e.name);
    }
    let cd_offset = u32::try_from(out.len()).unwrap();
    let count = u16::try_from(entries.len()).unwrap();
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0; 4]); // disk numbers
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&u32::try_from(central.len()).unwrap().to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    Built {
        bytes: out,
        data_offsets,
        data_lengths,
    }
}

fn write_zip(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn open(dir: &Path, entries: &[Entry], limits: Limits) -> Result<ArchiveFs, String> {
    let path = write_zip(dir, "export.zip", &build(entries).bytes);
    ArchiveFs::open(&[path], limits).map_err(|e| e.to_string())
}

fn one_line(message: &str) {
    assert!(!message.is_empty(), "empty message");
    assert!(
        !message.contains('\n'),
        "message is not one line: {message:?}"
    );
}

/// Every accepted path is relative, normalised, and stays under any root it is joined to.
fn assert_paths_stay_inside(fs: &ArchiveFs) {
    let root = Path::new("/srv/ferry/extract");
    for (path, _) in fs.files() {
        let safe = safe_entry_path(path.as_bytes()).expect("an indexed path is a safe path");
        assert_eq!(safe.as_str(), path);
        let joined = safe.join_under(root);
        assert!(joined.starts_with(root), "{path} left the root");
        assert!(
            joined
                .strip_prefix(root)
                .unwrap()
                .components()
                .all(|c| matches!(c, std::path::Component::Normal(_))),
            "{path}"
        );
    }
}

fn skipped_reason<'a>(fs: &'a ArchiveFs, id_suffix: &str) -> &'a str {
    let found = fs
        .skipped()
        .iter()
        .find(|s| s.id.ends_with(id_suffix))
        .unwrap_or_else(|| panic!("{id_suffix:?} is not in skipped: {:?}", fs.skipped()));
    one_line(&found.reason);
    &found.reason
}

fn read_all(fs: &ArchiveFs, path: &str) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    fs.reader(path)?.read_to_end(&mut out)?;
    Ok(out)
}

/// Reads through `reader` into nothing, so that only the reader's own memory counts.
fn drain(fs: &ArchiveFs, path: &str) -> io::Result<u64> {
    io::copy(&mut fs.reader(path)?, &mut io::sink())
}

/// What `ferry_archives::read` makes of the parts: a one-line error, or a catalogue whose
/// problems include everything the file system left out.
fn read_export(paths: &[PathBuf], limits: Limits) {
    let fs = ArchiveFs::open(paths, limits);
    match ferry_archives::read(paths, limits) {
        Err(e) => one_line(&e.to_string()),
        Ok((_, catalogue)) => {
            for skipped in fs.unwrap().skipped() {
                assert!(
                    catalogue
                        .problems
                        .iter()
                        .any(|p| p.id == skipped.id && p.reason == skipped.reason),
                    "{skipped:?} dropped"
                );
            }
            for p in &catalogue.problems {
                one_line(&p.reason);
            }
        }
    }
}

fn small_limits() -> Limits {
    Limits {
        max_total_uncompressed: 64 * MIB as u64,
        max_ratio: 100,
        max_entries: 100,
        max_json_bytes: MIB as u64,
    }
}

// ---------------------------------------------------------------------------------------------

#[test]
fn zip_slip_names_are_left_out_with_their_reason() {
    let dir = tempfile::tempdir().unwrap();
    let hostile: [&[u8]; 9] = [
        b"../x",
        b"a/../../x",
        b"/etc/passwd",
        b"C:\\x",
        b"c:/Windows/x",
        b"..\\..\\x",
        b"\\\\server\\share\\x",
        b"a/.. /x",
        b"a\0b",
    ];
    let mut entries: Vec<Entry> = hostile.iter().map(|n| entry(n, b"owned")).collect();
    entries.push(entry("ok/fine.txt", b"fine"));
    let fs = open(dir.path(), &entries, Limits::default()).unwrap();
    assert_eq!(
        fs.files().map(|(p, _)| p).collect::<Vec<_>>(),
        ["ok/fine.txt"]
    );
    assert_eq!(fs.skipped().len(), hostile.len());
    for s in fs.skipped() {
        one_line(&s.reason);
        assert!(s.reason.starts_with("entry name"), "{s:?}");
    }
    assert!(skipped_reason(&fs, ":../x").contains("`..`"));
    assert!(skipped_reason(&fs, ":/etc/passwd").contains("absolute"));
    assert!(skipped_reason(&fs, ":C:\\x").contains("drive letter"));
    assert!(skipped_reason(&fs, ":..\\..\\x").contains("`..`"));
    assert_paths_stay_inside(&fs);
    assert_eq!(read_all(&fs, "ok/fine.txt").unwrap(), b"fine");
    // Asking for a refused name by any spelling finds nothing.
    for name in ["../x", "x", "etc/passwd", "/etc/passwd"] {
        assert!(fs.reader(name).is_err(), "{name}");
    }
    read_export(&[dir.path().join("export.zip")], Limits::default());
}

#[test]
fn symlink_entries_are_never_followed() {
    let dir = tempfile::tempdir().unwrap();
    let mut link = entry("media/link.jpg", b"/etc/passwd");
    link.unix_mode = S_IFLNK | 0o777;
    let mut up = entry("up", b"../../..");
    up.unix_mode = S_IFLNK | 0o777;
    let fs = open(
        dir.path(),
        &[link, up, entry("media/real.jpg", b"jpeg")],
        Limits::default(),
    )
    .unwrap();
    assert_eq!(
        fs.files().map(|(p, _)| p).collect::<Vec<_>>(),
        ["media/real.jpg"]
    );
    assert!(skipped_reason(&fs, ":media/link.jpg").contains("symbolic link"));
    assert!(skipped_reason(&fs, ":up").contains("symbolic link"));
}

#[test]
fn a_folder_part_never_follows_symlinks_out_of_it() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.txt"), b"secret").unwrap();
    let export = tempfile::tempdir().unwrap();
    let root = export.path();
    std::fs::create_dir_all(root.join("media")).unwrap();
    std::fs::write(root.join("media/a.jpg"), b"jpeg").unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret.txt"), root.join("media/b.jpg"))
        .unwrap();
    std::os::unix::fs::symlink(outside.path(), root.join("elsewhere")).unwrap();
    std::os::unix::fs::symlink("/nonexistent/target", root.join("dangling.json")).unwrap();
    let fs = ArchiveFs::open(&[root.to_path_buf()], Limits::default()).unwrap();
    assert_eq!(
        fs.files().map(|(p, _)| p).collect::<Vec<_>>(),
        ["media/a.jpg"]
    );
    for id in ["media/b.jpg", "elsewhere", "dangling.json"] {
        assert!(skipped_reason(&fs, id).contains("symbolic link"), "{id}");
    }
    assert!(fs.reader("elsewhere/secret.txt").is_err());
    assert_paths_stay_inside(&fs);
    read_export(&[root.to_path_buf()], Limits::default());
}

#[test]
fn a_zip_bomb_beyond_the_ratio_is_left_out() {
    let dir = tempfile::tempdir().unwrap();
    // 16 MiB of zeros deflate to ~16 KiB: ratio ~1000.
    let bomb = deflated("bomb.json", vec![0u8; 16 * MIB]);
    let fs = open(
        dir.path(),
        &[bomb, entry("ok.txt", b"ok")],
        Limits::default(),
    )
    .unwrap();
    assert!(!fs.contains("bomb.json"));
    let reason = skipped_reason(&fs, ":bomb.json");
    assert!(reason.contains("zip bomb"), "{reason}");
    assert_eq!(read_all(&fs, "ok.txt").unwrap(), b"ok");
    read_export(&[dir.path().join("export.zip")], Limits::default());
}

#[test]
fn a_header_that_understates_the_size_is_stopped_while_inflating() {
    let dir = tempfile::tempdir().unwrap();
    // Declares 1000 bytes (under the ratio floor, so admitted) and inflates to 16 MiB.
    let mut liar = deflated("liar.bin", vec![0u8; 16 * MIB]);
    liar.declared_size = Some(1000);
    let mut json_liar = deflated("liar.json", {
        let mut json = b"{\"a\":\"".to_vec();
        json.resize(16 * MIB, b'x');
        json.extend_from_slice(b"\"}");
        json
    });
    json_liar.declared_size = Some(10);
    let fs = open(dir.path(), &[liar, json_liar], Limits::default()).unwrap();
    assert!(fs.skipped().is_empty(), "{:?}", fs.skipped());
    assert_eq!(fs.get("liar.bin").unwrap().size, 1000);

    let (result, peak) = peak_allocation(|| drain(&fs, "liar.bin"));
    let err = result.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    assert_eq!(
        err.to_string(),
        "entry inflated past the 1000 bytes its header declares"
    );
    assert!(peak < 2 * MIB, "reading a bomb held {peak} bytes");

    let (result, peak) = peak_allocation(|| fs.read_json::<serde_json::Value>("liar.json"));
    let err = result.unwrap_err();
    one_line(&err);
    assert!(err.contains("past the 10 bytes"), "{err}");
    assert!(peak < 2 * MIB, "parsing a bomb held {peak} bytes");

    let err = fs.head("liar.bin", 4096).unwrap_err();
    assert!(err.to_string().contains("past the 1000 bytes"));
    // A head within the declared size is fine: it never reaches the lie.
    assert_eq!(fs.head("liar.bin", 16).unwrap(), [0; 16]);
}

#[tokio::test]
async fn content_streams_end_in_an_error_on_a_lying_header() {
    let dir = tempfile::tempdir().unwrap();
    let mut liar = deflated("liar.bin", vec![7u8; 4 * MIB]);
    liar.declared_size = Some(300_000);
    let fs = Arc::new(open(dir.path(), &[liar], Limits::default()).unwrap());
    let content = fs.content("liar.bin").unwrap();
    let mut stream = content.stream;
    let mut got = 0usize;
    let mut error = None;
    while let Some(item) = stream.next().await {
        match item {
            Ok(bytes) => got += bytes.len(),
            Err(e) => {
                error = Some(e.to_string());
                break;
            }
        }
    }
    let error = error.expect("the stream ends in an error");
    one_line(&error);
    assert!(error.contains("liar.bin"), "{error}");
    assert!(error.contains("past the 300000 bytes"), "{error}");
    assert!(got <= 300_000);
    assert!(fs.content("missing.bin").is_err());
}

#[test]
fn too_many_entries_refuse_the_archive() {
    let dir = tempfile::tempdir().unwrap();
    let entries: Vec<Entry> = (0..5).map(|i| entry(format!("f{i}"), b"x")).collect();
    let limits = Limits {
        max_entries: 3,
        ..small_limits()
    };
    let err = open(dir.path(), &entries, limits).unwrap_err();
    one_line(&err);
    assert!(err.contains("more than 3 entries"), "{err}");
    // The count is across parts: two parts of two entries each under a limit of three.
    let a = write_zip(dir.path(), "a.zip", &build(&entries[..2]).bytes);
    let b = write_zip(dir.path(), "b.zip", &build(&entries[2..4]).bytes);
    let err = ArchiveFs::open(&[a.clone(), b.clone()], limits)
        .unwrap_err()
        .to_string();
    assert!(err.contains("more than 3 entries"), "{err}");
    let err = ferry_archives::read(&[a, b], limits).unwrap_err();
    assert!(matches!(err, ReadError::Part(_)));
    one_line(&err.to_string());
}

/// The ids and reasons of the skipped entries whose id ends with `suffix`.
fn skipped_as<'a>(fs: &'a ArchiveFs, suffix: &str) -> Vec<&'a str> {
    fs.skipped()
        .iter()
        .filter(|s| s.id.ends_with(suffix))
        .map(|s| {
            one_line(&s.reason);
            assert!(s.reason.contains("every copy is left out"), "{s:?}");
            s.id.as_str()
        })
        .collect()
}

#[test]
fn a_name_given_twice_in_one_part_leaves_every_copy_out() {
    let dir = tempfile::tempdir().unwrap();
    // The zip crate indexes the last copy of a name only: each copy is still reported, and
    // none is read, whether the copies are equal or not.
    let fs = open(
        dir.path(),
        &[
            entry("same.txt", b"one"),
            entry("dup.jpg", b"\xFF\xD8\xFF genuine"),
            entry("same.txt", b"one"),
            entry("dup.jpg", b"\xFF\xD8\xFF attacker"),
            entry("dup.jpg", b"\xFF\xD8\xFF third"),
            entry("kept.txt", b"kept"),
        ],
        Limits::default(),
    )
    .unwrap();
    assert_eq!(fs.files().map(|(p, _)| p).collect::<Vec<_>>(), ["kept.txt"]);
    assert!(read_all(&fs, "dup.jpg").is_err());
    assert_eq!(skipped_as(&fs, ":dup.jpg"), ["export.zip:dup.jpg"; 3]);
    assert_eq!(skipped_as(&fs, ":same.txt"), ["export.zip:same.txt"; 2]);
    assert_eq!(fs.skipped().len(), 5, "{:?}", fs.skipped());

    // Names that differ in the zip but are the same path once normalised.
    let fs = open(
        dir.path(),
        &[
            entry("a/x.txt", b"first"),
            entry("./a//x.txt", b"first"),
            entry("a\\x.txt", b"other"),
            entry("a/y.txt", b"y"),
        ],
        Limits::default(),
    )
    .unwrap();
    assert_eq!(fs.files().map(|(p, _)| p).collect::<Vec<_>>(), ["a/y.txt"]);
    assert_eq!(
        skipped_as(&fs, "x.txt"),
        [
            "export.zip:a/x.txt",
            "export.zip:./a//x.txt",
            "export.zip:a\\x.txt"
        ]
    );
}

#[test]
fn the_same_path_in_several_parts_is_one_file_only_when_the_bytes_agree() {
    let dir = tempfile::tempdir().unwrap();
    let p1 = write_zip(
        dir.path(),
        "p1.zip",
        &build(&[entry("a/x.json", b"{}"), entry("b.json", b"1")]).bytes,
    );
    let p2 = write_zip(
        dir.path(),
        "p2.zip",
        &build(&[
            entry("a/x.json", b"{}"),
            entry("a/y.json", b"[1]"),
            entry("b.json", b"2"),
        ])
        .bytes,
    );
    let p3 = write_zip(
        dir.path(),
        "p3.zip",
        &build(&[
            entry("a/y.json", b"[2]"),
            // Equal to the first copy of b.json, but that path is already in doubt.
            entry("b.json", b"1"),
            entry("c.json", b"3"),
            entry("c.json", b"3"),
        ])
        .bytes,
    );
    let c = write_zip(dir.path(), "c.zip", &build(&[entry("c.json", b"3")]).bytes);
    // Takeout repeats files across parts: the same bytes are one file.
    let fs = ArchiveFs::open(&[c, p1, p2, p3], Limits::default()).unwrap();
    assert_eq!(fs.files().map(|(p, _)| p).collect::<Vec<_>>(), ["a/x.json"]);
    assert_eq!(read_all(&fs, "a/x.json").unwrap(), b"{}");
    assert_eq!(
        skipped_as(&fs, "y.json"),
        ["p2.zip:a/y.json", "p3.zip:a/y.json"]
    );
    assert_eq!(
        skipped_as(&fs, "b.json"),
        ["p1.zip:b.json", "p2.zip:b.json", "p3.zip:b.json"]
    );
    // Twice in one part, so in doubt everywhere: the other part's copy is left out too.
    assert_eq!(
        skipped_as(&fs, "c.json"),
        ["c.zip:c.json", "p3.zip:c.json", "p3.zip:c.json"]
    );
}

/// The attack itself: a second `posts_1.json` and a second copy of a photo appended to a
/// genuine Instagram export. Read as a zip reader that keeps the last copy would, the decoy
/// posts would replace the real ones (losing their dates) and the attacker's photo would be
/// imported; ferry reads neither copy and says so.
#[test]
fn an_export_with_a_decoy_copy_imports_neither_copy() {
    use ferry_core::model::Record;
    use ferry_sandbox::corpus::instagram::{self, Era};
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    let manifest = instagram::write(&tree, Era::Y2022).unwrap();
    let posts = "your_instagram_activity/content/posts_1.json";
    let photo = "media/posts/201912/79_n_17851234567890123.jpg";
    let mut entries: Vec<Entry> = manifest
        .files
        .iter()
        .map(|f| entry(f, std::fs::read(tree.join(f)).unwrap()))
        .collect();
    let attacker = b"\xFF\xD8\xFF\xE0 the attacker's photo".to_vec();
    entries.push(entry(photo, &attacker));
    entries.push(entry(
        posts,
        format!(r#"[{{"media": [{{"uri": "{photo}", "title": "decoy"}}]}}]"#),
    ));
    let path = write_zip(dir.path(), "instagram-me.zip", &build(&entries).bytes);
    let (fs, catalogue) = ferry_archives::read(std::slice::from_ref(&path), Limits::default())
        .expect("the rest of the export is read");
    assert!(!fs.contains(photo) && !fs.contains(posts));
    for record in &catalogue.records {
        match record {
            Record::Media(m) => assert_ne!(m.id, photo),
            Record::Post(p) => {
                assert!(
                    p.id.starts_with("post:your_instagram_activity/content/posts_2"),
                    "{p:?}"
                );
                assert_ne!(p.text.as_deref(), Some("decoy"));
            }
            _ => {}
        }
    }
    // Each copy is reported, ahead of anything the reader itself could not read.
    let first: Vec<&str> = catalogue.problems[..4]
        .iter()
        .map(|p| p.id.as_str())
        .collect();
    let photo_id = format!("instagram-me.zip:{photo}");
    let posts_id = format!("instagram-me.zip:{posts}");
    assert_eq!(
        first.iter().filter(|id| **id == photo_id).count(),
        2,
        "{first:?}"
    );
    assert_eq!(
        first.iter().filter(|id| **id == posts_id).count(),
        2,
        "{first:?}"
    );
    read_export(&[path], Limits::default());
}

#[test]
fn truncated_zips_fail_with_one_line_or_read_what_is_there() {
    let dir = tempfile::tempdir().unwrap();
    let built = build(&[
        entry("a.json", br#"{"a": 1}"#),
        deflated("b.txt", "hello ".repeat(500)),
        entry("c.bin", vec![9u8; 3000]),
    ]);
    let len = built.bytes.len();
    let mut cuts = vec![
        0,
        1,
        4,
        10,
        29,
        30,
        35,
        len / 3,
        len / 2,
        len - 100,
        len - 23,
    ];
    cuts.extend(len - 22..len);
    cuts.extend(built.data_offsets.iter().map(|o| o + 3));
    for cut in cuts {
        let path = write_zip(dir.path(), "cut.zip", &built.bytes[..cut]);
        match ArchiveFs::open(std::slice::from_ref(&path), Limits::default()) {
            Err(e) => {
                let message = e.to_string();
                one_line(&message);
                assert!(message.contains("cut.zip"), "{message}");
            }
            Ok(fs) => {
                assert_paths_stay_inside(&fs);
                for (path, _) in fs.files() {
                    if let Err(e) = read_all(&fs, path) {
                        one_line(&e.to_string());
                    }
                }
            }
        }
        read_export(&[path], Limits::default());
    }
    // A cut before the end of the data always leaves something unreadable.
    let path = write_zip(dir.path(), "mid.zip", &built.bytes[..len / 2]);
    assert!(ArchiveFs::open(&[path], Limits::default()).is_err());
}

#[test]
fn corrupt_data_fails_its_crc() {
    let dir = tempfile::tempdir().unwrap();
    let text = "the quick brown fox jumps over the lazy dog ".repeat(200);
    let built = build(&[entry("stored.txt", &text), deflated("deflated.txt", &text)]);
    for (index, name) in ["stored.txt", "deflated.txt"].iter().enumerate() {
        let length = built.data_lengths[index];
        for at in [0, 7, length / 2, length - 1] {
            let mut bytes = built.bytes.clone();
            bytes[built.data_offsets[index] + at] ^= 0x55;
            let path = write_zip(dir.path(), "corrupt.zip", &bytes);
            let fs = ArchiveFs::open(&[path], Limits::default()).unwrap();
            let Err(err) = read_all(&fs, name) else {
                panic!("{name}: a byte flipped at {at} of {length} read back without error");
            };
            let message = err.to_string();
            one_line(&message);
            // A flipped byte in deflated data may break the stream before the CRC is reached.
            if *name == "stored.txt" {
                assert_eq!(err.kind(), io::ErrorKind::InvalidData);
                assert_eq!(message, "CRC-32 mismatch: the archive is corrupt");
            }
            // The other entry is untouched.
            let other = ["stored.txt", "deflated.txt"][1 - index];
            assert_eq!(read_all(&fs, other).unwrap(), text.as_bytes());
        }
    }
}

#[test]
fn invalid_json_gives_a_one_line_reason() {
    let dir = tempfile::tempdir().unwrap();
    let fs = open(
        dir.path(),
        &[
            entry("broken.json", b"{\"a\": [1, 2,"),
            entry("binary.json", [0xFFu8, 0xD8, 0xFF, 0xE0, 0, 1]),
            entry("nested.json", "[".repeat(100_000)),
            entry("empty.json", b""),
        ],
        small_limits(),
    )
    .unwrap();
    for name in ["broken.json", "binary.json", "nested.json", "empty.json"] {
        let err = fs.read_json::<serde_json::Value>(name).unwrap_err();
        one_line(&err);
        assert!(err.starts_with("invalid JSON"), "{name}: {err}");
    }
    let err = fs
        .read_json::<serde_json::Value>("missing.json")
        .unwrap_err();
    one_line(&err);
}

#[test]
fn a_json_file_over_the_limit_is_refused_before_it_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let mut json = b"{\"s\": \"".to_vec();
    json.resize(3 * MIB, b'a');
    json.extend_from_slice(b"\"}");
    let fs = open(
        dir.path(),
        // Stored: deflated, these repeated bytes would be refused as a bomb before any read.
        &[entry("huge.json", &json)],
        small_limits(),
    )
    .unwrap();
    let (result, peak) = peak_allocation(|| fs.read_json::<serde_json::Value>("huge.json"));
    let err = result.unwrap_err();
    one_line(&err);
    assert_eq!(
        err,
        format!(
            "JSON file of {} bytes is larger than the 1048576-byte limit",
            json.len()
        )
    );
    assert!(peak < 64 * 1024, "refusing held {peak} bytes");
    assert!(fs.read_small("huge.json").is_err());
    // Streaming it is still allowed: the limit is on parsing into memory.
    assert_eq!(drain(&fs, "huge.json").unwrap(), json.len() as u64);
}

#[test]
fn non_utf8_names_are_read_as_cp437() {
    let dir = tempfile::tempdir().unwrap();
    let fs = open(
        dir.path(),
        &[
            entry(b"Fotos/Se\xa4or.jpg", b"jpeg"),
            entry(b"\x81ber/\xff\xfe.txt", b"x"),
            entry(b"..\x80/../x", b"slip"),
        ],
        Limits::default(),
    )
    .unwrap();
    let names: Vec<_> = fs.files().map(|(p, _)| p).collect();
    assert_eq!(names, ["Fotos/Señor.jpg", "über/\u{a0}■.txt"]);
    assert_eq!(
        fs.get("Fotos/Señor.jpg").unwrap().decoding,
        NameDecoding::Cp437
    );
    assert_eq!(read_all(&fs, "Fotos/Señor.jpg").unwrap(), b"jpeg");
    assert_eq!(fs.skipped().len(), 1);
    one_line(&fs.skipped()[0].reason);
    assert_paths_stay_inside(&fs);
}

#[test]
fn encrypted_entries_are_left_out() {
    let dir = tempfile::tempdir().unwrap();
    let mut secret = entry(
        "secret.json",
        b"\x12\x34garbage that is not really encrypted",
    );
    secret.flags = 1;
    let mut secret_deflated = deflated("media/secret.jpg", b"xx");
    secret_deflated.flags = 1;
    let fs = open(
        dir.path(),
        &[secret, secret_deflated, entry("plain.json", b"{}")],
        Limits::default(),
    )
    .unwrap();
    assert_eq!(
        fs.files().map(|(p, _)| p).collect::<Vec<_>>(),
        ["plain.json"]
    );
    assert!(skipped_reason(&fs, ":secret.json").contains("encrypted"));
    assert!(skipped_reason(&fs, ":media/secret.jpg").contains("encrypted"));
}

#[test]
fn not_a_zip_at_all() {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in [
        ("empty.zip", &b""[..]),
        ("text.zip", b"this is not a zip file"),
        (
            "eocd-only.zip",
            b"PK\x05\x06\0\0\0\0\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\0\0",
        ),
    ] {
        let path = write_zip(dir.path(), name, bytes);
        match ArchiveFs::open(std::slice::from_ref(&path), Limits::default()) {
            Err(e) => one_line(&e.to_string()),
            Ok(fs) => assert!(fs.is_empty()),
        }
        read_export(&[path], Limits::default());
    }
    let err = ArchiveFs::open(&[dir.path().join("absent.zip")], Limits::default()).unwrap_err();
    one_line(&err.to_string());
}

#[test]
fn unsupported_compression_is_an_error_on_read() {
    let dir = tempfile::tempdir().unwrap();
    let mut built = build(&[entry("a.txt", b"hello")]);
    // Method 14 (LZMA) in both headers: the local header's method is at offset 8, the central
    // record's at offset 10 of its record.
    built.bytes[8] = 14;
    let cd = built.bytes.len() - 22 - (46 + 5);
    built.bytes[cd + 10] = 14;
    let path = write_zip(dir.path(), "lzma.zip", &built.bytes);
    match ArchiveFs::open(&[path], Limits::default()) {
        Err(e) => one_line(&e.to_string()),
        Ok(fs) => {
            if fs.contains("a.txt") {
                let err = read_all(&fs, "a.txt").unwrap_err();
                one_line(&err.to_string());
            }
        }
    }
}

#[test]
fn a_json_header_that_overstates_the_size_costs_no_memory() {
    let dir = tempfile::tempdir().unwrap();
    // Declares 400 MiB (under the JSON limit, ratio 1 as a stored entry would be) and holds
    // two bytes: the data runs into the central directory and the read fails.
    let mut built = build(&[entry("big.json", b"{}")]);
    let declared = 400 * MIB as u32;
    let local_sizes = 18;
    built.bytes[local_sizes..local_sizes + 4].copy_from_slice(&declared.to_le_bytes());
    built.bytes[local_sizes + 4..local_sizes + 8].copy_from_slice(&declared.to_le_bytes());
    let cd = built.bytes.len() - 22 - (46 + "big.json".len());
    built.bytes[cd + 20..cd + 24].copy_from_slice(&declared.to_le_bytes());
    built.bytes[cd + 24..cd + 28].copy_from_slice(&declared.to_le_bytes());
    let path = write_zip(dir.path(), "export.zip", &built.bytes);
    let limits = Limits {
        max_json_bytes: 512 * MIB as u64,
        ..Limits::default()
    };
    let fs = match ArchiveFs::open(&[path], limits) {
        Ok(fs) => fs,
        Err(e) => return one_line(&e.to_string()),
    };
    let Some(found) = fs.get("big.json") else {
        return;
    };
    assert_eq!(found.size, 400 * MIB as u64);
    let (result, peak) = peak_allocation(|| fs.read_json::<serde_json::Value>("big.json"));
    one_line(&result.unwrap_err());
    assert!(peak < 16 * MIB, "a 2-byte file held {peak} bytes");
}
