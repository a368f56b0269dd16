//! The PostgreSQL journal: one database that many workers on many machines share.
//!
//! The schema is SQLite's, version for version (migrations/postgres keeps in step with
//! migrations/sqlite), and every method means exactly what `SqliteStore`'s does. The database
//! is across a network here, so a batch (a listed page, staged or settled units, names) is one
//! statement over arrays (`UNNEST`), not a statement per row.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions};
use sqlx::{AssertSqlSafe, Connection as _, PgPool, Postgres};

use super::sql::{Dialect, List, Page, Query, SqlStore, Tx};
use super::{Fence, Outcome, StagedRow};
use crate::job::JobId;
use crate::{EngineError, Result};

static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Connections per process: a worker moves a few items at a time and writes in batches.
const MAX_CONNECTIONS: u32 = 10;

/// Whether `location` names a PostgreSQL database rather than a SQLite file.
pub(super) fn is_url(location: &str) -> bool {
    let lower = location.get(..13).unwrap_or(location).to_ascii_lowercase();
    lower.starts_with("postgres://") || lower.starts_with("postgresql://")
}

/// The journal in a PostgreSQL database.
pub type PgStore = SqlStore<Postgres>;

impl SqlStore<Postgres> {
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
/// `update`, a batch UPDATE of the units of job `$1`, made to write only while a worker's
/// claim holds: `$part` and the next placeholder are the fence's part and claims (both NULL
/// outside a worker), and the statement answers whether the write was allowed. The fence row
/// is read `FOR SHARE`, so a reclaim waits for the write or the write sees the reclaim.
fn fenced(update: &str, part: usize) -> String {
    let claims = part + 1;
    format!(
        "WITH fence AS MATERIALIZED (SELECT 1 FROM work
               WHERE ${part}::bigint IS NOT NULL AND job_id = $1 AND part = ${part}
                 AND claims = ${claims}
                 FOR SHARE),
              written AS ({update}
               AND (${part}::bigint IS NULL OR EXISTS (SELECT 1 FROM fence)))
         SELECT ${part}::bigint IS NULL OR EXISTS (SELECT 1 FROM fence)"
    )
}

/// Runs a [`fenced`] statement whose other arguments are bound: binds the fence, then fails
/// with [`EngineError::LostPart`] when the claim no longer held.
async fn write_fenced<'q>(
    pool: &PgPool,
    job: &JobId,
    fence: Option<Fence>,
    query: sqlx::query::QueryScalar<'q, Postgres, bool, sqlx::postgres::PgArguments>,
) -> Result<()> {
    let held = query
        .bind(fence.map(|f| f.part))
        .bind(fence.map(|f| f.claims))
        .fetch_one(pool)
        .await?;
    fence_held(job, fence, held)
}

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

/// PostgreSQL's statements where they differ. The database is across a network, so a batch
/// (a listed page, staged or settled units, names) is one statement over arrays (`UNNEST`),
/// and a fenced unit write checks its claim in the same statement.
#[async_trait]
impl Dialect for Postgres {
    fn any(n: u8) -> String {
        format!("= ANY(${n})")
    }

    fn bind_list<'q>(query: Query<'q, Postgres>, list: List<'_>) -> Result<Query<'q, Postgres>> {
        Ok(match list {
            List::Ints(v) => query.bind(v),
            List::Texts(v) => query.bind(v),
        })
    }

    /// Units are numbered on from the job's last one: two writers of one job's pages must
    /// take turns, as they do in SQLite, or they would number alike.
    async fn lock_job(tx: &mut Tx<Postgres>, job: &JobId) -> Result<()> {
        sqlx::query("SELECT 1 FROM jobs WHERE id = $1 FOR UPDATE")
            .bind(job)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    async fn insert_page(tx: &mut Tx<Postgres>, page: Page<'_>) -> Result<()> {
        if !page.albums.is_empty() {
            let ids: Vec<&str> = page.albums.iter().map(|a| a.id.as_str()).collect();
            let records = page
                .albums
                .iter()
                .map(serde_json::to_string)
                .collect::<Result<Vec<_>, _>>()?;
            sqlx::query(
                "INSERT INTO albums (job_id, source_index, album_id, record)
                 SELECT $1, $2, a.id, a.record FROM UNNEST($3::text[], $4::text[]) AS a(id, record)
                 ON CONFLICT DO NOTHING",
            )
            .bind(page.job)
            .bind(page.source_index)
            .bind(ids)
            .bind(records)
            .execute(&mut **tx)
            .await?;
        }
        if page.units.is_empty() {
            return Ok(());
        }
        let mut seq = Vec::with_capacity(page.units.len());
        let mut source_id = Vec::with_capacity(page.units.len());
        let mut album_id = Vec::with_capacity(page.units.len());
        let mut kind = Vec::with_capacity(page.units.len());
        let mut file_name = Vec::with_capacity(page.units.len());
        let mut record = Vec::with_capacity(page.units.len());
        let mut size = Vec::with_capacity(page.units.len());
        let mut state = Vec::with_capacity(page.units.len());
        let mut reason = Vec::with_capacity(page.units.len());
        let mut container = Vec::with_capacity(page.units.len());
        let mut placed_name = Vec::with_capacity(page.units.len());
        for unit in page.units {
            let (key, name) = unit.place.unzip();
            container.push(key);
            placed_name.push(name);
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
            "INSERT INTO units (job_id, seq, source_index, source_id, album_id, kind, file_name, record,
                                size, state, reason, container, name)
             SELECT $1, u.seq, $2, u.source_id, u.album_id, u.kind, u.file_name, u.record, u.size,
                    u.state, u.reason, u.container, u.name
             FROM UNNEST($3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
                         $9::bigint[], $10::text[], $11::text[], $12::text[], $13::text[])
               AS u(seq, source_id, album_id, kind, file_name, record, size, state, reason,
                    container, name)
             ON CONFLICT DO NOTHING",
        )
        .bind(page.job)
        .bind(page.source_index)
        .bind(seq)
        .bind(source_id)
        .bind(album_id)
        .bind(kind)
        .bind(file_name)
        .bind(record)
        .bind(size)
        .bind(state)
        .bind(reason)
        .bind(container)
        .bind(placed_name)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    async fn set_names(pool: &PgPool, job: &JobId, names: &[(i64, String)]) -> Result<()> {
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
        .execute(pool)
        .await?;
        Ok(())
    }

    async fn mark_staged(
        pool: &PgPool,
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
        // $6 and $7: the fence.
        let update = "UPDATE units AS u
             SET state = 'staged', token = s.token, sha256 = s.sha256, bytes = s.bytes
             FROM UNNEST($2::bigint[], $3::text[], $4::text[], $5::bigint[])
               AS s(seq, token, sha256, bytes)
             WHERE u.job_id = $1 AND u.seq = s.seq";
        let query = sqlx::query_scalar(AssertSqlSafe(fenced(update, 6)))
            .bind(job)
            .bind(seqs)
            .bind(tokens)
            .bind(hashes)
            .bind(bytes);
        write_fenced(pool, job, fence, query).await
    }

    async fn record_outcomes(
        pool: &PgPool,
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
        // $9 and $10: the fence.
        let update = "UPDATE units AS u
             SET state = o.state, reason = o.reason, attempts = o.attempts,
             dest_id = COALESCE(o.dest_id, u.dest_id), sha256 = COALESCE(o.sha256, u.sha256),
             bytes = COALESCE(o.bytes, u.bytes),
             token = CASE WHEN o.state = 'staged' THEN u.token ELSE NULL END
             FROM UNNEST($2::bigint[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::text[], $8::bigint[])
               AS o(seq, state, reason, attempts, dest_id, sha256, bytes)
             WHERE u.job_id = $1 AND u.seq = o.seq";
        let query = sqlx::query_scalar(AssertSqlSafe(fenced(update, 9)))
            .bind(job)
            .bind(seqs)
            .bind(states)
            .bind(reasons)
            .bind(attempts)
            .bind(dest_ids)
            .bind(hashes)
            .bind(bytes);
        write_fenced(pool, job, fence, query).await
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
