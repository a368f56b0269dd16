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
use ferry_core::{Album, Container, MediaItem, Skipped};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{AssertSqlSafe, SqlitePool};

use super::rows::{
    self, ARCHIVE_COLUMNS, AlbumRecord, ArchiveRecord, CONNECTION_COLUMNS, ContainerRecord,
    CountRecord, FailureRecord, GroupRecord, JOB_COLUMNS, JobRecord, SiblingRecord, UNIT_COLUMNS,
    UnitRecord, now,
};
use super::{
    AccountRow, ArchiveReady, ArchiveRow, AuditEntry, ConnectionRow, EarlierLanding, Fence, Group,
    Notice, Outcome, SessionRow, Siblings, StagedRow, Store, Unit,
};
use crate::job::{Job, JobId, JobSpec, JobState};
use crate::report::{Counts, Failure};
use crate::{EngineError, Result};

static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// How long a statement waits for another connection's or process's write to finish. A busy
/// journal is a moment's wait, never a reason to fail: writes are short batches, so only a
/// stuck process holds the lock this long.
const BUSY_TIMEOUT: Duration = Duration::from_secs(300);

/// An exclusive lock on `<journal>.lock`, held while the schema is brought up to date.
struct MigrationLock {
    _file: std::fs::File,
}

impl MigrationLock {
    async fn take(journal: &Path) -> Result<MigrationLock> {
        let mut name = journal.as_os_str().to_owned();
        name.push(".lock");
        let path = std::path::PathBuf::from(name);
        let taken = tokio::task::spawn_blocking(move || {
            let mut options = std::fs::OpenOptions::new();
            options.create(true).truncate(false).write(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let file = options.open(&path)?;
            file.lock()?;
            Ok::<_, std::io::Error>(file)
        })
        .await
        .map_err(|e| EngineError::Store(e.to_string()))?;
        let file = taken.map_err(|e| {
            EngineError::Store(format!("cannot lock {}.lock: {e}", journal.display()))
        })?;
        Ok(MigrationLock { _file: file })
    }
}

#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating when missing) the journal at `path` and brings its schema up to date.
    ///
    /// Any number of processes may open the same journal at once: the first to take the lock
    /// file beside it migrates, the others wait and then find the schema current (sqlx takes
    /// no lock of its own on SQLite, so unguarded migrations race).
    pub async fn open(path: &Path) -> Result<SqliteStore> {
        create_private(path)?;
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        let lock = MigrationLock::take(path).await?;
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        MIGRATIONS.run(&pool).await?;
        drop(lock);
        Ok(SqliteStore { pool })
    }

    /// A write transaction that holds the write lock from its first statement.
    ///
    /// A deferred transaction that reads first and writes later must upgrade its lock, and in
    /// WAL mode SQLite refuses that upgrade at once (`SQLITE_BUSY`, or `SQLITE_BUSY_SNAPSHOT`
    /// when another writer committed since the read) without waiting on `busy_timeout`.
    /// `BEGIN IMMEDIATE` waits for the lock up front, where the busy timeout applies.
    async fn write(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
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

/// Creates the journal file 0600 before SQLite opens it: SQLite makes `-wal` and `-shm` with
/// the main file's mode, so the whole journal stays the owner's whatever the umask. Files left
/// readable by an older ferry are made private too.
fn create_private(path: &Path) -> Result<()> {
    let failed = |e: std::io::Error| {
        EngineError::Setup(format!("cannot create the journal {}: {e}", path.display()))
    };
    ferry_core::private::ensure_file(path).map_err(failed)?;
    for suffix in ["-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        match ferry_core::private::restrict(Path::new(&name)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(failed(e)),
            _ => {}
        }
    }
    Ok(())
}

/// SQLite serves one process and has no work queue: nothing there hands out fences.
fn unfenced(fence: Option<Fence>) -> Result<()> {
    match fence {
        None => Ok(()),
        Some(_) => Err(EngineError::Setup(
            "fenced writes need the work queue, on PostgreSQL".into(),
        )),
    }
}

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
        if !rows::is_job_prefix(id) {
            return Err(EngineError::NoSuchJob(id.to_string()));
        }
        let found: Vec<JobRecord> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE id LIKE ? || '%' ORDER BY id LIMIT 2"
        )))
        .bind(id.to_ascii_lowercase())
        .fetch_all(&self.pool)
        .await?;
        rows::pick_job(id, found)
    }

    async fn jobs(&self, owner: &str) -> Result<Vec<Job>> {
        let found = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE owner = ? ORDER BY id DESC"
        )))
        .bind(owner)
        .fetch_all(&self.pool)
        .await?;
        rows::jobs(found)
    }

    async fn unfinished_jobs(&self) -> Result<Vec<Job>> {
        let found = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE state NOT IN ('done', 'cancelled') ORDER BY id"
        )))
        .fetch_all(&self.pool)
        .await?;
        rows::jobs(found)
    }

    async fn job_states(&self) -> Result<Vec<(JobState, u64)>> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT state, COUNT(*) FROM jobs GROUP BY state ORDER BY state")
                .fetch_all(&self.pool)
                .await?;
        super::rows::job_states(rows)
    }

    async fn unfinished_job(&self, owner: &str, spec: &JobSpec) -> Result<Option<Job>> {
        let found: Option<JobRecord> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE owner = ? AND spec = ? AND state NOT IN ('done', 'cancelled') ORDER BY id DESC LIMIT 1"
        )))
        .bind(owner)
        .bind(serde_json::to_string(spec)?)
        .fetch_optional(&self.pool)
        .await?;
        found.map(JobRecord::decode).transpose()
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
        let mut tx = self.write().await?;
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
        let last_seq: i64 =
            sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM units WHERE job_id = ?")
                .bind(job)
                .fetch_one(&mut *tx)
                .await?;
        // One statement for the page: each statement is a hop to sqlx's SQLite thread, and
        // 10,000 of them cost more than the inserts themselves.
        let units: Vec<serde_json::Value> = rows::page_units(last_seq, items, skipped)?
            .into_iter()
            .map(|unit| {
                let (kind, file_name, record, size) = match unit.media {
                    Some((kind, file_name, record, size)) => {
                        (Some(kind.as_str()), Some(file_name), Some(record), size)
                    }
                    None => (None, None, None, None),
                };
                serde_json::json!([
                    unit.seq,
                    unit.source_id,
                    unit.album_id,
                    kind,
                    file_name,
                    record,
                    size,
                    if kind.is_some() { "pending" } else { "skipped" },
                    unit.reason,
                ])
            })
            .collect();
        if !units.is_empty() {
            sqlx::query(
                "INSERT INTO units (job_id, seq, source_index, source_id, album_id, kind, file_name, record, size, state, reason)
                 SELECT ?1, u.value ->> 0, ?2, u.value ->> 1, u.value ->> 2, u.value ->> 3, u.value ->> 4,
                        u.value ->> 5, u.value ->> 6, u.value ->> 7, u.value ->> 8
                 FROM json_each(?3) AS u WHERE true ON CONFLICT DO NOTHING",
            )
            .bind(job)
            .bind(source_index as i64)
            .bind(serde_json::Value::Array(units).to_string())
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
        let found: Vec<AlbumRecord> = sqlx::query_as(
            "SELECT source_index, record FROM albums WHERE job_id = ? ORDER BY source_index, album_id",
        )
        .bind(job)
        .fetch_all(&self.pool)
        .await?;
        rows::albums(found)
    }

    async fn groups(&self, job: &JobId) -> Result<Vec<Group>> {
        let found: Vec<GroupRecord> = sqlx::query_as(
            "SELECT DISTINCT source_index, album_id, kind FROM units
             WHERE job_id = ? AND kind IS NOT NULL ORDER BY source_index, album_id, kind",
        )
        .bind(job)
        .fetch_all(&self.pool)
        .await?;
        rows::groups(found)
    }

    async fn assign_container(
        &self,
        job: &JobId,
        group: &Group,
        key: &str,
        container: &Container,
    ) -> Result<()> {
        let mut tx = self.write().await?;
        sqlx::query(
            "INSERT INTO containers (job_id, key, spec) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(job)
        .bind(key)
        .bind(rows::container_json(container)?)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE units SET container = ? WHERE job_id = ? AND source_index = ? AND album_id = ? AND kind = ?",
        )
        .bind(key)
        .bind(job)
        .bind(group.source_index as i64)
        .bind(&group.album_id)
        .bind(group.kind.as_str())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn container_units(&self, job: &JobId, key: &str) -> Result<Vec<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT seq FROM units WHERE job_id = ? AND container = ? AND kind IS NOT NULL ORDER BY seq",
        )
        .bind(job)
        .bind(key)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn move_units(
        &self,
        job: &JobId,
        seqs: &[i64],
        key: &str,
        container: &Container,
    ) -> Result<()> {
        let mut tx = self.write().await?;
        sqlx::query(
            "INSERT INTO containers (job_id, key, spec) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(job)
        .bind(key)
        .bind(rows::container_json(container)?)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE units SET container = ?1
             WHERE job_id = ?2 AND seq IN (SELECT value FROM json_each(?3))",
        )
        .bind(key)
        .bind(job)
        .bind(serde_json::to_string(seqs)?)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn containers(&self, job: &JobId) -> Result<Vec<(String, Container, Option<String>)>> {
        let found: Vec<ContainerRecord> = sqlx::query_as(
            "SELECT key, spec, dest_id FROM containers WHERE job_id = ? ORDER BY key",
        )
        .bind(job)
        .fetch_all(&self.pool)
        .await?;
        rows::containers(found)
    }

    async fn wanted_names(&self, job: &JobId, container: &str) -> Result<Vec<(i64, String)>> {
        Ok(sqlx::query_as(
            "SELECT seq, file_name FROM units WHERE job_id = ? AND container = ?
             ORDER BY source_index, source_id, album_id",
        )
        .bind(job)
        .bind(container)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn set_names(&self, job: &JobId, names: &[(i64, String)]) -> Result<()> {
        if names.is_empty() {
            return Ok(());
        }
        let mut tx = self.write().await?;
        sqlx::query(
            "WITH n AS MATERIALIZED (SELECT value ->> 0 AS seq, value ->> 1 AS name FROM json_each(?2))
             UPDATE units SET name = n.name FROM n WHERE units.job_id = ?1 AND units.seq = n.seq",
        )
        .bind(job)
        .bind(serde_json::to_string(names)?)
        .execute(&mut *tx)
        .await?;
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
        let found: Vec<SiblingRecord> = sqlx::query_as(
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
        Ok(rows::siblings(unit.seq, found))
    }

    async fn units_to_move(&self, job: &JobId, after_seq: i64, limit: u32) -> Result<Vec<Unit>> {
        let found: Vec<UnitRecord> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {UNIT_COLUMNS} FROM units WHERE job_id = ? AND state IN ('pending', 'staged') AND seq > ?
             ORDER BY seq LIMIT ?"
        )))
        .bind(job)
        .bind(after_seq)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows::units(found)
    }

    async fn earlier_records(
        &self,
        job: &JobId,
        source_index: usize,
        ids: &[String],
    ) -> Result<Vec<MediaItem>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        // The ids travel as one JSON array: one statement whatever their number.
        let found: Vec<(String, String)> = sqlx::query_as(
            "SELECT prev.source_id, prev.record
             FROM jobs cj
             JOIN jobs pj ON pj.id = (SELECT e.id FROM jobs e
                 WHERE e.owner = cj.owner AND e.spec = cj.spec AND e.id < cj.id
                 ORDER BY e.id DESC LIMIT 1)
             JOIN units prev ON prev.job_id = pj.id AND prev.source_index = ?2
             WHERE cj.id = ?1 AND prev.record IS NOT NULL AND prev.source_id IN (SELECT value FROM json_each(?3))
             ORDER BY prev.source_id",
        )
        .bind(job)
        .bind(source_index as i64)
        .bind(serde_json::to_string(ids)?)
        .fetch_all(&self.pool)
        .await?;
        rows::newest_records(found)
    }

    async fn earlier_landings(
        &self,
        job: &JobId,
        first: i64,
        last: i64,
    ) -> Result<Vec<EarlierLanding>> {
        let found: Vec<EarlierLanding> = sqlx::query_as(
            "SELECT cur.seq, prev.dest_id, prev.sha256, prev.bytes
             FROM jobs cj
             JOIN jobs pj ON pj.id = (SELECT e.id FROM jobs e
                 WHERE e.owner = cj.owner AND e.spec = cj.spec AND e.id < cj.id
                 ORDER BY e.id DESC LIMIT 1)
             JOIN units cur ON cur.job_id = cj.id
             JOIN units prev ON prev.job_id = pj.id AND prev.source_index = cur.source_index
                 AND prev.source_id = cur.source_id AND prev.album_id = cur.album_id
             WHERE cj.id = ? AND cur.seq BETWEEN ? AND ? AND cur.state = 'pending'
                 AND prev.state = 'done' AND prev.record = cur.record
                 AND prev.container = cur.container AND prev.name = cur.name
                 AND prev.dest_id IS NOT NULL AND prev.sha256 IS NOT NULL AND prev.bytes IS NOT NULL
             ORDER BY cur.seq",
        )
        .bind(job)
        .bind(first)
        .bind(last)
        .fetch_all(&self.pool)
        .await?;
        Ok(found)
    }

    async fn mark_staged(
        &self,
        job: &JobId,
        staged: &[StagedRow],
        fence: Option<Fence>,
    ) -> Result<()> {
        unfenced(fence)?;
        if staged.is_empty() {
            return Ok(());
        }
        let rows: Vec<_> = staged
            .iter()
            .map(|row| (row.seq, &row.token, &row.sha256, row.bytes))
            .collect();
        let mut tx = self.write().await?;
        sqlx::query(
            "WITH s AS MATERIALIZED (SELECT value ->> 0 AS seq, value ->> 1 AS token,
                     value ->> 2 AS sha256, value ->> 3 AS bytes FROM json_each(?2))
             UPDATE units SET state = 'staged', token = s.token, sha256 = s.sha256, bytes = s.bytes
             FROM s WHERE units.job_id = ?1 AND units.seq = s.seq",
        )
        .bind(job)
        .bind(serde_json::to_string(&rows)?)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn record_outcomes(
        &self,
        job: &JobId,
        outcomes: &[Outcome],
        fence: Option<Fence>,
    ) -> Result<()> {
        unfenced(fence)?;
        if outcomes.is_empty() {
            return Ok(());
        }
        let rows: Vec<_> = outcomes
            .iter()
            .map(|o| {
                (
                    o.seq,
                    o.state.as_str(),
                    &o.reason,
                    o.attempts,
                    &o.dest_id,
                    &o.sha256,
                    o.bytes,
                )
            })
            .collect();
        let mut tx = self.write().await?;
        sqlx::query(
            "WITH o AS MATERIALIZED (SELECT value ->> 0 AS seq, value ->> 1 AS state,
                     value ->> 2 AS reason, value ->> 3 AS attempts, value ->> 4 AS dest_id,
                     value ->> 5 AS sha256, value ->> 6 AS bytes FROM json_each(?2))
             UPDATE units SET state = o.state, reason = o.reason, attempts = o.attempts,
                 dest_id = COALESCE(o.dest_id, units.dest_id),
                 sha256 = COALESCE(o.sha256, units.sha256), bytes = COALESCE(o.bytes, units.bytes),
                 token = CASE WHEN o.state = 'staged' THEN units.token ELSE NULL END
             FROM o WHERE units.job_id = ?1 AND units.seq = o.seq",
        )
        .bind(job)
        .bind(serde_json::to_string(&rows)?)
        .execute(&mut *tx)
        .await?;
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
        let found: Vec<CountRecord> = sqlx::query_as(
            "SELECT state, COUNT(*) AS n, COALESCE(SUM(COALESCE(bytes, size, 0)), 0) AS b
             FROM units WHERE job_id = ? GROUP BY state",
        )
        .bind(job)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows::counts(found))
    }

    async fn failures(&self, job: &JobId, limit: u32) -> Result<Vec<Failure>> {
        let found: Vec<FailureRecord> = sqlx::query_as(
            "SELECT source_id, reason FROM units WHERE job_id = ? AND state = 'failed' ORDER BY seq LIMIT ?",
        )
        .bind(job)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows::failures(found))
    }

    async fn skip_reasons(&self, job: &JobId) -> Result<Vec<(String, u64)>> {
        let found: Vec<(String, i64)> = sqlx::query_as(
            "SELECT COALESCE(reason, '') AS reason, COUNT(*) AS n FROM units
             WHERE job_id = ? AND state = 'skipped' GROUP BY reason ORDER BY n DESC, reason",
        )
        .bind(job)
        .fetch_all(&self.pool)
        .await?;
        Ok(found.into_iter().map(|(r, n)| (r, n as u64)).collect())
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
            return Err(rows::name_taken(&row.name));
        }
        Ok(())
    }

    async fn connections(&self, owner: &str) -> Result<Vec<ConnectionRow>> {
        Ok(sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {CONNECTION_COLUMNS} FROM connections WHERE owner = ? ORDER BY name"
        )))
        .bind(owner)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn connection(&self, owner: &str, name: &str) -> Result<Option<ConnectionRow>> {
        Ok(sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {CONNECTION_COLUMNS} FROM connections WHERE owner = ? AND name = ?"
        )))
        .bind(owner)
        .bind(name)
        .fetch_optional(&self.pool)
        .await?)
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
        Ok(
            sqlx::query_as(
                "SELECT id, email, password_hash, created_at FROM accounts WHERE id = ?",
            )
            .bind(id)
            .fetch_optional(&self.pool)
            .await?,
        )
    }

    async fn account_by_email(&self, email: &str) -> Result<Option<AccountRow>> {
        Ok(sqlx::query_as(
            "SELECT id, email, password_hash, created_at FROM accounts WHERE email = ?",
        )
        .bind(email)
        .fetch_optional(&self.pool)
        .await?)
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
        Ok(sqlx::query_as(
            "SELECT token_hash, account_id, created_at, expires_at, confirmed_at FROM sessions
             WHERE token_hash = ? AND expires_at > ?",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?)
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
        Ok(sqlx::query_as(
            "SELECT seq, at, event, detail FROM audit_log WHERE account_id = ?
             ORDER BY seq DESC LIMIT ?",
        )
        .bind(account_id)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?)
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
        let found: Option<ArchiveRecord> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {ARCHIVE_COLUMNS} FROM archives WHERE id = ?"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(found.map(ArchiveRow::from))
    }

    async fn archives(&self, owner: &str) -> Result<Vec<ArchiveRow>> {
        let found = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {ARCHIVE_COLUMNS} FROM archives WHERE owner = ? ORDER BY id DESC"
        )))
        .bind(owner)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows::archives(found))
    }

    async fn building_archives(&self) -> Result<Vec<ArchiveRow>> {
        let found = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {ARCHIVE_COLUMNS} FROM archives WHERE state = 'building' ORDER BY id"
        )))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows::archives(found))
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
        let found = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {ARCHIVE_COLUMNS} FROM archives WHERE state = 'ready' AND expires_at <= ? ORDER BY id"
        )))
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows::archives(found))
    }

    async fn archive_expired(&self, id: &str) -> Result<()> {
        let mut tx = self.write().await?;
        sqlx::query("UPDATE archives SET state = 'expired', path = NULL WHERE id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM download_tickets WHERE archive_id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
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
        Ok(sqlx::query_as(
            "UPDATE download_tickets SET used_at = ?
             WHERE ticket_hash = ? AND used_at IS NULL AND expires_at > ?
             RETURNING archive_id, owner",
        )
        .bind(now)
        .bind(ticket_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?)
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
        Ok(sqlx::query_as(
            "SELECT seq, at, text, link FROM notices WHERE owner = ? ORDER BY seq DESC LIMIT ?",
        )
        .bind(owner)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?)
    }
}
