//! An export from the test corpus, zipped over two parts, as a fixture of the Source
//! conformance suite: every reader of ArchiveSource (Instagram, Facebook, Takeout) passes it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ferry_archives::ArchiveSource;
use ferry_core::model::MediaKind;
use ferry_sandbox::corpus::{Format, Manifest, zip_parts};
use ferry_testkit::source_suite::{ExpectedMedia, SourceFixture};

pub struct ExportFixture {
    _dir: tempfile::TempDir,
    parts: Vec<PathBuf>,
    expected: Vec<ExpectedMedia>,
}

impl ExportFixture {
    /// The export `write` makes, zipped as `name-1.zip`, `name-2.zip`. The items and their
    /// kinds are the corpus's (each file once, however many places name it); their bytes are
    /// read from the unpacked tree.
    pub fn new(name: &str, write: impl FnOnce(&Path) -> std::io::Result<Manifest>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let tree = dir.path().join("tree");
        let manifest = write(&tree).unwrap();
        let parts = zip_parts(&tree, &dir.path().join("zips"), name, 2).unwrap();
        let mut files = BTreeMap::new();
        for item in &manifest.media {
            let kind = match item.format {
                Format::Mp4 => MediaKind::Video,
                Format::Jpeg | Format::Webp | Format::Heic => MediaKind::Photo,
            };
            files.entry(item.file.clone()).or_insert(kind);
        }
        let expected = files
            .into_iter()
            .map(|(file, kind)| {
                let bytes = std::fs::read(tree.join(&file)).unwrap();
                ExpectedMedia::new(file, kind, &bytes)
            })
            .collect();
        ExportFixture {
            _dir: dir,
            parts,
            expected,
        }
    }
}

#[async_trait::async_trait]
impl SourceFixture for ExportFixture {
    async fn open(&self) -> std::sync::Arc<dyn ferry_core::Source> {
        std::sync::Arc::new(ArchiveSource::open(self.parts.clone()).await.unwrap())
    }

    fn expected(&self) -> Vec<ExpectedMedia> {
        self.expected.clone()
    }

    /// The parts are the person's download: nothing is removed from them.
    async fn remove(&self, _id: &str) -> bool {
        false
    }
}
