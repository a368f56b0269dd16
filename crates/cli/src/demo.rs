//! `ferry demo`: a sample photo library made on the spot, transferred with the real engine.

use std::path::Path;

use anyhow::{Context, Result};
use ferry_core::Scope;
use ferry_engine::{JobSpec, LayoutOptions};
use ferry_sandbox::media::{Mp4, PhotoSpec, VideoSpec, jpeg};
use time::macros::{datetime, offset};

/// Writes the sample library under `dir/library` (again each time: it is deterministic) and
/// returns the job that transfers it to `dir/transferred`.
pub fn prepare(dir: &Path, quiet: bool) -> Result<JobSpec> {
    let library = dir.join("library");
    let write = |relative: &str, bytes: &[u8]| -> Result<()> {
        let path = library.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))
    };
    let photo = |seed: u64, taken, gps| {
        let mut spec = PhotoSpec::new(seed);
        spec.width = 640;
        spec.height = 480;
        spec.taken = Some(taken);
        spec.offset = Some(offset!(+02:00));
        spec.gps = gps;
        jpeg(&spec)
    };
    write(
        "Family/2019 Summer/IMG_0001.jpg",
        &photo(1, datetime!(2019-07-14 10:00:00), Some((43.2965, 5.3698))),
    )?;
    write(
        "Family/2019 Summer/IMG_0002.jpg",
        &photo(2, datetime!(2019-07-14 10:05:00), None),
    )?;
    write(
        "Family/2019 Summer/img_0001.JPG",
        &photo(3, datetime!(2019-07-15 18:30:00), None),
    )?;
    write(
        "Family/Birthday.jpg",
        &photo(4, datetime!(2020-03-01 16:00:00), None),
    )?;
    write(
        "Trip: \"Paris\"?/Tour Eiffel 🗼.jpg",
        &photo(5, datetime!(2021-06-05 14:03:09), Some((48.8584, 2.2945))),
    )?;
    write("Trip: \"Paris\"?/notes.txt", b"Bring the good camera.\n")?;
    write(
        "Unsorted.jpg",
        &photo(6, datetime!(2018-12-24 20:00:00), None),
    )?;
    let mut video = VideoSpec::new(7, 3 * 1024 * 1024);
    video.created = Some(datetime!(2021-06-05 12:10:00 UTC));
    write("Trip: \"Paris\"?/Seine.mp4", &Mp4::new(&video).to_vec())?;
    if !quiet {
        eprintln!("demo: sample library written to {}", library.display());
    }
    Ok(JobSpec {
        sources: vec![library.to_string_lossy().into_owned()],
        destination: dir.join("transferred").to_string_lossy().into_owned(),
        scope: Scope::media(),
        layout: LayoutOptions::default(),
    })
}

pub fn explain(spec: &JobSpec) {
    println!();
    println!("What happened: the sample library was planned into ferry's journal, then every");
    println!("photo and video was streamed, hashed (SHA-256) and made durable at the destination,");
    println!("grouped by album under 'Photo Transfer' and 'Video Transfer', dated from EXIF.");
    println!("Names illegal on Windows were made safe; two photos whose names differ only in case");
    println!("were kept apart; the text file was skipped with its reason.");
    println!("Look: ls -R '{}'", spec.destination);
    println!("Run it again: nothing is duplicated.");
}
