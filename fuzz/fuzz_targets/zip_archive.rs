//! Arbitrary bytes as a zip part: indexing, reading every entry to its end, parsing the JSON
//! ones and reading the whole export. Errors are expected; panics, hangs and memory blow-ups
//! are bugs.
#![no_main]

use std::io::{Read, Write};
use std::path::{Component, Path};
use std::sync::OnceLock;

use ferry_archives::{ArchiveFs, Limits, safe_entry_path};
use libfuzzer_sys::fuzz_target;

fn limits() -> Limits {
    Limits {
        // Small enough that a run stays fast; the default ratio and JSON logic are what we test.
        max_total_uncompressed: 1 << 30,
        max_entries: 10_000,
        ..Limits::default()
    }
}

fn scratch() -> &'static tempfile::TempDir {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(scratch_dir)
}

/// A scratch folder in memory where there is one: the target writes files on every run.
fn scratch_dir() -> tempfile::TempDir {
    tempfile::tempdir_in("/dev/shm")
        .or_else(|_| tempfile::tempdir())
        .expect("a scratch folder")
}

fuzz_target!(|data: &[u8]| {
    let path = scratch().path().join("part.zip");
    let mut file = std::fs::File::create(&path).expect("scratch file");
    file.write_all(data).expect("scratch write");
    drop(file);
    let paths = [path];
    if let Ok(fs) = ArchiveFs::open(&paths, limits()) {
        let root = Path::new("/srv/ferry/extract");
        let files: Vec<(String, u64)> = fs.files().map(|(p, e)| (p.to_owned(), e.size)).collect();
        for (name, size) in files {
            let safe = safe_entry_path(name.as_bytes()).expect("indexed paths are safe");
            assert_eq!(safe.as_str(), name);
            let joined = safe.join_under(root);
            assert!(
                joined
                    .strip_prefix(root)
                    .expect("inside the root")
                    .components()
                    .all(|c| matches!(c, Component::Normal(_)))
            );
            if let Ok(mut reader) = fs.reader(&name) {
                let mut buf = [0u8; 64 * 1024];
                let mut total = 0u64;
                loop {
                    match reader.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => total += n as u64,
                    }
                }
                assert!(total <= size, "{name}: read {total} of a declared {size}");
            }
            let _ = fs.head(&name, 64);
            let _ = fs.read_json::<serde_json::Value>(&name);
        }
    }
    // The readers, on whatever the zip holds.
    let _ = ferry_archives::read(&paths, limits());
});
