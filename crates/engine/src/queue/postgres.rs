//! The work queue on PostgreSQL: claims with `FOR UPDATE SKIP LOCKED`, so that workers never
//! wait on each other's claims, and leases and rate budgets on the database's clock, so that
//! the workers' clocks need not agree.

use std::time::Duration;

use async_trait::async_trait;
use sqlx::{PgPool, Row};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{Lease, PLAN_PART, QueueDepth, RateLimit, Renewal, WorkQueue};
use crate::Result;
use crate::job::{JobId, JobState};

#[derive(Clone, Debug)]
pub struct PgQueue {
    pool: PgPool,
}

impl PgQueue {
    /// The queue in the database of a `PgStore` (its migrations made the tables).
    pub fn new(pool: PgPool) -> PgQueue {
        PgQueue { pool }
    }
}

fn now_text() -> String {
    OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_default()
}

fn seconds(d: Duration) -> f64 {
    d.as_secs_f64()
}

#[async_trait]
impl WorkQueue for PgQueue {
    async fn enqueue(&self, job: &JobId) -> Result<()> {
        sqlx::query(
            "INSERT INTO work (job_id, part) VALUES ($1, $2) ON CONFLICT (job_id, part) DO NOTHING",
        )
        .bind(job)
        .bind(PLAN_PART)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn is_queued(&self, job: &JobId) -> Result<bool> {
        let row = sqlx::query("SELECT EXISTS (SELECT 1 FROM work WHERE job_id = $1) AS queued")
            .bind(job)
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("queued")?)
    }

    async fn claim(&self, worker: &str, lease: Duration) -> Result<Option<Lease>> {
        // Plan parts only while the job plans, batches only while it runs: a paused or
        // cancelled job's parts wait. Lowest part first across jobs keeps things fair.
        let row = sqlx::query(
            "UPDATE work w
                SET lease_owner = $1,
                    lease_until = clock_timestamp() + make_interval(secs => $2),
                    claims = w.claims + 1
               FROM (SELECT o.job_id, o.part
                       FROM work o JOIN jobs j ON j.id = o.job_id
                      WHERE o.state = 'open'
                        AND (o.lease_until IS NULL OR o.lease_until < clock_timestamp())
                        AND j.state = CASE WHEN o.part < 0 THEN 'planning' ELSE 'running' END
                      ORDER BY o.part, o.job_id
                      LIMIT 1
                        FOR UPDATE OF o SKIP LOCKED) pick
              WHERE w.job_id = pick.job_id AND w.part = pick.part
          RETURNING w.job_id, w.part, w.first_seq, w.last_seq, w.claims",
        )
        .bind(worker)
        .bind(seconds(lease))
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(Lease {
            job_id: row.try_get("job_id")?,
            part: row.try_get("part")?,
            first_seq: row.try_get("first_seq")?,
            last_seq: row.try_get("last_seq")?,
            worker: worker.to_string(),
            claims: row.try_get("claims")?,
        }))
    }

    async fn renew(&self, held: &Lease, lease: Duration) -> Result<Renewal> {
        let row = sqlx::query(
            "UPDATE work w SET lease_until = clock_timestamp() + make_interval(secs => $4)
              WHERE w.job_id = $1 AND w.part = $2 AND w.lease_owner = $3 AND w.state = 'open'
          RETURNING (SELECT state FROM jobs WHERE id = w.job_id) AS job_state",
        )
        .bind(&held.job_id)
        .bind(held.part)
        .bind(&held.worker)
        .bind(seconds(lease))
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(Renewal::Lost);
        };
        let state: String = row.try_get("job_state")?;
        let state = state
            .parse::<JobState>()
            .map_err(crate::EngineError::Store)?;
        Ok(Renewal::Held(state))
    }

    async fn split(&self, held: &Lease, batch_items: u32) -> Result<u64> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE work SET state = 'done', lease_until = NULL
              WHERE job_id = $1 AND part = $2 AND lease_owner = $3 AND state = 'open'",
        )
        .bind(&held.job_id)
        .bind(PLAN_PART)
        .bind(&held.worker)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            // Our lease ran out and someone else planned (or is planning) the job.
            return Err(crate::EngineError::Store(format!(
                "lost the planning lease of job {}",
                held.job_id
            )));
        }
        let batches = sqlx::query(
            "INSERT INTO work (job_id, part, first_seq, last_seq)
             SELECT $1, (n - 1) / $2, MIN(seq), MAX(seq)
               FROM (SELECT seq, row_number() OVER (ORDER BY seq) AS n
                       FROM units WHERE job_id = $1 AND state IN ('pending', 'staged')) t
              GROUP BY (n - 1) / $2
             ON CONFLICT (job_id, part) DO NOTHING",
        )
        .bind(&held.job_id)
        .bind(i64::from(batch_items.max(1)))
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE jobs SET state = $2, reason = NULL, updated_at = $3
              WHERE id = $1 AND state = 'planning'",
        )
        .bind(&held.job_id)
        .bind(JobState::Running.as_str())
        .bind(now_text())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(batches.rows_affected())
    }

    async fn complete(&self, held: &Lease) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        // The job's row lock orders completions of one job: the last one sees no open part.
        sqlx::query("SELECT id FROM jobs WHERE id = $1 FOR UPDATE")
            .bind(&held.job_id)
            .fetch_optional(&mut *tx)
            .await?;
        let done = sqlx::query(
            "UPDATE work SET state = 'done', lease_until = NULL
              WHERE job_id = $1 AND part = $2 AND lease_owner = $3 AND state = 'open'",
        )
        .bind(&held.job_id)
        .bind(held.part)
        .bind(&held.worker)
        .execute(&mut *tx)
        .await?;
        let row = sqlx::query(
            "SELECT NOT EXISTS (SELECT 1 FROM work WHERE job_id = $1 AND state = 'open') AS last",
        )
        .bind(&held.job_id)
        .fetch_one(&mut *tx)
        .await?;
        let last: bool = row.try_get("last")?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1 && last)
    }

    async fn release(&self, held: &Lease, after: Duration) -> Result<()> {
        sqlx::query(
            "UPDATE work SET lease_owner = NULL,
                    lease_until = clock_timestamp() + make_interval(secs => $4)
              WHERE job_id = $1 AND part = $2 AND lease_owner = $3",
        )
        .bind(&held.job_id)
        .bind(held.part)
        .bind(&held.worker)
        .bind(seconds(after))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn reopen(&self, job: &JobId) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO work (job_id, part)
             SELECT id, $2 FROM jobs WHERE id = $1 AND planned = 0
             ON CONFLICT (job_id, part) DO UPDATE SET state = 'open'",
        )
        .bind(job)
        .bind(PLAN_PART)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE work w SET state = 'open', lease_owner = NULL, lease_until = NULL
              WHERE w.job_id = $1 AND w.part >= 0 AND EXISTS (
                    SELECT 1 FROM units u WHERE u.job_id = w.job_id
                       AND u.seq BETWEEN w.first_seq AND w.last_seq
                       AND u.state IN ('pending', 'staged'))",
        )
        .bind(job)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn take_turn(&self, key: &str, limit: Option<RateLimit>) -> Result<Duration> {
        let (interval, tolerance) = match limit {
            Some(limit) if limit.per_second > 0.0 => {
                let interval = 1.0 / limit.per_second;
                (interval, interval * f64::from(limit.burst.max(1) - 1))
            }
            _ => (0.0, 0.0),
        };
        // GCRA with reservation: this turn's slot is the later of now and the theoretical
        // arrival time less the burst; the next one moves on by one interval. Every right-hand
        // side sees the row as it was, and the row lock serialises workers.
        let turn = || {
            sqlx::query(
            "UPDATE rate_budgets
                SET slot_at = GREATEST(clock_timestamp(), tat - make_interval(secs => $3)),
                    tat = GREATEST(tat, clock_timestamp()) + make_interval(secs => $2)
              WHERE key = $1
          RETURNING GREATEST(0, EXTRACT(EPOCH FROM (GREATEST(slot_at, hold_until) - clock_timestamp())))::float8 AS wait",
        )
        .bind(key)
        .bind(interval)
        .bind(tolerance)
        };
        let row = match turn().fetch_optional(&self.pool).await? {
            Some(row) => row,
            None => {
                // The service's first turn ever: make its budget, then take the turn.
                sqlx::query(
                    "INSERT INTO rate_budgets (key, tat, slot_at, hold_until)
                     VALUES ($1, clock_timestamp(), clock_timestamp(), clock_timestamp())
                     ON CONFLICT (key) DO NOTHING",
                )
                .bind(key)
                .execute(&self.pool)
                .await?;
                turn().fetch_one(&self.pool).await?
            }
        };
        let wait: f64 = row.try_get("wait")?;
        Ok(Duration::try_from_secs_f64(wait).unwrap_or_default())
    }

    async fn hold(&self, key: &str, delay: Duration) -> Result<()> {
        sqlx::query(
            "INSERT INTO rate_budgets (key, tat, slot_at, hold_until)
             VALUES ($1, clock_timestamp(), clock_timestamp(),
                     clock_timestamp() + make_interval(secs => $2))
             ON CONFLICT (key) DO UPDATE
                SET hold_until = GREATEST(rate_budgets.hold_until, EXCLUDED.hold_until)",
        )
        .bind(key)
        .bind(seconds(delay))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn depth(&self) -> Result<QueueDepth> {
        let row = sqlx::query(
            "SELECT
               COUNT(*) FILTER (WHERE (o.lease_until IS NULL OR o.lease_until < clock_timestamp())
                   AND j.state = CASE WHEN o.part < 0 THEN 'planning' ELSE 'running' END) AS ready,
               COUNT(*) FILTER (WHERE o.lease_owner IS NOT NULL
                   AND o.lease_until >= clock_timestamp()) AS leased
             FROM work o JOIN jobs j ON j.id = o.job_id
             WHERE o.state = 'open'",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(QueueDepth {
            ready: row.try_get::<i64, _>("ready")? as u64,
            leased: row.try_get::<i64, _>("leased")? as u64,
        })
    }
}
