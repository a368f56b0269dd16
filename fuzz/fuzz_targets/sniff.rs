//! Content sniffing on arbitrary heads and file names: never panics, and only ever answers
//! with a photo or video type.
#![no_main]

use ferry_archives::catalogue::sniff;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The bytes up to the first NUL are the file name, the rest the file's head.
    let (name, head) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&data[..0], data),
    };
    let name = String::from_utf8_lossy(name);
    if let Some((_, mime)) = sniff(head, &name) {
        assert!(
            mime.starts_with("image/") || mime.starts_with("video/"),
            "{mime}"
        );
    }
});
