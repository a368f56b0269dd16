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
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool};

use super::sql::{Dialect, List, Page, Query, SqlStore, Tx};
use super::{Fence, Outcome, StagedRow};
use crate::job::JobId;
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

/// The journal in a SQLite file.
pub type SqliteStore = SqlStore<Sqlite>;

impl SqlStore<Sqlite> {
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
/// Writes a batch of one job's units (`?1` the job, `?2` the batch as a JSON text) in one
/// statement of its own write transaction.
async fn write_batch(
    pool: &SqlitePool,
    job: &JobId,
    batch: String,
    sql: &'static str,
) -> Result<()> {
    let mut tx = pool.begin_with(Sqlite::BEGIN_WRITE).await?;
    sqlx::query(sql)
        .bind(job)
        .bind(batch)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

fn unfenced(fence: Option<Fence>) -> Result<()> {
    match fence {
        None => Ok(()),
        Some(_) => Err(EngineError::Setup(
            "fenced writes need the work queue, on PostgreSQL".into(),
        )),
    }
}

/// SQLite's statements where they differ. A batch travels as one JSON text that `json_each`
/// reads, one statement for the batch: each statement is a hop to sqlx's SQLite thread, and
/// 10,000 of them cost more than the writes themselves. `MATERIALIZED` makes SQLite read the
/// batch once and look the units up by key, rather than scan the batch for every unit.
#[async_trait]
impl Dialect for Sqlite {
    /// A write transaction that holds the write lock from its first statement.
    ///
    /// A deferred transaction that reads first and writes later must upgrade its lock, and in
    /// WAL mode SQLite refuses that upgrade at once (`SQLITE_BUSY`, or `SQLITE_BUSY_SNAPSHOT`
    /// when another writer committed since the read) without waiting on `busy_timeout`.
    /// `BEGIN IMMEDIATE` waits for the lock up front, where the busy timeout applies.
    const BEGIN_WRITE: &'static str = "BEGIN IMMEDIATE";

    fn any(n: u8) -> String {
        format!("IN (SELECT value FROM json_each(${n}))")
    }

    fn bind_list<'q>(query: Query<'q, Sqlite>, list: List<'_>) -> Result<Query<'q, Sqlite>> {
        Ok(query.bind(serde_json::to_string(&list)?))
    }

    async fn insert_page(tx: &mut Tx<Sqlite>, page: Page<'_>) -> Result<()> {
        if !page.albums.is_empty() {
            let albums = page
                .albums
                .iter()
                .map(|album| Ok(serde_json::json!([album.id, serde_json::to_string(album)?])))
                .collect::<Result<Vec<_>>>()?;
            sqlx::query(
                "INSERT INTO albums (job_id, source_index, album_id, record)
                 SELECT ?1, ?2, a.value ->> 0, a.value ->> 1 FROM json_each(?3) AS a
                 WHERE true ON CONFLICT DO NOTHING",
            )
            .bind(page.job)
            .bind(page.source_index)
            .bind(serde_json::Value::Array(albums).to_string())
            .execute(&mut **tx)
            .await?;
        }
        if page.units.is_empty() {
            return Ok(());
        }
        let units: Vec<serde_json::Value> = page
            .units
            .into_iter()
            .map(|unit| {
                let (kind, file_name, record, size) = match unit.media {
                    Some((kind, file_name, record, size)) => {
                        (Some(kind.as_str()), Some(file_name), Some(record), size)
                    }
                    None => (None, None, None, None),
                };
                let (container, name) = unit.place.unzip();
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
                    container,
                    name,
                ])
            })
            .collect();
        sqlx::query(
            "INSERT INTO units (job_id, seq, source_index, source_id, album_id, kind, file_name, record,
                                size, state, reason, container, name)
             SELECT ?1, u.value ->> 0, ?2, u.value ->> 1, u.value ->> 2, u.value ->> 3, u.value ->> 4,
                    u.value ->> 5, u.value ->> 6, u.value ->> 7, u.value ->> 8, u.value ->> 9,
                    u.value ->> 10
             FROM json_each(?3) AS u WHERE true ON CONFLICT DO NOTHING",
        )
        .bind(page.job)
        .bind(page.source_index)
        .bind(serde_json::Value::Array(units).to_string())
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    async fn set_names(pool: &SqlitePool, job: &JobId, names: &[(i64, String)]) -> Result<()> {
        write_batch(
            pool,
            job,
            serde_json::to_string(names)?,
            "WITH n AS MATERIALIZED (SELECT value ->> 0 AS seq, value ->> 1 AS name FROM json_each(?2))
             UPDATE units SET name = n.name FROM n WHERE units.job_id = ?1 AND units.seq = n.seq",
        )
        .await
    }

    async fn mark_staged(
        pool: &SqlitePool,
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
        write_batch(
            pool,
            job,
            serde_json::to_string(&rows)?,
            "WITH s AS MATERIALIZED (SELECT value ->> 0 AS seq, value ->> 1 AS token,
                     value ->> 2 AS sha256, value ->> 3 AS bytes FROM json_each(?2))
             UPDATE units SET state = 'staged', token = s.token, sha256 = s.sha256, bytes = s.bytes
             FROM s WHERE units.job_id = ?1 AND units.seq = s.seq",
        )
        .await
    }

    async fn record_outcomes(
        pool: &SqlitePool,
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
        write_batch(
            pool,
            job,
            serde_json::to_string(&rows)?,
            "WITH o AS MATERIALIZED (SELECT value ->> 0 AS seq, value ->> 1 AS state,
                     value ->> 2 AS reason, value ->> 3 AS attempts, value ->> 4 AS dest_id,
                     value ->> 5 AS sha256, value ->> 6 AS bytes FROM json_each(?2))
             UPDATE units SET state = o.state, reason = o.reason, attempts = o.attempts,
                 dest_id = COALESCE(o.dest_id, units.dest_id),
                 sha256 = COALESCE(o.sha256, units.sha256), bytes = COALESCE(o.bytes, units.bytes),
                 token = CASE WHEN o.state = 'staged' THEN units.token ELSE NULL END
             FROM o WHERE units.job_id = ?1 AND units.seq = o.seq",
        )
        .await
    }
}
