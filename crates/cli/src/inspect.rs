//! `ferry inspect`: what an export is and what it holds, and what could not be read.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Result;
use ferry_archives::ArchiveSource;
use ferry_core::model::{DataType, Record, Timestamp};
use serde::Serialize;
use time::OffsetDateTime;

/// Problems shown in the text form; `--json` lists them all.
const SHOWN_PROBLEMS: usize = 20;

#[derive(Serialize)]
struct TypeSummary {
    count: u64,
    #[serde(
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    first: Option<OffsetDateTime>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    last: Option<OffsetDateTime>,
    #[serde(skip_serializing_if = "is_zero")]
    bytes: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[derive(Serialize)]
struct Problem {
    entry: String,
    reason: String,
}

#[derive(Serialize)]
struct Inspection {
    parts: Vec<PathBuf>,
    service: ferry_archives::Service,
    era: String,
    root: String,
    albums: u64,
    threads: u64,
    types: BTreeMap<DataType, TypeSummary>,
    problems: Vec<Problem>,
}

fn summarize(parts: Vec<PathBuf>, source: &ArchiveSource) -> Inspection {
    let catalogue = source.catalogue();
    let mut types: BTreeMap<DataType, TypeSummary> = BTreeMap::new();
    let (mut albums, mut threads) = (0, 0);
    for record in &catalogue.records {
        match record {
            Record::Album(_) => albums += 1,
            Record::Thread(_) => threads += 1,
            _ => {}
        }
        let Some(t) = record.data_type() else {
            continue;
        };
        if matches!(record, Record::Thread(_)) {
            continue;
        }
        let summary = types.entry(t).or_insert(TypeSummary {
            count: 0,
            first: None,
            last: None,
            bytes: 0,
        });
        summary.count += 1;
        if let Record::Media(m) = record {
            summary.bytes += m.size.unwrap_or(0);
        }
        if let Some(Timestamp { utc, .. }) = record.date() {
            summary.first = Some(summary.first.map_or(*utc, |f| f.min(*utc)));
            summary.last = Some(summary.last.map_or(*utc, |l| l.max(*utc)));
        }
    }
    Inspection {
        parts,
        service: catalogue.detection.service,
        era: catalogue.detection.era.clone(),
        root: catalogue.detection.root.clone(),
        albums,
        threads,
        types,
        problems: catalogue
            .problems
            .iter()
            .map(|p| Problem {
                entry: p.id.clone(),
                reason: p.reason.clone(),
            })
            .collect(),
    }
}

pub async fn inspect(parts: Vec<PathBuf>, json: bool) -> Result<u8> {
    let source = ArchiveSource::open(parts.clone()).await?;
    let report = summarize(parts, &source);
    if json {
        println!("{}", serde_json::to_string(&report)?);
        return Ok(0);
    }
    println!(
        "{} export, {} layout{}",
        report.service,
        report.era,
        if report.root.is_empty() {
            String::new()
        } else {
            format!(" (inside {})", report.root.trim_end_matches('/'))
        }
    );
    println!("  albums    {:>8}", report.albums);
    if report.threads > 0 {
        println!("  threads   {:>8}", report.threads);
    }
    for (t, s) in &report.types {
        let range = match (s.first, s.last) {
            (Some(f), Some(l)) => format!("  {} → {}", f.date(), l.date()),
            _ => String::new(),
        };
        let bytes = if s.bytes > 0 {
            format!("  {}", indicatif::HumanBytes(s.bytes))
        } else {
            String::new()
        };
        println!("  {:<9} {:>8}{range}{bytes}", t.as_str(), s.count);
    }
    if report.problems.is_empty() {
        println!("Everything in it was read.");
    } else {
        println!("Could not read {} entries:", report.problems.len());
        for p in report.problems.iter().take(SHOWN_PROBLEMS) {
            println!("  {}: {}", p.entry, p.reason);
        }
        if report.problems.len() > SHOWN_PROBLEMS {
            println!(
                "  … and {} more (see --json)",
                report.problems.len() - SHOWN_PROBLEMS
            );
        }
    }
    Ok(0)
}
