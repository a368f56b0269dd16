//! The PostgreSQL journal: one database that many workers on many machines share.
//!
//! The schema is SQLite's, version for version (migrations/postgres keeps in step with
//! migrations/sqlite), and every method means exactly what `SqliteStore`'s does. The database
//! is across a network here, so a batch (a listed page, staged or settled units, names) is one
//! statement over arrays (`UNNEST`), not a statement per row.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use ferry_core::{Album, Container, MediaItem, Skipped};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions};
use sqlx::{AssertSqlSafe, Connection as _, PgPool};

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

static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Connections per process: a worker moves a few items at a time and writes in batches.
const MAX_CONNECTIONS: u32 = 10;

/// Whether `location` names a PostgreSQL database rather than a SQLite file.
pub(super) fn is_url(location: &str) -> bool {
    let lower = location.get(..13).unwrap_or(location).to_ascii_lowercase();
    lower.starts_with("postgres://") || lower.starts_with("postgresql://")
}

/// The journal in a PostgreSQL database. Not `Debug`: the pool's options hold the password.
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/db`) and brings
    /// its schema up to date. Errors name the database without its password.
    pub async fn connect(url: &str) -> Result<PgStore> {
        let options = PgConnectOptions::from_str(url).map_err(|e| connect_error(url, &e))?;
        // One connection first, outside the pool: the pool retries a refused connection until
        // its timeout and then reports only the timeout, not why.
        let mut conn = PgConnection::connect_with(&options)
            .await
            .map_err(|e| connect_error(url, &e))?;
        // Many workers may start at once: sqlx takes an advisory lock around the migrations.
        MIGRATIONS
            .run(&mut conn)
            .await
            .map_err(|e| connect_error(url, &e))?;
        let _ = conn.close().await;
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(Duration::from_secs(30))
            .connect_lazy_with(options);
        Ok(PgStore { pool })
    }

    /// The connection pool, for code that keeps its own tables in the same database (the
    /// work queue).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// One line that says which database failed and why, with the password taken out.
fn connect_error(url: &str, err: &dyn std::fmt::Display) -> EngineError {
    let mut message = err.to_string();
    if let Some(password) = url_password(url) {
        message = message.replace(password, "***");
    }
    let message = message.split_whitespace().collect::<Vec<_>>().join(" ");
    EngineError::Store(format!(
        "cannot open the PostgreSQL journal at {}: {message}{}",
        redacted(url),
        tls_hint(&message)
    ))
}

/// What to do about a certificate rustls refused, in the terms of the URL's settings.
fn tls_hint(message: &str) -> &'static str {
    if message.contains("UnknownIssuer") {
        " (the server's certificate is not signed by a CA ferry trusts: name its CA with sslrootcert=)"
    } else if message.contains("not valid for name") {
        " (sslmode=verify-full: the URL's host must be a name the server's certificate lists)"
    } else {
        ""
    }
}

/// The URL's authority and path: the password replaced, the query (which may hold one) left out.
fn redacted(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host}"),
            None => format!("{userinfo}@{host}"),
        },
        None => authority.to_string(),
    };
    format!("{scheme}://{authority}{path}")
}

/// A fenced unit write locks its part's `work` row (FOR SHARE) and writes only when the
/// claim number is still the fence's: a claim made meanwhile waits for the write to end, and
/// a write after a new claim sees the new number and changes nothing.
fn fence_held(job: &JobId, fence: Option<Fence>, held: bool) -> Result<()> {
    match fence {
        Some(fence) if !held => Err(EngineError::LostPart {
            job: job.clone(),
            part: fence.part,
        }),
        _ => Ok(()),
    }
}

fn url_password(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let (userinfo, _) = authority.rsplit_once('@')?;
    let (_, password) = userinfo.split_once(':')?;
    (!password.is_empty()).then_some(password)
}

#[async_trait]
impl Store for PgStore {
    async fn create_job(&self, owner: &str, spec: &JobSpec) -> Result<Job> {
        let id = uuid::Uuid::now_v7().to_string();
        let at = now();
        sqlx::query(
            "INSERT INTO jobs (id, owner, spec, state, created_at, updated_at) VALUES ($1, $2, $3, 'planning', $4, $4)",
        )
        .bind(&id)
        .bind(owner)
        .bind(serde_json::to_string(spec)?)
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
            "SELECT {JOB_COLUMNS} FROM jobs WHERE id LIKE $1 || '%' ORDER BY id LIMIT 2"
        )))
        .bind(id.to_ascii_lowercase())
        .fetch_all(&self.pool)
        .await?;
        rows::pick_job(id, found)
    }

    async fn jobs(&self, owner: &str) -> Result<Vec<Job>> {
        let found = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE owner = $1 ORDER BY id DESC"
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
            "SELECT {JOB_COLUMNS} FROM jobs WHERE owner = $1 AND spec = $2 AND state NOT IN ('done', 'cancelled') ORDER BY id DESC LIMIT 1"
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
            "UPDATE jobs SET state = $1, reason = $2, updated_at = $3, finished_at = $4 WHERE id = $5",
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
        // Units are numbered on from the job's last one: two writers of one job's pages must
        // take turns, as they do in SQLite, or they would number alike.
        sqlx::query("SELECT 1 FROM jobs WHERE id = $1 FOR UPDATE")
            .bind(job)
            .execute(&mut *tx)
            .await?;
        if !albums.is_empty() {
            let ids: Vec<&str> = albums.iter().map(|a| a.id.as_str()).collect();
            let records = albums
                .iter()
                .map(serde_json::to_string)
                .collect::<Result<Vec<_>, _>>()?;
            sqlx::query(
                "INSERT INTO albums (job_id, source_index, album_id, record)
                 SELECT $1, $2, a.id, a.record FROM UNNEST($3::text[], $4::text[]) AS a(id, record)
                 ON CONFLICT DO NOTHING",
            )
            .bind(job)
            .bind(source_index as i64)
            .bind(ids)
            .bind(records)
            .execute(&mut *tx)
            .await?;
        }
        let last_seq: i64 =
            sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM units WHERE job_id = $1")
                .bind(job)
                .fetch_one(&mut *tx)
                .await?;
        let units = rows::page_units(last_seq, items, skipped)?;
        if !units.is_empty() {
            let mut seq = Vec::with_capacity(units.len());
            let mut source_id = Vec::with_capacity(units.len());
            let mut album_id = Vec::with_capacity(units.len());
            let mut kind = Vec::with_capacity(units.len());
            let mut file_name = Vec::with_capacity(units.len());
            let mut record = Vec::with_capacity(units.len());
            let mut size = Vec::with_capacity(units.len());
            let mut state = Vec::with_capacity(units.len());
            let mut reason = Vec::with_capacity(units.len());
            for unit in units {
                seq.push(unit.seq);
                source_id.push(unit.source_id);
                album_id.push(unit.album_id);
                reason.push(unit.reason);
                match unit.media {
                    Some((k, name, json, bytes)) => {
                        kind.push(Some(k.as_str()));
                        file_name.push(Some(name));
                        record.push(Some(json));
                        size.push(bytes);
                        state.push("pending");
                    }
                    None => {
                        kind.push(None);
                        file_name.push(None);
                        record.push(None);
                        size.push(None);
                        state.push("skipped");
                    }
                }
            }
            sqlx::query(
                "INSERT INTO units (job_id, seq, source_index, source_id, album_id, kind, file_name, record, size, state, reason)
                 SELECT $1, u.seq, $2, u.source_id, u.album_id, u.kind, u.file_name, u.record, u.size, u.state, u.reason
                 FROM UNNEST($3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::bigint[], $10::text[], $11::text[])
                   AS u(seq, source_id, album_id, kind, file_name, record, size, state, reason)
                 ON CONFLICT DO NOTHING",
            )
            .bind(job)
            .bind(source_index as i64)
            .bind(seq)
            .bind(source_id)
            .bind(album_id)
            .bind(kind)
            .bind(file_name)
            .bind(record)
            .bind(size)
            .bind(state)
            .bind(reason)
            .execute(&mut *tx)
            .await?;
        }
        let (plan_source, cursor) = match next {
            Some(cursor) => (source_index, Some(cursor)),
            None => (source_index + 1, None),
        };
        sqlx::query(
            "UPDATE jobs SET plan_source = $1, plan_cursor = $2, updated_at = $3 WHERE id = $4",
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
            "SELECT source_index, record FROM albums WHERE job_id = $1 ORDER BY source_index, album_id",
        )
        .bind(job)
        .fetch_all(&self.pool)
        .await?;
        rows::albums(found)
    }

    async fn groups(&self, job: &JobId) -> Result<Vec<Group>> {
        let found: Vec<GroupRecord> = sqlx::query_as(
            "SELECT DISTINCT source_index, album_id, kind FROM units
             WHERE job_id = $1 AND kind IS NOT NULL ORDER BY source_index, album_id, kind",
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
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO containers (job_id, key, spec) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(job)
        .bind(key)
        .bind(rows::container_json(container)?)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE units SET container = $1 WHERE job_id = $2 AND source_index = $3 AND album_id = $4 AND kind = $5",
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
            "SELECT seq FROM units WHERE job_id = $1 AND container = $2 AND kind IS NOT NULL ORDER BY seq",
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
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO containers (job_id, key, spec) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(job)
        .bind(key)
        .bind(rows::container_json(container)?)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE units SET container = $1 WHERE job_id = $2 AND seq = ANY($3)")
            .bind(key)
            .bind(job)
            .bind(seqs)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn containers(&self, job: &JobId) -> Result<Vec<(String, Container, Option<String>)>> {
        let found: Vec<ContainerRecord> = sqlx::query_as(
            "SELECT key, spec, dest_id FROM containers WHERE job_id = $1 ORDER BY key",
        )
        .bind(job)
        .fetch_all(&self.pool)
        .await?;
        rows::containers(found)
    }

    async fn wanted_names(&self, job: &JobId, container: &str) -> Result<Vec<(i64, String)>> {
        Ok(sqlx::query_as(
            "SELECT seq, file_name FROM units WHERE job_id = $1 AND container = $2
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
        let (seqs, names): (Vec<i64>, Vec<&str>) = names
            .iter()
            .map(|(seq, name)| (*seq, name.as_str()))
            .unzip();
        sqlx::query(
            "UPDATE units AS u SET name = n.name
             FROM UNNEST($2::bigint[], $3::text[]) AS n(seq, name)
             WHERE u.job_id = $1 AND u.seq = n.seq",
        )
        .bind(job)
        .bind(seqs)
        .bind(names)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn mark_planned(&self, job: &JobId) -> Result<()> {
        sqlx::query(
            "UPDATE jobs SET planned = 1, state = 'running', updated_at = $1 WHERE id = $2",
        )
        .bind(now())
        .bind(job)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn set_container_dest(&self, job: &JobId, key: &str, dest_id: &str) -> Result<()> {
        sqlx::query("UPDATE containers SET dest_id = $1 WHERE job_id = $2 AND key = $3")
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
             WHERE job_id = $1 AND source_index = $2 AND source_id = $3 AND seq <> $4
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
            "SELECT {UNIT_COLUMNS} FROM units WHERE job_id = $1 AND state IN ('pending', 'staged') AND seq > $2
             ORDER BY seq LIMIT $3"
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
        let found: Vec<(String, String)> = sqlx::query_as(
            "SELECT prev.source_id, prev.record
             FROM jobs cj
             JOIN jobs pj ON pj.id = (SELECT e.id FROM jobs e
                 WHERE e.owner = cj.owner AND e.spec = cj.spec AND e.id < cj.id
                 ORDER BY e.id DESC LIMIT 1)
             JOIN units prev ON prev.job_id = pj.id AND prev.source_index = $2
             WHERE cj.id = $1 AND prev.record IS NOT NULL AND prev.source_id = ANY($3)
             ORDER BY prev.source_id",
        )
        .bind(job)
        .bind(source_index as i64)
        .bind(ids)
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
             WHERE cj.id = $1 AND cur.seq BETWEEN $2 AND $3 AND cur.state = 'pending'
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
        if staged.is_empty() {
            return Ok(());
        }
        let seqs: Vec<i64> = staged.iter().map(|r| r.seq).collect();
        let tokens: Vec<&str> = staged.iter().map(|r| r.token.as_str()).collect();
        let hashes: Vec<&str> = staged.iter().map(|r| r.sha256.as_str()).collect();
        let bytes: Vec<i64> = staged.iter().map(|r| r.bytes as i64).collect();
        let held: bool = sqlx::query_scalar(
            "WITH fence AS MATERIALIZED (SELECT 1 FROM work
                   WHERE $6::bigint IS NOT NULL AND job_id = $1 AND part = $6 AND claims = $7
                     FOR SHARE),
                  written AS (
             UPDATE units AS u SET state = 'staged', token = s.token, sha256 = s.sha256, bytes = s.bytes
             FROM UNNEST($2::bigint[], $3::text[], $4::text[], $5::bigint[]) AS s(seq, token, sha256, bytes)
             WHERE u.job_id = $1 AND u.seq = s.seq
               AND ($6::bigint IS NULL OR EXISTS (SELECT 1 FROM fence)))
             SELECT $6::bigint IS NULL OR EXISTS (SELECT 1 FROM fence)",
        )
        .bind(job)
        .bind(seqs)
        .bind(tokens)
        .bind(hashes)
        .bind(bytes)
        .bind(fence.map(|f| f.part))
        .bind(fence.map(|f| f.claims))
        .fetch_one(&self.pool)
        .await?;
        fence_held(job, fence, held)
    }

    async fn record_outcomes(
        &self,
        job: &JobId,
        outcomes: &[Outcome],
        fence: Option<Fence>,
    ) -> Result<()> {
        if outcomes.is_empty() {
            return Ok(());
        }
        let seqs: Vec<i64> = outcomes.iter().map(|o| o.seq).collect();
        let states: Vec<&str> = outcomes.iter().map(|o| o.state.as_str()).collect();
        let reasons: Vec<Option<&str>> = outcomes.iter().map(|o| o.reason.as_deref()).collect();
        let attempts: Vec<i64> = outcomes.iter().map(|o| i64::from(o.attempts)).collect();
        let dest_ids: Vec<Option<&str>> = outcomes.iter().map(|o| o.dest_id.as_deref()).collect();
        let hashes: Vec<Option<&str>> = outcomes.iter().map(|o| o.sha256.as_deref()).collect();
        let bytes: Vec<Option<i64>> = outcomes.iter().map(|o| o.bytes.map(|b| b as i64)).collect();
        let held: bool = sqlx::query_scalar(
            "WITH fence AS MATERIALIZED (SELECT 1 FROM work
                   WHERE $9::bigint IS NOT NULL AND job_id = $1 AND part = $9 AND claims = $10
                     FOR SHARE),
                  written AS (
             UPDATE units AS u SET state = o.state, reason = o.reason, attempts = o.attempts,
             dest_id = COALESCE(o.dest_id, u.dest_id), sha256 = COALESCE(o.sha256, u.sha256),
             bytes = COALESCE(o.bytes, u.bytes),
             token = CASE WHEN o.state = 'staged' THEN u.token ELSE NULL END
             FROM UNNEST($2::bigint[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::text[], $8::bigint[])
               AS o(seq, state, reason, attempts, dest_id, sha256, bytes)
             WHERE u.job_id = $1 AND u.seq = o.seq
               AND ($9::bigint IS NULL OR EXISTS (SELECT 1 FROM fence)))
             SELECT $9::bigint IS NULL OR EXISTS (SELECT 1 FROM fence)",
        )
        .bind(job)
        .bind(seqs)
        .bind(states)
        .bind(reasons)
        .bind(attempts)
        .bind(dest_ids)
        .bind(hashes)
        .bind(bytes)
        .bind(fence.map(|f| f.part))
        .bind(fence.map(|f| f.claims))
        .fetch_one(&self.pool)
        .await?;
        fence_held(job, fence, held)
    }

    async fn retry_failed(&self, job: &JobId) -> Result<u64> {
        let done = sqlx::query(
            "UPDATE units SET state = 'pending', reason = NULL, attempts = 0 WHERE job_id = $1 AND state = 'failed'",
        )
        .bind(job)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    async fn counts(&self, job: &JobId) -> Result<Counts> {
        // SUM of BIGINT is NUMERIC in PostgreSQL: back to BIGINT, as SQLite gives.
        let found: Vec<CountRecord> = sqlx::query_as(
            "SELECT state, COUNT(*) AS n, COALESCE(SUM(COALESCE(bytes, size, 0)), 0)::BIGINT AS b
             FROM units WHERE job_id = $1 GROUP BY state",
        )
        .bind(job)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows::counts(found))
    }

    async fn failures(&self, job: &JobId, limit: u32) -> Result<Vec<Failure>> {
        let found: Vec<FailureRecord> = sqlx::query_as(
            "SELECT source_id, reason FROM units WHERE job_id = $1 AND state = 'failed' ORDER BY seq LIMIT $2",
        )
        .bind(job)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows::failures(found))
    }

    async fn skip_reasons(&self, job: &JobId) -> Result<Vec<(String, u64)>> {
        let found: Vec<(String, i64)> = sqlx::query_as(
            "SELECT COALESCE(reason, '') AS r, COUNT(*) AS n FROM units
             WHERE job_id = $1 AND state = 'skipped' GROUP BY 1 ORDER BY n DESC, r",
        )
        .bind(job)
        .fetch_all(&self.pool)
        .await?;
        Ok(found.into_iter().map(|(r, n)| (r, n as u64)).collect())
    }

    async fn add_connection(&self, row: &ConnectionRow) -> Result<()> {
        let done = sqlx::query(
            "INSERT INTO connections (id, owner, name, service, account, settings, secret, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) ON CONFLICT (owner, name) DO NOTHING",
        )
        .bind(&row.id)
        .bind(&row.owner)
        .bind(&row.name)
        .bind(&row.service)
        .bind(&row.account)
        .bind(&row.settings)
        .bind(&row.sealed_secret)
        .bind(now())
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(rows::name_taken(&row.name));
        }
        Ok(())
    }

    async fn connections(&self, owner: &str) -> Result<Vec<ConnectionRow>> {
        Ok(sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {CONNECTION_COLUMNS} FROM connections WHERE owner = $1 ORDER BY name"
        )))
        .bind(owner)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn connection(&self, owner: &str, name: &str) -> Result<Option<ConnectionRow>> {
        Ok(sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {CONNECTION_COLUMNS} FROM connections WHERE owner = $1 AND name = $2"
        )))
        .bind(owner)
        .bind(name)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn update_connection_secret(&self, id: &str, sealed: &[u8]) -> Result<()> {
        sqlx::query("UPDATE connections SET secret = $1, updated_at = $2 WHERE id = $3")
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
            "UPDATE connections SET account = $1, settings = $2, secret = $3, updated_at = $4 WHERE id = $5",
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
        let done = sqlx::query("DELETE FROM connections WHERE owner = $1 AND name = $2")
            .bind(owner)
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn create_account(&self, row: &AccountRow) -> Result<bool> {
        // Two sign-ups racing for one address get one account and one refusal.
        let done = sqlx::query(
            "INSERT INTO accounts (id, email, password_hash, created_at) VALUES ($1, $2, $3, $4)
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
        Ok(sqlx::query_as(
            "SELECT id, email, password_hash, created_at FROM accounts WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn account_by_email(&self, email: &str) -> Result<Option<AccountRow>> {
        Ok(sqlx::query_as(
            "SELECT id, email, password_hash, created_at FROM accounts WHERE email = $1",
        )
        .bind(email)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn create_session(&self, row: &SessionRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO sessions (token_hash, account_id, created_at, expires_at, confirmed_at)
             VALUES ($1, $2, $3, $4, $5)",
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
             WHERE token_hash = $1 AND expires_at > $2",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn confirm_session(&self, token_hash: &str, at: i64) -> Result<()> {
        sqlx::query("UPDATE sessions SET confirmed_at = $1 WHERE token_hash = $2")
            .bind(at)
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn delete_session(&self, token_hash: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_expired_sessions(&self, now: i64) -> Result<u64> {
        let done = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    async fn audit(&self, account_id: &str, event: &str, detail: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO audit_log (account_id, at, event, detail) VALUES ($1, $2, $3, $4)",
        )
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
            "SELECT seq, at, event, detail FROM audit_log WHERE account_id = $1
             ORDER BY seq DESC LIMIT $2",
        )
        .bind(account_id)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?)
    }

    async fn create_archive(&self, row: &ArchiveRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO archives (id, owner, state, request, created_at) VALUES ($1, $2, $3, $4, $5)",
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
            "SELECT {ARCHIVE_COLUMNS} FROM archives WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(found.map(ArchiveRow::from))
    }

    async fn archives(&self, owner: &str) -> Result<Vec<ArchiveRow>> {
        let found = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {ARCHIVE_COLUMNS} FROM archives WHERE owner = $1 ORDER BY id DESC"
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
            "UPDATE archives SET state = 'ready', path = $1, size = $2, sha256 = $3, summary = $4,
             ready_at = $5, expires_at = $6, error = NULL WHERE id = $7",
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
        sqlx::query("UPDATE archives SET state = 'failed', error = $1 WHERE id = $2")
            .bind(error)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn due_archives(&self, now: i64) -> Result<Vec<ArchiveRow>> {
        let found = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {ARCHIVE_COLUMNS} FROM archives WHERE state = 'ready' AND expires_at <= $1 ORDER BY id"
        )))
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows::archives(found))
    }

    async fn archive_expired(&self, id: &str) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE archives SET state = 'expired', path = NULL WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM download_tickets WHERE archive_id = $1")
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
            "INSERT INTO download_tickets (ticket_hash, archive_id, owner, expires_at) VALUES ($1, $2, $3, $4)",
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
        // One statement: of two downloads racing on one ticket, the second finds it used
        // (PostgreSQL re-checks the WHERE on the row the first one updated).
        Ok(sqlx::query_as(
            "UPDATE download_tickets SET used_at = $1
             WHERE ticket_hash = $2 AND used_at IS NULL AND expires_at > $1
             RETURNING archive_id, owner",
        )
        .bind(now)
        .bind(ticket_hash)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn notify(&self, owner: &str, text: &str, link: &str) -> Result<()> {
        sqlx::query("INSERT INTO notices (owner, at, text, link) VALUES ($1, $2, $3, $4)")
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
            "SELECT seq, at, text, link FROM notices WHERE owner = $1 ORDER BY seq DESC LIMIT $2",
        )
        .bind(owner)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_told_from_paths() {
        assert!(is_url("postgres://db/ferry"));
        assert!(is_url("PostgreSQL://db/ferry"));
        assert!(!is_url("/var/lib/ferry/journal.db"));
        assert!(!is_url("postgres.db"));
    }

    #[test]
    fn errors_never_show_the_password() {
        let url = "postgres://ferry:s3cret@db.example:5432/ferry?password=other";
        assert_eq!(redacted(url), "postgres://ferry:***@db.example:5432/ferry");
        let err = connect_error(url, &"refused for ferry:s3cret\nsecond line");
        let text = err.to_string();
        assert!(
            !text.contains("s3cret") && !text.contains("other"),
            "{text}"
        );
        assert!(!text.contains('\n'), "{text}");
        assert_eq!(
            redacted("postgres://postgres@127.0.0.1:5/postgres"),
            "postgres://postgres@127.0.0.1:5/postgres"
        );
    }
}
