//! The SQLite journal: one file in the data dir, WAL mode, migrations embedded.
//!
//! `synchronous=NORMAL` with WAL keeps every committed transaction across a killed process
//! (the OS still has it); after a power cut the last transactions may be lost but the file
//! stays consistent, and `find` on the destination recognises what those transactions had
//! recorded. Writes are batched into few transactions: the journal must not be the bottleneck.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use ferry_core::{Album, Container, MediaItem, MediaKind, Skipped};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Row, SqlitePool};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{
    AccountRow, ArchiveReady, ArchiveRow, AuditEntry, ConnectionRow, Group, Notice, Outcome,
    SessionRow, Siblings, StagedRow, Store, Unit, UnitState,
};
use crate::job::{Job, JobId, JobSpec, JobState};
use crate::report::{Counts, Failure};
use crate::{EngineError, Result};

static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating when missing) the journal at `path` and brings its schema up to date.
    pub async fn open(path: &Path) -> Result<SqliteStore> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        MIGRATIONS.run(&pool).await?;
        Ok(SqliteStore { pool })
    }

    /// A journal that lives in memory only (for `--dry-run`).
    pub async fn in_memory() -> Result<SqliteStore> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")?.foreign_keys(true);
        // One connection: each in-memory connection would be a database of its own.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await?;
        MIGRATIONS.run(&pool).await?;
        Ok(SqliteStore { pool })
    }
}

fn now() -> String {
    OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_default()
}

fn kind_str(kind: MediaKind) -> &'static str {
    kind.as_str()
}

fn parse_kind(s: &str) -> Result<MediaKind> {
    match s {
        "photo" => Ok(MediaKind::Photo),
        "video" => Ok(MediaKind::Video),
        other => Err(EngineError::Store(format!("unknown media kind '{other}'"))),
    }
}

fn job_from_row(row: &SqliteRow) -> Result<Job> {
    let spec: String = row.try_get("spec")?;
    let state: String = row.try_get("state")?;
    Ok(Job {
        id: row.try_get("id")?,
        owner: row.try_get("owner")?,
        spec: serde_json::from_str(&spec)?,
        state: JobState::from_str(&state).map_err(EngineError::Store)?,
        reason: row.try_get("reason")?,
        plan_source: row.try_get::<i64, _>("plan_source")? as usize,
        plan_cursor: row.try_get("plan_cursor")?,
        planned: row.try_get::<i64, _>("planned")? != 0,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        finished_at: row.try_get("finished_at")?,
    })
}

fn unit_from_row(row: &SqliteRow) -> Result<Unit> {
    let record: String = row.try_get("record")?;
    let item: MediaItem = serde_json::from_str(&record)?;
    let state: String = row.try_get("state")?;
    Ok(Unit {
        seq: row.try_get("seq")?,
        source_index: row.try_get::<i64, _>("source_index")? as usize,
        album_id: row.try_get("album_id")?,
        item,
        container: row
            .try_get::<Option<String>, _>("container")?
            .unwrap_or_default(),
        name: row
            .try_get::<Option<String>, _>("name")?
            .unwrap_or_default(),
        state: UnitState::parse(&state)
            .ok_or_else(|| EngineError::Store(format!("unknown unit state '{state}'")))?,
        attempts: row.try_get::<i64, _>("attempts")? as u32,
        token: row.try_get("token")?,
        sha256: row.try_get("sha256")?,
        bytes: row.try_get::<Option<i64>, _>("bytes")?.map(|b| b as u64),
    })
}

const JOB_COLUMNS: &str = "id, owner, spec, state, reason, plan_source, plan_cursor, planned, created_at, updated_at, finished_at";

#[async_trait]
impl Store for SqliteStore {
    async fn create_job(&self, owner: &str, spec: &JobSpec) -> Result<Job> {
        let id = uuid::Uuid::now_v7().to_string();
        let at = now();
        sqlx::query(
            "INSERT INTO jobs (id, owner, spec, state, created_at, updated_at) VALUES (?, ?, ?, 'planning', ?, ?)",
        )
        .bind(&id)
        .bind(owner)
        .bind(serde_json::to_string(spec)?)
        .bind(&at)
        .bind(&at)
        .execute(&self.pool)
        .await?;
        self.job(&id).await
    }

    async fn job(&self, id: &str) -> Result<Job> {
        // Ids are UUIDs: anything else cannot match, and must not reach LIKE as a pattern.
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
            return Err(EngineError::NoSuchJob(id.to_string()));
        }
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE id LIKE ? || '%' ORDER BY id LIMIT 2"
        )))
        .bind(id.to_ascii_lowercase())
        .fetch_all(&self.pool)
        .await?;
        match rows.as_slice() {
            [] => Err(EngineError::NoSuchJob(id.to_string())),
            [one] => job_from_row(one),
            [exact, ..] if exact.try_get::<String, _>("id")? == id => job_from_row(exact),
            _ => Err(EngineError::AmbiguousJob(id.to_string())),
        }
    }

    async fn jobs(&self, owner: &str) -> Result<Vec<Job>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE owner = ? ORDER BY id DESC"
        )))
        .bind(owner)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(job_from_row).collect()
    }

    async fn unfinished_jobs(&self) -> Result<Vec<Job>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE state NOT IN ('done', 'cancelled') ORDER BY id"
        )))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(job_from_row).collect()
    }

    async fn job_states(&self) -> Result<Vec<(JobState, u64)>> {
        let rows = sqlx::query("SELECT state, COUNT(*) AS n FROM jobs GROUP BY state ORDER BY state")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                let state: String = row.try_get("state")?;
                let n: i64 = row.try_get("n")?;
                Ok((state.parse().map_err(EngineError::Store)?, n as u64))
            })
            .collect()
    }

    async fn unfinished_job(&self, owner: &str, spec: &JobSpec) -> Result<Option<Job>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE owner = ? AND spec = ? AND state NOT IN ('done', 'cancelled') ORDER BY id DESC LIMIT 1"
        )))
        .bind(owner)
        .bind(serde_json::to_string(spec)?)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(job_from_row).transpose()
    }

    async fn set_state(&self, job: &JobId, state: JobState, reason: Option<&str>) -> Result<()> {
        let at = now();
        let finished = state.is_final().then(|| at.clone());
        sqlx::query(
            "UPDATE jobs SET state = ?, reason = ?, updated_at = ?, finished_at = ? WHERE id = ?",
        )
        .bind(state.as_str())
        .bind(reason)
        .bind(&at)
        .bind(finished)
        .bind(job)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn save_page(
        &self,
        job: &JobId,
        source_index: usize,
        albums: &[Album],
        items: &[MediaItem],
        skipped: &[Skipped],
        next: Option<&str>,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for album in albums {
            sqlx::query(
                "INSERT INTO albums (job_id, source_index, album_id, record) VALUES (?, ?, ?, ?)
                 ON CONFLICT DO NOTHING",
            )
            .bind(job)
            .bind(source_index as i64)
            .bind(&album.id)
            .bind(serde_json::to_string(album)?)
            .execute(&mut *tx)
            .await?;
        }
        let mut seq: i64 =
            sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM units WHERE job_id = ?")
                .bind(job)
                .fetch_one(&mut *tx)
                .await?;
        for item in items {
            let record = serde_json::to_string(item)?;
            // An item goes to each of its albums (or to none).
            let albums: Vec<&str> = if item.albums.is_empty() {
                vec![""]
            } else {
                item.albums.iter().map(String::as_str).collect()
            };
            for album in albums {
                seq += 1;
                sqlx::query(
                    "INSERT INTO units (job_id, seq, source_index, source_id, album_id, kind, file_name, record, size, state)
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending') ON CONFLICT DO NOTHING",
                )
                .bind(job)
                .bind(seq)
                .bind(source_index as i64)
                .bind(&item.id)
                .bind(album)
                // The motion half of a live photo is placed with the photos, next to its still.
                .bind(kind_str(if item.live_photo_of.is_some() {
                    MediaKind::Photo
                } else {
                    item.kind
                }))
                .bind(&item.file_name)
                .bind(&record)
                .bind(item.size.map(|s| s as i64))
                .execute(&mut *tx)
                .await?;
            }
        }
        for entry in skipped {
            seq += 1;
            sqlx::query(
                "INSERT INTO units (job_id, seq, source_index, source_id, state, reason)
                 VALUES (?, ?, ?, ?, 'skipped', ?) ON CONFLICT DO NOTHING",
            )
            .bind(job)
            .bind(seq)
            .bind(source_index as i64)
            .bind(&entry.id)
            .bind(&entry.reason)
            .execute(&mut *tx)
            .await?;
        }
        let (plan_source, cursor) = match next {
            Some(cursor) => (source_index, Some(cursor)),
            None => (source_index + 1, None),
        };
        sqlx::query(
            "UPDATE jobs SET plan_source = ?, plan_cursor = ?, updated_at = ? WHERE id = ?",
        )
        .bind(plan_source as i64)
        .bind(cursor)
        .bind(now())
        .bind(job)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn albums(&self, job: &JobId) -> Result<Vec<(usize, Album)>> {
        let rows = sqlx::query("SELECT source_index, record FROM albums WHERE job_id = ? ORDER BY source_index, album_id")
            .bind(job)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                let record: String = row.try_get("record")?;
                Ok((
                    row.try_get::<i64, _>("source_index")? as usize,
                    serde_json::from_str(&record)?,
                ))
            })
            .collect()
    }

    async fn groups(&self, job: &JobId) -> Result<Vec<Group>> {
        let rows = sqlx::query(
            "SELECT DISTINCT source_index, album_id, kind FROM units
             WHERE job_id = ? AND kind IS NOT NULL ORDER BY source_index, album_id, kind",
        )
        .bind(job)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Group {
                    source_index: row.try_get::<i64, _>("source_index")? as usize,
                    album_id: row.try_get("album_id")?,
                    kind: parse_kind(&row.try_get::<String, _>("kind")?)?,
                })
            })
            .collect()
    }

    async fn assign_container(
        &self,
        job: &JobId,
        group: &Group,
        key: &str,
        container: &Container,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO containers (job_id, key, spec) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(job)
        .bind(key)
        .bind(serde_json::to_string(&ContainerJson::from(container))?)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE units SET container = ? WHERE job_id = ? AND source_index = ? AND album_id = ? AND kind = ?",
        )
        .bind(key)
        .bind(job)
        .bind(group.source_index as i64)
        .bind(&group.album_id)
        .bind(kind_str(group.kind))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn container_units(&self, job: &JobId, key: &str) -> Result<Vec<i64>> {
        let rows = sqlx::query(
            "SELECT seq FROM units WHERE job_id = ? AND container = ? AND kind IS NOT NULL ORDER BY seq",
        )
        .bind(job)
        .bind(key)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| Ok(row.try_get::<i64, _>("seq")?))
            .collect()
    }

    async fn move_units(
        &self,
        job: &JobId,
        seqs: &[i64],
        key: &str,
        container: &Container,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO containers (job_id, key, spec) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(job)
        .bind(key)
        .bind(serde_json::to_string(&ContainerJson::from(container))?)
        .execute(&mut *tx)
        .await?;
        for seq in seqs {
            sqlx::query("UPDATE units SET container = ? WHERE job_id = ? AND seq = ?")
                .bind(key)
                .bind(job)
                .bind(seq)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn containers(&self, job: &JobId) -> Result<Vec<(String, Container, Option<String>)>> {
        let rows =
            sqlx::query("SELECT key, spec, dest_id FROM containers WHERE job_id = ? ORDER BY key")
                .bind(job)
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|row| {
                let spec: String = row.try_get("spec")?;
                let spec: ContainerJson = serde_json::from_str(&spec)?;
                Ok((row.try_get("key")?, spec.into(), row.try_get("dest_id")?))
            })
            .collect()
    }

    async fn wanted_names(&self, job: &JobId, container: &str) -> Result<Vec<(i64, String)>> {
        let rows = sqlx::query(
            "SELECT seq, file_name FROM units WHERE job_id = ? AND container = ?
             ORDER BY source_index, source_id, album_id",
        )
        .bind(job)
        .bind(container)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("seq")?, row.try_get("file_name")?)))
            .collect()
    }

    async fn set_names(&self, job: &JobId, names: &[(i64, String)]) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for (seq, name) in names {
            sqlx::query("UPDATE units SET name = ? WHERE job_id = ? AND seq = ?")
                .bind(name)
                .bind(job)
                .bind(seq)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn mark_planned(&self, job: &JobId) -> Result<()> {
        sqlx::query("UPDATE jobs SET planned = 1, state = 'running', updated_at = ? WHERE id = ?")
            .bind(now())
            .bind(job)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn set_container_dest(&self, job: &JobId, key: &str, dest_id: &str) -> Result<()> {
        sqlx::query("UPDATE containers SET dest_id = ? WHERE job_id = ? AND key = ?")
            .bind(dest_id)
            .bind(job)
            .bind(key)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn sibling_units(&self, job: &JobId, unit: &Unit) -> Result<Siblings> {
        let rows = sqlx::query(
            "SELECT seq, state, dest_id, sha256, bytes FROM units
             WHERE job_id = ? AND source_index = ? AND source_id = ? AND seq <> ?
             ORDER BY seq",
        )
        .bind(job)
        .bind(unit.source_index as i64)
        .bind(&unit.item.id)
        .bind(unit.seq)
        .fetch_all(&self.pool)
        .await?;
        let mut siblings = Siblings::default();
        for row in rows {
            let seq: i64 = row.try_get("seq")?;
            let state: String = row.try_get("state")?;
            match state.as_str() {
                "done" if siblings.landed.is_none() => {
                    let dest: Option<String> = row.try_get("dest_id")?;
                    let sha: Option<String> = row.try_get("sha256")?;
                    let bytes: Option<i64> = row.try_get("bytes")?;
                    if let (Some(dest), Some(sha), Some(bytes)) = (dest, sha, bytes) {
                        siblings.landed = Some((dest, sha, bytes as u64));
                    }
                }
                "pending" | "staged" if seq < unit.seq => siblings.earlier_unsettled = true,
                _ => {}
            }
        }
        Ok(siblings)
    }

    async fn units_to_move(&self, job: &JobId, after_seq: i64, limit: u32) -> Result<Vec<Unit>> {
        let rows = sqlx::query(
            "SELECT seq, source_index, album_id, record, container, name, state, attempts, token, sha256, bytes
             FROM units WHERE job_id = ? AND state IN ('pending', 'staged') AND seq > ?
             ORDER BY seq LIMIT ?",
        )
        .bind(job)
        .bind(after_seq)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(unit_from_row).collect()
    }

    async fn mark_staged(&self, job: &JobId, rows: &[StagedRow]) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for row in rows {
            sqlx::query(
                "UPDATE units SET state = 'staged', token = ?, sha256 = ?, bytes = ? WHERE job_id = ? AND seq = ?",
            )
            .bind(&row.token)
            .bind(&row.sha256)
            .bind(row.bytes as i64)
            .bind(job)
            .bind(row.seq)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn record_outcomes(&self, job: &JobId, outcomes: &[Outcome]) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for o in outcomes {
            sqlx::query(
                "UPDATE units SET state = ?, reason = ?, attempts = ?, dest_id = COALESCE(?, dest_id),
                 sha256 = COALESCE(?, sha256), bytes = COALESCE(?, bytes),
                 token = CASE WHEN ? = 'staged' THEN token ELSE NULL END
                 WHERE job_id = ? AND seq = ?",
            )
            .bind(o.state.as_str())
            .bind(&o.reason)
            .bind(o.attempts as i64)
            .bind(&o.dest_id)
            .bind(&o.sha256)
            .bind(o.bytes.map(|b| b as i64))
            .bind(o.state.as_str())
            .bind(job)
            .bind(o.seq)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn retry_failed(&self, job: &JobId) -> Result<u64> {
        let done = sqlx::query(
            "UPDATE units SET state = 'pending', reason = NULL, attempts = 0 WHERE job_id = ? AND state = 'failed'",
        )
        .bind(job)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    async fn counts(&self, job: &JobId) -> Result<Counts> {
        let rows = sqlx::query(
            "SELECT state, COUNT(*) AS n, COALESCE(SUM(COALESCE(bytes, size, 0)), 0) AS b
             FROM units WHERE job_id = ? GROUP BY state",
        )
        .bind(job)
        .fetch_all(&self.pool)
        .await?;
        let mut counts = Counts::default();
        for row in rows {
            let state: String = row.try_get("state")?;
            let n = row.try_get::<i64, _>("n")? as u64;
            let bytes = row.try_get::<i64, _>("b")? as u64;
            counts.total += n;
            counts.total_bytes += bytes;
            match UnitState::parse(&state) {
                Some(UnitState::Done) => {
                    counts.done += n;
                    counts.bytes += bytes;
                }
                Some(UnitState::Skipped) => counts.skipped += n,
                Some(UnitState::Failed) => counts.failed += n,
                _ => counts.pending += n,
            }
        }
        Ok(counts)
    }

    async fn failures(&self, job: &JobId, limit: u32) -> Result<Vec<Failure>> {
        let rows = sqlx::query(
            "SELECT source_id, reason FROM units WHERE job_id = ? AND state = 'failed' ORDER BY seq LIMIT ?",
        )
        .bind(job)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Failure {
                    item: row.try_get("source_id")?,
                    reason: row
                        .try_get::<Option<String>, _>("reason")?
                        .unwrap_or_default(),
                })
            })
            .collect()
    }

    async fn skip_reasons(&self, job: &JobId) -> Result<Vec<(String, u64)>> {
        let rows = sqlx::query(
            "SELECT COALESCE(reason, '') AS reason, COUNT(*) AS n FROM units
             WHERE job_id = ? AND state = 'skipped' GROUP BY reason ORDER BY n DESC, reason",
        )
        .bind(job)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("reason")?, row.try_get::<i64, _>("n")? as u64)))
            .collect()
    }

    async fn add_connection(&self, row: &ConnectionRow) -> Result<()> {
        let at = now();
        let done = sqlx::query(
            "INSERT INTO connections (id, owner, name, service, account, settings, secret, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (owner, name) DO NOTHING",
        )
        .bind(&row.id)
        .bind(&row.owner)
        .bind(&row.name)
        .bind(&row.service)
        .bind(&row.account)
        .bind(&row.settings)
        .bind(&row.sealed_secret)
        .bind(&at)
        .bind(&at)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(EngineError::Setup(format!(
                "a connection named '{}' exists already; choose another --name or `ferry disconnect {}` first",
                row.name, row.name
            )));
        }
        Ok(())
    }

    async fn connections(&self, owner: &str) -> Result<Vec<ConnectionRow>> {
        let rows = sqlx::query(
            "SELECT id, owner, name, service, account, settings, secret, created_at FROM connections
             WHERE owner = ? ORDER BY name",
        )
        .bind(owner)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(connection_from_row).collect()
    }

    async fn connection(&self, owner: &str, name: &str) -> Result<Option<ConnectionRow>> {
        let row = sqlx::query(
            "SELECT id, owner, name, service, account, settings, secret, created_at FROM connections
             WHERE owner = ? AND name = ?",
        )
        .bind(owner)
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(connection_from_row).transpose()
    }

    async fn update_connection_secret(&self, id: &str, sealed: &[u8]) -> Result<()> {
        sqlx::query("UPDATE connections SET secret = ?, updated_at = ? WHERE id = ?")
            .bind(sealed)
            .bind(now())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn update_connection(
        &self,
        id: &str,
        account: &str,
        settings: &str,
        sealed: &[u8],
    ) -> Result<()> {
        sqlx::query(
            "UPDATE connections SET account = ?, settings = ?, secret = ?, updated_at = ? WHERE id = ?",
        )
        .bind(account)
        .bind(settings)
        .bind(sealed)
        .bind(now())
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn delete_connection(&self, owner: &str, name: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM connections WHERE owner = ? AND name = ?")
            .bind(owner)
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn create_account(&self, row: &AccountRow) -> Result<bool> {
        // ON CONFLICT on the unique e-mail rather than a check first: two sign-ups racing for
        // one address get one account and one refusal.
        let done = sqlx::query(
            "INSERT INTO accounts (id, email, password_hash, created_at) VALUES (?, ?, ?, ?)
             ON CONFLICT (email) DO NOTHING",
        )
        .bind(&row.id)
        .bind(&row.email)
        .bind(&row.password_hash)
        .bind(&row.created_at)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn account(&self, id: &str) -> Result<Option<AccountRow>> {
        let row =
            sqlx::query("SELECT id, email, password_hash, created_at FROM accounts WHERE id = ?")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        row.as_ref().map(account_from_row).transpose()
    }

    async fn account_by_email(&self, email: &str) -> Result<Option<AccountRow>> {
        let row = sqlx::query(
            "SELECT id, email, password_hash, created_at FROM accounts WHERE email = ?",
        )
        .bind(email)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(account_from_row).transpose()
    }

    async fn create_session(&self, row: &SessionRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO sessions (token_hash, account_id, created_at, expires_at, confirmed_at)
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(&row.token_hash)
        .bind(&row.account_id)
        .bind(row.created_at)
        .bind(row.expires_at)
        .bind(row.confirmed_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn session(&self, token_hash: &str, now: i64) -> Result<Option<SessionRow>> {
        let row = sqlx::query(
            "SELECT token_hash, account_id, created_at, expires_at, confirmed_at FROM sessions
             WHERE token_hash = ? AND expires_at > ?",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(SessionRow {
            token_hash: row.try_get("token_hash")?,
            account_id: row.try_get("account_id")?,
            created_at: row.try_get("created_at")?,
            expires_at: row.try_get("expires_at")?,
            confirmed_at: row.try_get("confirmed_at")?,
        }))
    }

    async fn confirm_session(&self, token_hash: &str, at: i64) -> Result<()> {
        sqlx::query("UPDATE sessions SET confirmed_at = ? WHERE token_hash = ?")
            .bind(at)
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn delete_session(&self, token_hash: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM sessions WHERE token_hash = ?")
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_expired_sessions(&self, now: i64) -> Result<u64> {
        let done = sqlx::query("DELETE FROM sessions WHERE expires_at <= ?")
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    async fn audit(&self, account_id: &str, event: &str, detail: &str) -> Result<()> {
        sqlx::query("INSERT INTO audit_log (account_id, at, event, detail) VALUES (?, ?, ?, ?)")
            .bind(account_id)
            .bind(now())
            .bind(event)
            .bind(detail)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn audit_log(&self, account_id: &str, limit: u32) -> Result<Vec<AuditEntry>> {
        let rows = sqlx::query(
            "SELECT seq, at, event, detail FROM audit_log WHERE account_id = ?
             ORDER BY seq DESC LIMIT ?",
        )
        .bind(account_id)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(AuditEntry {
                    seq: row.try_get("seq")?,
                    at: row.try_get("at")?,
                    event: row.try_get("event")?,
                    detail: row.try_get("detail")?,
                })
            })
            .collect()
    }

    async fn create_archive(&self, row: &ArchiveRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO archives (id, owner, state, request, created_at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(&row.id)
        .bind(&row.owner)
        .bind(&row.state)
        .bind(&row.request)
        .bind(row.created_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn archive(&self, id: &str) -> Result<Option<ArchiveRow>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ARCHIVE_COLUMNS} FROM archives WHERE id = ?"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(archive_from_row).transpose()
    }

    async fn archives(&self, owner: &str) -> Result<Vec<ArchiveRow>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ARCHIVE_COLUMNS} FROM archives WHERE owner = ? ORDER BY id DESC"
        )))
        .bind(owner)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(archive_from_row).collect()
    }

    async fn building_archives(&self) -> Result<Vec<ArchiveRow>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ARCHIVE_COLUMNS} FROM archives WHERE state = 'building' ORDER BY id"
        )))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(archive_from_row).collect()
    }

    async fn archive_ready(&self, id: &str, ready: &ArchiveReady) -> Result<()> {
        sqlx::query(
            "UPDATE archives SET state = 'ready', path = ?, size = ?, sha256 = ?, summary = ?,
             ready_at = ?, expires_at = ?, error = NULL WHERE id = ?",
        )
        .bind(&ready.path)
        .bind(ready.size as i64)
        .bind(&ready.sha256)
        .bind(&ready.summary)
        .bind(ready.ready_at)
        .bind(ready.expires_at)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn archive_failed(&self, id: &str, error: &str) -> Result<()> {
        sqlx::query("UPDATE archives SET state = 'failed', error = ? WHERE id = ?")
            .bind(error)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn due_archives(&self, now: i64) -> Result<Vec<ArchiveRow>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ARCHIVE_COLUMNS} FROM archives WHERE state = 'ready' AND expires_at <= ? ORDER BY id"
        )))
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(archive_from_row).collect()
    }

    async fn archive_expired(&self, id: &str) -> Result<()> {
        sqlx::query("UPDATE archives SET state = 'expired', path = NULL WHERE id = ?")
            .bind(id)
            .execute(&self.pool)
            .await?;
        sqlx::query("DELETE FROM download_tickets WHERE archive_id = ?")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn create_ticket(
        &self,
        ticket_hash: &str,
        archive_id: &str,
        owner: &str,
        expires_at: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO download_tickets (ticket_hash, archive_id, owner, expires_at) VALUES (?, ?, ?, ?)",
        )
        .bind(ticket_hash)
        .bind(archive_id)
        .bind(owner)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn spend_ticket(&self, ticket_hash: &str, now: i64) -> Result<Option<(String, String)>> {
        // One statement: two downloads racing on one ticket cannot both spend it.
        let row = sqlx::query(
            "UPDATE download_tickets SET used_at = ?
             WHERE ticket_hash = ? AND used_at IS NULL AND expires_at > ?
             RETURNING archive_id, owner",
        )
        .bind(now)
        .bind(ticket_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| Ok((r.try_get("archive_id")?, r.try_get("owner")?)))
            .transpose()
    }

    async fn notify(&self, owner: &str, text: &str, link: &str) -> Result<()> {
        sqlx::query("INSERT INTO notices (owner, at, text, link) VALUES (?, ?, ?, ?)")
            .bind(owner)
            .bind(now())
            .bind(text)
            .bind(link)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn notices(&self, owner: &str, limit: u32) -> Result<Vec<Notice>> {
        let rows = sqlx::query(
            "SELECT seq, at, text, link FROM notices WHERE owner = ? ORDER BY seq DESC LIMIT ?",
        )
        .bind(owner)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Notice {
                    seq: r.try_get("seq")?,
                    at: r.try_get("at")?,
                    text: r.try_get("text")?,
                    link: r.try_get("link")?,
                })
            })
            .collect()
    }
}

fn account_from_row(row: &SqliteRow) -> Result<AccountRow> {
    Ok(AccountRow {
        id: row.try_get("id")?,
        email: row.try_get("email")?,
        password_hash: row.try_get("password_hash")?,
        created_at: row.try_get("created_at")?,
    })
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

const ARCHIVE_COLUMNS: &str = "id, owner, state, request, path, size, sha256, summary, error, created_at, ready_at, expires_at";

fn archive_from_row(row: &SqliteRow) -> Result<ArchiveRow> {
    Ok(ArchiveRow {
        id: row.try_get("id")?,
        owner: row.try_get("owner")?,
        state: row.try_get("state")?,
        request: row.try_get("request")?,
        path: row.try_get("path")?,
        size: row.try_get::<Option<i64>, _>("size")?.map(|n| n as u64),
        sha256: row.try_get("sha256")?,
        summary: row.try_get("summary")?,
        error: row.try_get("error")?,
        created_at: row.try_get("created_at")?,
        ready_at: row.try_get("ready_at")?,
        expires_at: row.try_get("expires_at")?,
    })
}

fn connection_from_row(row: &SqliteRow) -> Result<ConnectionRow> {
    Ok(ConnectionRow {
        id: row.try_get("id")?,
        owner: row.try_get("owner")?,
        name: row.try_get("name")?,
        service: row.try_get("service")?,
        account: row.try_get("account")?,
        settings: row.try_get("settings")?,
        sealed_secret: row.try_get("secret")?,
        created_at: row.try_get("created_at")?,
    })
}
