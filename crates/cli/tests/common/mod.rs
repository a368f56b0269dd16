//! Helpers for driving the real `ferry` binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ferry_sandbox::media::{PhotoSpec, jpeg};

pub mod sandbox;

pub fn ferry(data_dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ferry"));
    cmd.env("FERRY_DATA_DIR", data_dir)
        .env_remove("RUST_LOG")
        .env_remove("FERRY_DATABASE_URL");
    cmd
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The one JSON object `--json` prints.
pub fn json(out: &Output) -> serde_json::Value {
    let text = stdout(out);
    assert_eq!(
        text.trim().lines().count(),
        1,
        "expected one JSON line, got: {text}"
    );
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Writes `count` distinct JPEGs of `size` bytes, spread over a few albums and the top level.
/// Returns their paths relative to `root`.
pub fn library(root: &Path, count: usize, size: usize) -> Vec<PathBuf> {
    let mut made = Vec::new();
    for i in 0..count {
        let folder = match i % 4 {
            0 => PathBuf::new(),
            1 => PathBuf::from("Summer"),
            2 => PathBuf::from("Summer/Beach"),
            _ => PathBuf::from("Winter"),
        };
        let relative = folder.join(format!("IMG_{i:04}.jpg"));
        let mut spec = PhotoSpec::new(i as u64);
        spec.pad_to = Some(size);
        std::fs::create_dir_all(root.join(&folder)).unwrap();
        std::fs::write(root.join(&relative), jpeg(&spec)).unwrap();
        made.push(relative);
    }
    made
}

/// Where ferry's folder layout puts a photo from `relative` in the source.
pub fn photo_destination(dst: &Path, relative: &Path) -> PathBuf {
    dst.join("Photo Transfer").join(relative)
}

/// Every regular file under `root`, relative, sorted.
pub fn files_under(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path.strip_prefix(root).unwrap().to_path_buf());
            }
        }
    }
    out.sort();
    out
}

pub fn is_temporary(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with(".ferry-"))
}
