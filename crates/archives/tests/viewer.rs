//! The offline viewer, opened in headless Chromium: export, extract every part into one
//! folder, and check what a person sees.
//!
//! Needs `/usr/bin/chromium` (`apt-get install -y chromium`). Without it the test is skipped,
//! except on CI (`CI=true`), where it fails.

mod ferry_common;

use std::path::{Path, PathBuf};
use std::process::Command;

use ferry_archives::ferry::ExportOptions;
use ferry_common::*;
use percent_encoding::percent_decode_str;

const CHROMIUM: &str = "/usr/bin/chromium";

fn chromium_available() -> bool {
    if Path::new(CHROMIUM).exists() {
        return true;
    }
    assert!(
        std::env::var("CI").map_or(true, |v| v != "true"),
        "{CHROMIUM} is missing on CI: install it (apt-get install -y chromium)"
    );
    eprintln!("skipping: {CHROMIUM} is not installed (apt-get install -y chromium)");
    false
}

/// The DOM Chromium builds for a page, serialised.
fn dump_dom(page: &Path) -> String {
    let profile = tempfile::tempdir().unwrap();
    let output = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let dom = String::from_utf8(output.stdout).unwrap();
    assert!(
        dom.contains("</html>"),
        "no DOM dumped for {}",
        page.display()
    );
    dom
}

/// Values of `attr="…"` in the DOM.
fn attributes<'a>(dom: &'a str, attr: &str) -> Vec<&'a str> {
    let needle = format!(" {attr}=\"");
    dom.match_indices(&needle)
        .filter_map(|(at, _)| {
            let rest = &dom[at + needle.len()..];
            rest.find('"').map(|end| &rest[..end])
        })
        .collect()
}

/// Every `src` of the page resolves to a file of the extracted archive.
fn assert_sources_exist(dom: &str, page_dir: &Path) -> usize {
    let sources = attributes(dom, "src");
    for src in &sources {
        assert!(!src.contains("://"), "a network or absolute source: {src}");
        let decoded = percent_decode_str(&src.replace("&amp;", "&"))
            .decode_utf8()
            .unwrap()
            .into_owned();
        let file = page_dir.join(&decoded);
        assert!(file.is_file(), "{src} → {} does not exist", file.display());
    }
    sources.len()
}

fn extract(parts: &[PathBuf], into: &Path) {
    for part in parts {
        let mut zip = zip::ZipArchive::new(std::fs::File::open(part).unwrap()).unwrap();
        zip.extract(into).unwrap();
    }
}

#[tokio::test]
async fn the_viewer_shows_everything_offline_with_captions_escaped() {
    if !chromium_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("viewer.zip");
    // Split, so that pages in one part link to media in others.
    let options = ExportOptions {
        split_size: 70_000,
        ..ExportOptions::new(all_types())
    };
    let summary = run(fixture(), &out, &options).await;
    assert!(summary.parts.len() >= 3);
    let site = tempfile::tempdir().unwrap();
    extract(&part_paths(&summary), site.path());

    let index = dump_dom(&site.path().join("index.html"));
    for text in [
        "Ana Example",
        "ana.example",
        "Summer 🌞 2021",
        "Family: &lt;b&gt;best&lt;/b&gt;",
        "Profile pictures",
        "Not in an album",
        "Chat with Bob",
        "2 posts",
    ] {
        assert!(index.contains(text), "index lacks {text:?}:\n{index}");
    }
    let thumbs = assert_sources_exist(&index, site.path());
    assert!(thumbs >= 6, "only {thumbs} thumbnails on the index");
    assert!(index.contains("loading=\"lazy\""));
    assert!(
        index.contains("preload=\"none\""),
        "videos are not preloaded"
    );
    assert!(!index.contains("<script"), "no script anywhere");

    // Album page: the hostile caption is text, not markup.
    let album = dump_dom(&site.path().join("pages/album-0-1.html"));
    assert!(
        album.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; \"quotes\" 'single'"),
        "{album}"
    );
    assert!(!album.contains("<script"));
    assert_sources_exist(&album, &site.path().join("pages"));

    // Posts with captions and their comments.
    let posts = dump_dom(&site.path().join("pages/posts-0-1.html"));
    for text in [
        "&lt;script&gt;alert(1)&lt;/script&gt;",
        "Snow day ❄️ with the kids",
        "Lovely 😍 &lt;i&gt;photo&lt;/i&gt;",
        "Where is this?",
        "❤️ Bob",
    ] {
        assert!(posts.contains(text), "posts lack {text:?}:\n{posts}");
    }
    assert!(!posts.contains("<script"));
    assert_sources_exist(&posts, &site.path().join("pages"));

    let stories = dump_dom(&site.path().join("pages/stories-0-1.html"));
    assert!(stories.contains("Story time 📖"));

    // A message thread.
    let thread = dump_dom(&site.path().join("pages/thread-0-1.html"));
    for text in [
        "Chat with Bob",
        "Hi Ana 👋",
        "Look: &lt;/div&gt;&lt;b&gt;bold?&lt;/b&gt;",
        "See you in Paris",
    ] {
        assert!(thread.contains(text), "thread lacks {text:?}:\n{thread}");
    }
    assert_eq!(assert_sources_exist(&thread, &site.path().join("pages")), 1);

    // Every link between pages resolves too.
    for href in attributes(&index, "href") {
        let decoded = percent_decode_str(href).decode_utf8().unwrap().into_owned();
        assert!(site.path().join(&decoded).is_file(), "broken link {href}");
    }
}
