//! What the SQLite and PostgreSQL stores share: the rows both read (decoded by sqlx's
//! `FromRow`, which is generic over the database), their conversion into the store's types,
//! and the units a listed page becomes. Only the SQL differs between the back-ends.

use std::str::FromStr;

use ferry_core::{Album, Container, MediaKind, Skipped};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{Group, ListedUnit, Siblings, Unit, UnitState};
use crate::job::{Job, JobState};
use crate::report::{Counts, Failure};
use crate::{EngineError, Result};

pub(super) const JOB_COLUMNS: &str = "id, owner, spec, state, reason, plan_source, plan_cursor, planned, created_at, updated_at, finished_at, types_skipped";
pub(super) const UNIT_COLUMNS: &str =
    "seq, source_index, album_id, record, container, name, state, attempts, token, sha256, bytes";
pub(super) const CONNECTION_COLUMNS: &str =
    "id, owner, name, service, account, settings, secret, created_at";

/// The journal's times: RFC 3339, UTC.
pub(super) fn now() -> String {
    OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_default()
}

/// Ids are UUIDs: anything else cannot match a job, and must not reach LIKE as a pattern.
pub(super) fn is_job_prefix(id: &str) -> bool {
    !id.is_empty() && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}

/// The job that `id` names among the (at most two) jobs whose id starts with it, in id order.
pub(super) fn pick_job(id: &str, rows: Vec<JobRecord>) -> Result<Job> {
    let mut rows = rows.into_iter();
    match (rows.next(), rows.next()) {
        (None, _) => Err(EngineError::NoSuchJob(id.to_string())),
        (Some(one), None) => one.decode(),
        (Some(exact), Some(_)) if exact.id == id => exact.decode(),
        _ => Err(EngineError::AmbiguousJob(id.to_string())),
    }
}

pub(super) fn name_taken(name: &str) -> EngineError {
    EngineError::Setup(format!(
        "a connection named '{name}' exists already; choose another --name or `ferry disconnect {name}` first"
    ))
}

pub(super) fn parse_kind(s: &str) -> Result<MediaKind> {
    match s {
        "photo" => Ok(MediaKind::Photo),
        "video" => Ok(MediaKind::Video),
        other => Err(EngineError::Store(format!("unknown media kind '{other}'"))),
    }
}

fn parse_state(s: &str) -> Result<UnitState> {
    UnitState::parse(s).ok_or_else(|| EngineError::Store(format!("unknown unit state '{s}'")))
}

#[derive(sqlx::FromRow)]
pub(super) struct JobRecord {
    id: String,
    owner: String,
    spec: String,
    state: String,
    reason: Option<String>,
    plan_source: i64,
    plan_cursor: Option<String>,
    planned: i64,
    created_at: String,
    updated_at: String,
    finished_at: Option<String>,
    types_skipped: Option<String>,
}

impl JobRecord {
    pub(super) fn decode(self) -> Result<Job> {
        Ok(Job {
            id: self.id,
            owner: self.owner,
            spec: serde_json::from_str(&self.spec)?,
            state: JobState::from_str(&self.state).map_err(EngineError::Store)?,
            reason: self.reason,
            plan_source: self.plan_source as usize,
            plan_cursor: self.plan_cursor,
            planned: self.planned != 0,
            created_at: self.created_at,
            updated_at: self.updated_at,
            finished_at: self.finished_at,
            types_skipped: match self.types_skipped {
                Some(json) => serde_json::from_str(&json)?,
                None => Vec::new(),
            },
        })
    }
}

pub(super) fn jobs(rows: Vec<JobRecord>) -> Result<Vec<Job>> {
    rows.into_iter().map(JobRecord::decode).collect()
}

#[derive(sqlx::FromRow)]
pub(super) struct UnitRecord {
    seq: i64,
    source_index: i64,
    album_id: String,
    record: String,
    container: Option<String>,
    name: Option<String>,
    state: String,
    attempts: i64,
    token: Option<String>,
    sha256: Option<String>,
    bytes: Option<i64>,
}

pub(super) fn units(rows: Vec<UnitRecord>) -> Result<Vec<Unit>> {
    rows.into_iter()
        .map(|r| {
            Ok(Unit {
                seq: r.seq,
                source_index: r.source_index as usize,
                album_id: r.album_id,
                item: serde_json::from_str(&r.record)?,
                container: r.container.unwrap_or_default(),
                name: r.name.unwrap_or_default(),
                state: parse_state(&r.state)?,
                attempts: r.attempts as u32,
                token: r.token,
                sha256: r.sha256,
                bytes: r.bytes.map(|b| b as u64),
            })
        })
        .collect()
}

#[derive(sqlx::FromRow)]
pub(super) struct AlbumRecord {
    source_index: i64,
    record: String,
}

pub(super) fn albums(rows: Vec<AlbumRecord>) -> Result<Vec<(usize, Album)>> {
    rows.into_iter()
        .map(|r| Ok((r.source_index as usize, serde_json::from_str(&r.record)?)))
        .collect()
}

#[derive(sqlx::FromRow)]
pub(super) struct GroupRecord {
    source_index: i64,
    album_id: String,
    kind: String,
}

pub(super) fn groups(rows: Vec<GroupRecord>) -> Result<Vec<Group>> {
    rows.into_iter()
        .map(|r| {
            Ok(Group {
                source_index: r.source_index as usize,
                album_id: r.album_id,
                kind: parse_kind(&r.kind)?,
            })
        })
        .collect()
}

#[derive(sqlx::FromRow)]
pub(super) struct ContainerRecord {
    key: String,
    spec: String,
    dest_id: Option<String>,
}

pub(super) fn containers(
    rows: Vec<ContainerRecord>,
) -> Result<Vec<(String, Container, Option<String>)>> {
    rows.into_iter()
        .map(|r| {
            let spec: ContainerJson = serde_json::from_str(&r.spec)?;
            Ok((r.key, spec.into(), r.dest_id))
        })
        .collect()
}

/// A container from its journal form (`containers.spec`, `landings.container_spec`).
pub(crate) fn container_from_json(spec: &str) -> Result<Container> {
    let spec: ContainerJson = serde_json::from_str(spec)?;
    Ok(spec.into())
}

pub(super) fn container_json(container: &Container) -> Result<String> {
    Ok(serde_json::to_string(&ContainerJson::from(container))?)
}

#[derive(sqlx::FromRow)]
pub(super) struct SiblingRecord {
    seq: i64,
    state: String,
    dest_id: Option<String>,
    sha256: Option<String>,
    bytes: Option<i64>,
}

/// How the other units of `seq`'s item stand, from their rows in journal order.
pub(super) fn siblings(seq: i64, rows: Vec<SiblingRecord>) -> Siblings {
    let mut siblings = Siblings::default();
    for row in rows {
        match row.state.as_str() {
            "done" if siblings.landed.is_none() => {
                if let (Some(dest), Some(sha), Some(bytes)) = (row.dest_id, row.sha256, row.bytes) {
                    siblings.landed = Some((dest, sha, bytes as u64));
                }
            }
            "pending" | "staged" if row.seq < seq => siblings.earlier_unsettled = true,
            _ => {}
        }
    }
    siblings
}

/// Units per state and their bytes (`SUM(...)` cast to a 64-bit integer by the SQL).
#[derive(sqlx::FromRow)]
pub(super) struct CountRecord {
    state: String,
    n: i64,
    b: i64,
}

pub(super) fn counts(rows: Vec<CountRecord>) -> Counts {
    let mut counts = Counts::default();
    for row in rows {
        let n = row.n as u64;
        let bytes = row.b as u64;
        counts.total += n;
        counts.total_bytes += bytes;
        match UnitState::parse(&row.state) {
            Some(UnitState::Done) => {
                counts.done += n;
                counts.bytes += bytes;
            }
            // Counted on the job, not journalled as units: see the `landings` table.
            None if row.state == "unchanged" => {
                counts.done += n;
                counts.bytes += bytes;
                counts.unchanged += n;
                counts.unchanged_bytes += bytes;
            }
            Some(UnitState::Skipped) => counts.skipped += n,
            Some(UnitState::Failed) => counts.failed += n,
            _ => counts.pending += n,
        }
    }
    counts
}

#[derive(sqlx::FromRow)]
pub(super) struct FailureRecord {
    source_id: String,
    reason: Option<String>,
}

pub(super) fn failures(rows: Vec<FailureRecord>) -> Vec<Failure> {
    rows.into_iter()
        .map(|r| Failure {
            item: r.source_id,
            reason: r.reason.unwrap_or_default(),
        })
        .collect()
}

/// One row of `units` that a listed page adds.
pub(super) struct NewUnit<'a> {
    pub seq: i64,
    pub source_id: &'a str,
    pub album_id: &'a str,
    /// Listed media: (kind, file name, JSON record, size). `None` for a skipped entry.
    pub media: Option<(MediaKind, &'a str, &'a str, Option<i64>)>,
    /// The container key and name an earlier job on the route gave it.
    pub place: Option<(&'a str, &'a str)>,
    /// Why a skipped entry was skipped.
    pub reason: Option<&'a str>,
}

/// The units of one listed page, numbered on from `last_seq`, then the skipped entries.
pub(super) fn page_units<'a>(
    last_seq: i64,
    listed: &'a [ListedUnit<'a>],
    skipped: &'a [Skipped],
) -> Vec<NewUnit<'a>> {
    let mut seq = last_seq;
    let mut units = Vec::with_capacity(listed.len() + skipped.len());
    for unit in listed {
        let item = unit.item;
        // The motion half of a live photo is placed with the photos, next to its still.
        let kind = if item.live_photo_of.is_some() {
            MediaKind::Photo
        } else {
            item.kind
        };
        seq += 1;
        units.push(NewUnit {
            seq,
            source_id: &item.id,
            album_id: unit.album_id,
            media: Some((
                kind,
                &item.file_name,
                &unit.record,
                item.size.map(|s| s as i64),
            )),
            place: unit
                .place
                .as_ref()
                .map(|p| (p.container.as_str(), p.name.as_str())),
            reason: None,
        });
    }
    for entry in skipped {
        seq += 1;
        units.push(NewUnit {
            seq,
            source_id: &entry.id,
            album_id: "",
            media: None,
            place: None,
            reason: Some(&entry.reason),
        });
    }
    units
}

/// The journal's JSON form of a [`Container`] (core keeps its types free of storage concerns).
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ContainerJson {
    Folder {
        path: Vec<String>,
    },
    Album {
        title: String,
        description: Option<String>,
    },
    Library,
}

impl From<&Container> for ContainerJson {
    fn from(c: &Container) -> Self {
        match c {
            Container::Folder(path) => ContainerJson::Folder { path: path.clone() },
            Container::Album { title, description } => ContainerJson::Album {
                title: title.clone(),
                description: description.clone(),
            },
            Container::Library => ContainerJson::Library,
        }
    }
}

impl From<ContainerJson> for Container {
    fn from(c: ContainerJson) -> Self {
        match c {
            ContainerJson::Folder { path } => Container::Folder(path),
            ContainerJson::Album { title, description } => Container::Album { title, description },
            ContainerJson::Library => Container::Library,
        }
    }
}

/// `(state, count)` rows as job states.
pub(super) fn job_states(rows: Vec<(String, i64)>) -> Result<Vec<(JobState, u64)>> {
    rows.into_iter()
        .map(|(state, n)| {
            let state = state.parse::<JobState>().map_err(EngineError::Store)?;
            Ok((state, u64::try_from(n).unwrap_or(0)))
        })
        .collect()
}
