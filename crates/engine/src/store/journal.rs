//! The store, once for both databases: every statement that SQLite and PostgreSQL read alike
//! is here, and the few that differ are the [`Dialect`]'s.

use std::collections::BTreeMap;

use async_trait::async_trait;
use ferry_core::{Album, Container, DataType};

use super::rows::{
    self, AlbumRecord, CONNECTION_COLUMNS, ContainerRecord, CountRecord, FailureRecord,
    GroupRecord, JOB_COLUMNS, JobRecord, SiblingRecord, UNIT_COLUMNS, UnitRecord, now,
};
use super::sql::{Arg, Dialect, Exec, Page, Sql, SqlStore, Tx, args};
use super::{
    ConnectionRow, Fence, Group, Landing, ListedPage, Outcome, Siblings, StagedRow, Store, Unit,
};
use crate::job::{Job, JobId, JobSpec, JobState};
use crate::report::{Counts, Failure};
use crate::{EngineError, Result};

/// Records a container of a job (its JSON spec), unless it is recorded already.
async fn add_container<S: Exec>(
    store: &S,
    tx: &mut Tx<S::Db>,
    job: &JobId,
    key: &str,
    spec: &str,
) -> Result<()> {
    store
        .run(
            Some(tx),
            "INSERT INTO containers (job_id, key, spec) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            args![job, key, spec],
        )
        .await?;
    Ok(())
}

/// Records a container of a job (unless it is recorded already) and moves units into it
/// with `update`, in one write transaction.
async fn fill_container<S: Exec>(
    store: &S,
    job: &JobId,
    key: &str,
    container: &Container,
    update: impl Into<Sql> + Send,
    args: &[Arg<'_>],
) -> Result<()> {
    let mut tx = store.write().await?;
    add_container(store, &mut tx, job, key, &rows::container_json(container)?).await?;
    store.run(Some(&mut tx), update, args).await?;
    tx.commit().await?;
    Ok(())
}

/// The landings of the job's route: `WHERE` clause that a statement with the job id as `$1`
/// starts from.
const ROUTE_OF_JOB: &str = "route = (SELECT route FROM jobs WHERE id = $1)";

/// Remembers under the job's route everything the job landed (see the `landings` table),
/// replacing what earlier jobs remembered of the same items.
const REMEMBER_LANDINGS: &str = "
    INSERT INTO landings (route, owner, source_index, source_id, album_id, record, container,
                          container_spec, container_id, name, dest_id, sha256, bytes, job_id)
    SELECT j.route, j.owner, u.source_index, u.source_id, u.album_id, u.record, u.container,
           c.spec, c.dest_id, u.name, u.dest_id, u.sha256, u.bytes, u.job_id
    FROM units u
    JOIN jobs j ON j.id = u.job_id
    JOIN containers c ON c.job_id = u.job_id AND c.key = u.container
    WHERE u.job_id = $1 AND u.state = 'done' AND j.route IS NOT NULL AND c.dest_id IS NOT NULL
      AND u.record IS NOT NULL AND u.name IS NOT NULL AND u.dest_id IS NOT NULL
      AND u.sha256 IS NOT NULL AND u.bytes IS NOT NULL
    ON CONFLICT (route, source_index, source_id, album_id) DO UPDATE SET
        record = excluded.record, container = excluded.container,
        container_spec = excluded.container_spec, container_id = excluded.container_id,
        name = excluded.name, dest_id = excluded.dest_id, sha256 = excluded.sha256,
        bytes = excluded.bytes, job_id = excluded.job_id";

#[async_trait]
impl<DB: Dialect> Store for SqlStore<DB>
where
    SqlStore<DB>: Exec<Db = DB>,
{
    async fn create_job(&self, owner: &str, spec: &JobSpec) -> Result<Job> {
        let id = uuid::Uuid::now_v7().to_string();
        let route = spec.route(owner)?;
        let spec = serde_json::to_string(spec)?;
        self.run(
            None,
            "INSERT INTO jobs (id, owner, spec, state, created_at, updated_at, route)
             VALUES ($1, $2, $3, 'planning', $4, $4, $5)",
            args![&id, owner, &spec, &now(), &route],
        )
        .await?;
        self.job(&id).await
    }

    async fn job(&self, id: &str) -> Result<Job> {
        if !rows::is_job_prefix(id) {
            return Err(EngineError::NoSuchJob(id.to_string()));
        }
        let found: Vec<JobRecord> = self
            .all(
                format!(
                    "SELECT {JOB_COLUMNS} FROM jobs WHERE id LIKE $1 || '%' ORDER BY id LIMIT 2"
                ),
                args![&id.to_ascii_lowercase()],
            )
            .await?;
        rows::pick_job(id, found)
    }

    async fn jobs(&self, owner: &str) -> Result<Vec<Job>> {
        let found = self
            .all(
                format!("SELECT {JOB_COLUMNS} FROM jobs WHERE owner = $1 ORDER BY id DESC"),
                args![owner],
            )
            .await?;
        rows::jobs(found)
    }

    async fn unfinished_jobs(&self) -> Result<Vec<Job>> {
        let found = self
            .all(
                format!(
                    "SELECT {JOB_COLUMNS} FROM jobs WHERE state NOT IN ('done', 'cancelled') ORDER BY id"
                ),
                args![],
            )
            .await?;
        rows::jobs(found)
    }

    async fn job_states(&self) -> Result<Vec<(JobState, u64)>> {
        let found = self
            .all(
                "SELECT state, COUNT(*) FROM jobs GROUP BY state ORDER BY state",
                args![],
            )
            .await?;
        rows::job_states(found)
    }

    async fn unfinished_job(&self, owner: &str, spec: &JobSpec) -> Result<Option<Job>> {
        let found: Option<JobRecord> = self
            .optional(
                None,
                format!(
                    "SELECT {JOB_COLUMNS} FROM jobs WHERE owner = $1 AND spec = $2
                     AND state NOT IN ('done', 'cancelled') ORDER BY id DESC LIMIT 1"
                ),
                args![owner, &serde_json::to_string(spec)?],
            )
            .await?;
        found.map(JobRecord::decode).transpose()
    }

    async fn set_state(&self, job: &JobId, state: JobState, reason: Option<&str>) -> Result<()> {
        let at = now();
        let finished = state.is_final().then_some(at.as_str());
        let mut tx = self.write().await?;
        // A job that stops, for now or for good, leaves its route what it landed.
        if matches!(state, JobState::Done | JobState::Paused) {
            self.run(Some(&mut tx), REMEMBER_LANDINGS, args![job])
                .await?;
        }
        self.run(
            Some(&mut tx),
            "UPDATE jobs SET state = $1, reason = $2, updated_at = $3, finished_at = $4 WHERE id = $5",
            args![state.as_str(), reason, &at, finished, job],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn save_page(&self, job: &JobId, page: ListedPage<'_>) -> Result<()> {
        let mut tx = self.write().await?;
        DB::lock_job(&mut tx, job).await?;
        let (last_seq,): (i64,) = self
            .optional(
                Some(&mut tx),
                "SELECT COALESCE(MAX(seq), 0) FROM units WHERE job_id = $1",
                args![job],
            )
            .await?
            .unwrap_or_default();
        let mut placed_in = BTreeMap::new();
        for place in page.units.iter().filter_map(|u| u.place.as_ref()) {
            placed_in.insert(place.container.as_str(), place.container_spec.as_str());
        }
        for (key, spec) in placed_in {
            add_container(self, &mut tx, job, key, spec).await?;
        }
        DB::insert_page(
            &mut tx,
            Page {
                job,
                source_index: page.source_index as i64,
                albums: page.albums,
                units: rows::page_units(last_seq, &page.units, page.skipped),
            },
        )
        .await?;
        if !page.records.is_empty() {
            let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
            for record in page.records {
                *counts.entry(record.type_name()).or_default() += 1;
            }
            self.run(
                Some(&mut tx),
                "INSERT INTO record_pages (job_id, page, source_index, records, counts)
                 SELECT $1, COALESCE(MAX(page), 0) + 1, $2, $3, $4
                 FROM record_pages WHERE job_id = $1",
                args![
                    job,
                    page.source_index as i64,
                    &serde_json::to_string(page.records)?,
                    &serde_json::to_string(&counts)?
                ],
            )
            .await?;
        }
        let (plan_source, cursor) = match page.next {
            Some(cursor) => (page.source_index, Some(cursor)),
            None => (page.source_index + 1, None),
        };
        let (unchanged_items, unchanged_bytes) = page.unchanged;
        self.run(
            Some(&mut tx),
            "UPDATE jobs SET plan_source = $1, plan_cursor = $2, updated_at = $3,
                 unchanged_items = unchanged_items + $4, unchanged_bytes = unchanged_bytes + $5
             WHERE id = $6",
            args![
                plan_source as i64,
                cursor,
                &now(),
                unchanged_items as i64,
                unchanged_bytes as i64,
                job
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn albums(&self, job: &JobId) -> Result<Vec<(usize, Album)>> {
        let found: Vec<AlbumRecord> = self
            .all(
                "SELECT source_index, record FROM albums WHERE job_id = $1
                 ORDER BY source_index, album_id",
                args![job],
            )
            .await?;
        rows::albums(found)
    }

    async fn groups(&self, job: &JobId) -> Result<Vec<Group>> {
        let found: Vec<GroupRecord> = self
            .all(
                "SELECT DISTINCT source_index, album_id, kind FROM units
                 WHERE job_id = $1 AND kind IS NOT NULL AND container IS NULL
                 ORDER BY source_index, album_id, kind",
                args![job],
            )
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
        fill_container(
            self,
            job,
            key,
            container,
            "UPDATE units SET container = $1
             WHERE job_id = $2 AND source_index = $3 AND album_id = $4 AND kind = $5
                 AND container IS NULL",
            args![
                key,
                job,
                group.source_index as i64,
                &group.album_id,
                group.kind.as_str()
            ],
        )
        .await
    }

    async fn unnamed_units(&self, job: &JobId, key: &str) -> Result<Vec<i64>> {
        let found: Vec<(i64,)> = self
            .all(
                "SELECT seq FROM units WHERE job_id = $1 AND container = $2 AND kind IS NOT NULL
                     AND name IS NULL
                 ORDER BY seq",
                args![job, key],
            )
            .await?;
        Ok(found.into_iter().map(|(seq,)| seq).collect())
    }

    async fn move_units(
        &self,
        job: &JobId,
        seqs: &[i64],
        key: &str,
        container: &Container,
    ) -> Result<()> {
        fill_container(
            self,
            job,
            key,
            container,
            format!(
                "UPDATE units SET container = $1 WHERE job_id = $2 AND seq {}",
                DB::any(3)
            ),
            args![key, job, seqs],
        )
        .await
    }

    async fn containers(&self, job: &JobId) -> Result<Vec<(String, Container, Option<String>)>> {
        let found: Vec<ContainerRecord> = self
            .all(
                "SELECT key, spec, dest_id FROM containers WHERE job_id = $1 ORDER BY key",
                args![job],
            )
            .await?;
        rows::containers(found)
    }

    async fn wanted_names(&self, job: &JobId, container: &str) -> Result<Vec<(i64, String)>> {
        self.all(
            "SELECT seq, file_name FROM units WHERE job_id = $1 AND container = $2 AND name IS NULL
             ORDER BY source_index, source_id, album_id",
            args![job, container],
        )
        .await
    }

    async fn set_names(&self, job: &JobId, names: &[(i64, String)]) -> Result<()> {
        if names.is_empty() {
            return Ok(());
        }
        DB::set_names(&self.pool, job, names).await
    }

    async fn mark_planned(&self, job: &JobId) -> Result<()> {
        self.run(
            None,
            "UPDATE jobs SET planned = 1, state = 'running', updated_at = $1 WHERE id = $2",
            args![&now(), job],
        )
        .await?;
        Ok(())
    }

    async fn set_types_skipped(&self, job: &JobId, skipped: &[(DataType, String)]) -> Result<()> {
        let skipped = serde_json::to_string(skipped)?;
        self.run(
            None,
            "UPDATE jobs SET types_skipped = $1, updated_at = $2 WHERE id = $3",
            args![&skipped, &now(), job],
        )
        .await?;
        Ok(())
    }

    async fn set_container_dest(&self, job: &JobId, key: &str, dest_id: &str) -> Result<()> {
        self.run(
            None,
            "UPDATE containers SET dest_id = $1 WHERE job_id = $2 AND key = $3",
            args![dest_id, job, key],
        )
        .await?;
        Ok(())
    }

    async fn sibling_units(&self, job: &JobId, unit: &Unit) -> Result<Siblings> {
        let found: Vec<SiblingRecord> = self
            .all(
                "SELECT seq, state, dest_id, sha256, bytes FROM units
                 WHERE job_id = $1 AND source_index = $2 AND source_id = $3 AND seq <> $4
                 ORDER BY seq",
                args![job, unit.source_index as i64, &unit.item.id, unit.seq],
            )
            .await?;
        Ok(rows::siblings(unit.seq, found))
    }

    async fn units_to_move(&self, job: &JobId, after_seq: i64, limit: u32) -> Result<Vec<Unit>> {
        let found: Vec<UnitRecord> = self
            .all(
                format!(
                    "SELECT {UNIT_COLUMNS} FROM units
                     WHERE job_id = $1 AND state IN ('pending', 'staged') AND seq > $2
                     ORDER BY seq LIMIT $3"
                ),
                args![job, after_seq, i64::from(limit)],
            )
            .await?;
        rows::units(found)
    }

    async fn landings(
        &self,
        job: &JobId,
        source_index: usize,
        ids: &[String],
    ) -> Result<Vec<Landing>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        // The ids travel as one list: one statement whatever their number.
        self.all(
            format!(
                "SELECT source_id, album_id, record, container, container_spec, container_id, name,
                        dest_id, sha256, bytes
                 FROM landings WHERE {ROUTE_OF_JOB} AND source_index = $2 AND source_id {}",
                DB::any(3)
            ),
            args![job, source_index as i64, ids],
        )
        .await
    }

    async fn remember_landings(&self, job: &JobId) -> Result<()> {
        self.run(None, REMEMBER_LANDINGS, args![job]).await?;
        Ok(())
    }

    async fn route_landings(&self, job: &JobId) -> Result<Vec<Landing>> {
        self.all(
            format!(
                "SELECT source_id, album_id, record, container, container_spec, container_id, name,
                        dest_id, sha256, bytes
                 FROM landings WHERE {ROUTE_OF_JOB}
                 ORDER BY source_index, source_id, album_id"
            ),
            args![job],
        )
        .await
    }

    async fn record_counts(&self, job: &JobId) -> Result<BTreeMap<String, u64>> {
        let pages: Vec<(String,)> = self
            .all(
                "SELECT counts FROM record_pages WHERE job_id = $1",
                args![job],
            )
            .await?;
        let mut total = BTreeMap::new();
        for (counts,) in pages {
            let counts: BTreeMap<String, u64> = serde_json::from_str(&counts)?;
            for (kind, n) in counts {
                *total.entry(kind).or_default() += n;
            }
        }
        Ok(total)
    }

    async fn record_pages(
        &self,
        job: &JobId,
        after: i64,
        limit: u32,
    ) -> Result<Vec<(i64, String)>> {
        self.all(
            "SELECT page, records FROM record_pages WHERE job_id = $1 AND page > $2
             ORDER BY page LIMIT $3",
            args![job, after, i64::from(limit)],
        )
        .await
    }

    async fn landed_names(&self, job: &JobId, key: &str) -> Result<Vec<String>> {
        let found: Vec<(String,)> = self
            .all(
                format!("SELECT name FROM landings WHERE {ROUTE_OF_JOB} AND container = $2"),
                args![job, key],
            )
            .await?;
        Ok(found.into_iter().map(|(name,)| name).collect())
    }

    async fn landed_count(&self, job: &JobId, key: &str) -> Result<u64> {
        // Parts are `key#N`: compared by prefix, since a key may hold LIKE's wildcards.
        let (n,): (i64,) = self
            .optional(
                None,
                format!(
                    "SELECT COUNT(*) FROM landings WHERE {ROUTE_OF_JOB}
                     AND (container = $2 OR substr(container, 1, length($2) + 1) = $2 || '#')"
                ),
                args![job, key],
            )
            .await?
            .unwrap_or_default();
        Ok(n as u64)
    }

    async fn mark_staged(
        &self,
        job: &JobId,
        staged: &[StagedRow],
        fence: Option<Fence>,
    ) -> Result<()> {
        DB::mark_staged(&self.pool, job, staged, fence).await
    }

    async fn record_outcomes(
        &self,
        job: &JobId,
        outcomes: &[Outcome],
        fence: Option<Fence>,
    ) -> Result<()> {
        DB::record_outcomes(&self.pool, job, outcomes, fence).await
    }

    async fn retry_failed(&self, job: &JobId) -> Result<u64> {
        self.run(
            None,
            "UPDATE units SET state = 'pending', reason = NULL, attempts = 0
             WHERE job_id = $1 AND state = 'failed'",
            args![job],
        )
        .await
    }

    async fn counts(&self, job: &JobId) -> Result<Counts> {
        // SUM of BIGINT is NUMERIC in PostgreSQL: back to BIGINT, as SQLite gives.
        let found: Vec<CountRecord> = self
            .all(
                "SELECT state, COUNT(*) AS n,
                        CAST(COALESCE(SUM(COALESCE(bytes, size, 0)), 0) AS BIGINT) AS b
                 FROM units WHERE job_id = $1 GROUP BY state
                 UNION ALL
                 SELECT 'unchanged', unchanged_items, unchanged_bytes FROM jobs
                 WHERE id = $1 AND unchanged_items > 0",
                args![job],
            )
            .await?;
        Ok(rows::counts(found))
    }

    async fn failures(&self, job: &JobId, limit: u32) -> Result<Vec<Failure>> {
        let found: Vec<FailureRecord> = self
            .all(
                "SELECT source_id, reason FROM units WHERE job_id = $1 AND state = 'failed'
                 ORDER BY seq LIMIT $2",
                args![job, i64::from(limit)],
            )
            .await?;
        Ok(rows::failures(found))
    }

    async fn skip_reasons(&self, job: &JobId) -> Result<Vec<(String, u64)>> {
        let found: Vec<(String, i64)> = self
            .all(
                "SELECT COALESCE(reason, '') AS r, COUNT(*) AS n FROM units
                 WHERE job_id = $1 AND state = 'skipped' GROUP BY 1 ORDER BY n DESC, r",
                args![job],
            )
            .await?;
        Ok(found.into_iter().map(|(r, n)| (r, n as u64)).collect())
    }

    async fn add_connection(&self, row: &ConnectionRow) -> Result<()> {
        let added = self
            .run(
                None,
                "INSERT INTO connections
                     (id, owner, name, service, account, settings, secret, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) ON CONFLICT (owner, name) DO NOTHING",
                args![
                    &row.id,
                    &row.owner,
                    &row.name,
                    &row.service,
                    &row.account,
                    &row.settings,
                    &row.sealed_secret,
                    &now(),
                ],
            )
            .await?;
        if added == 0 {
            return Err(rows::name_taken(&row.name));
        }
        Ok(())
    }

    async fn connections(&self, owner: &str) -> Result<Vec<ConnectionRow>> {
        self.all(
            format!("SELECT {CONNECTION_COLUMNS} FROM connections WHERE owner = $1 ORDER BY name"),
            args![owner],
        )
        .await
    }

    async fn connection(&self, owner: &str, name: &str) -> Result<Option<ConnectionRow>> {
        self.optional(
            None,
            format!("SELECT {CONNECTION_COLUMNS} FROM connections WHERE owner = $1 AND name = $2"),
            args![owner, name],
        )
        .await
    }

    async fn update_connection_secret(&self, id: &str, sealed: &[u8]) -> Result<()> {
        self.run(
            None,
            "UPDATE connections SET secret = $1, updated_at = $2 WHERE id = $3",
            args![sealed, &now(), id],
        )
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
        self.run(
            None,
            "UPDATE connections SET account = $1, settings = $2, secret = $3, updated_at = $4
             WHERE id = $5",
            args![account, settings, sealed, &now(), id],
        )
        .await?;
        Ok(())
    }

    async fn delete_connection(&self, owner: &str, name: &str) -> Result<bool> {
        let deleted = self
            .run(
                None,
                "DELETE FROM connections WHERE owner = $1 AND name = $2",
                args![owner, name],
            )
            .await?;
        Ok(deleted > 0)
    }
}
