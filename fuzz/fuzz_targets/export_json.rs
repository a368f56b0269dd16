//! Arbitrary bytes as the JSON files of each export layout, next to a tiny JPEG, read through
//! `ferry_archives::read`: every reader's parsing of untrusted JSON. The first byte picks the
//! layout; the rest is written to every JSON path of it.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use ferry_archives::{Limits, read};
use libfuzzer_sys::fuzz_target;

/// A valid 1×1 baseline JPEG is not needed: readers sniff the first bytes only.
const JPEG: &[u8] = b"\xFF\xD8\xFF\xE0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xFF\xD9";

struct Layout {
    /// Files that get the fuzz input.
    json: &'static [&'static str],
    /// Media files (a tiny JPEG each) the JSON may refer to.
    media: &'static [&'static str],
}

const LAYOUTS: &[Layout] = &[
    // Instagram 2024/2025.
    Layout {
        json: &[
            "your_instagram_activity/media/posts_1.json",
            "your_instagram_activity/media/stories.json",
            "your_instagram_activity/messages/inbox/a_1/message_1.json",
            "personal_information/personal_information/personal_information.json",
        ],
        media: &[
            "media/posts/202001/a.jpg",
            "your_instagram_activity/messages/inbox/a_1/photos/b.jpg",
        ],
    },
    // Instagram 2021 and 2022–2024.
    Layout {
        json: &[
            "content/posts_1.json",
            "your_instagram_activity/content/posts_1.json",
            "messages/inbox/a_1/message_1.json",
            "personal_information/personal_information.json",
        ],
        media: &[
            "media/posts/202001/a.jpg",
            "messages/inbox/a_1/photos/b.jpg",
        ],
    },
    // Instagram v1.
    Layout {
        json: &["media.json", "profile.json", "messages.json"],
        media: &["photos/202001/a.jpg"],
    },
    // Facebook 2024.
    Layout {
        json: &[
            "your_facebook_activity/posts/your_posts__check_ins__photos_and_videos_1.json",
            "your_facebook_activity/posts/album/0.json",
            "your_facebook_activity/messages/inbox/a_1/message_1.json",
            "personal_information/profile_information/profile_information.json",
        ],
        media: &[
            "your_facebook_activity/posts/media/album/a.jpg",
            "your_facebook_activity/messages/inbox/a_1/photos/b.jpg",
        ],
    },
    // Facebook before 2024.
    Layout {
        json: &[
            "posts/your_posts_1.json",
            "photos_and_videos/album/0.json",
            "messages/inbox/a_1/message_1.json",
            "profile_information/profile_information.json",
        ],
        media: &[
            "photos_and_videos/album/a.jpg",
            "messages/inbox/a_1/photos/b.jpg",
        ],
    },
    // Google Takeout.
    Layout {
        json: &[
            "Takeout/Google Photos/Photos from 2020/a.jpg.json",
            "Takeout/Google Photos/Photos from 2020/metadata.json",
            "Takeout/Google Photos/Album/a.jpg.supplemental-metadata.json",
            "Takeout/Google Photos/Album/metadata.json",
        ],
        media: &[
            "Takeout/Google Photos/Photos from 2020/a.jpg",
            "Takeout/Google Photos/Album/a.jpg",
        ],
    },
    // ferry's own archive.
    Layout {
        json: &["manifest.json", "records.json"],
        media: &["media/a.jpg"],
    },
];

/// One folder per layout, made once with its media; each run overwrites the JSON files.
fn folders() -> &'static (tempfile::TempDir, Vec<PathBuf>) {
    static DIRS: OnceLock<(tempfile::TempDir, Vec<PathBuf>)> = OnceLock::new();
    DIRS.get_or_init(|| {
        let top = scratch_dir();
        let mut roots = Vec::new();
        for (i, layout) in LAYOUTS.iter().enumerate() {
            let root = top.path().join(i.to_string());
            for media in layout.media {
                let path = root.join(media);
                std::fs::create_dir_all(path.parent().expect("media has a folder")).expect("mkdir");
                std::fs::write(path, JPEG).expect("write media");
            }
            roots.push(root);
        }
        (top, roots)
    })
}

/// A scratch folder in memory where there is one: the target writes files on every run.
fn scratch_dir() -> tempfile::TempDir {
    tempfile::tempdir_in("/dev/shm")
        .or_else(|_| tempfile::tempdir())
        .expect("a scratch folder")
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, json)) = data.split_first() else {
        return;
    };
    let index = usize::from(selector) % LAYOUTS.len();
    let root = &folders().1[index];
    for path in LAYOUTS[index].json {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().expect("json has a folder")).expect("mkdir");
        std::fs::write(path, json).expect("write json");
    }
    let limits = Limits {
        max_json_bytes: 1 << 20,
        ..Limits::default()
    };
    if let Ok((_, catalogue)) = read(std::slice::from_ref(root), limits) {
        for problem in &catalogue.problems {
            assert!(!problem.reason.contains('\n'), "{problem:?}");
        }
    }
});
