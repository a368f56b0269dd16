-- Work for many workers. A queued job is cut into parts: part -1 plans it (lists the sources
-- and names everything); parts 0.. are runs of its units by seq that any worker may move.
-- A worker holds a part under a lease that it renews while it works; a part whose lease has
-- run out (its worker died) goes back to the pool.
CREATE TABLE work (
    job_id       TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    part         BIGINT NOT NULL,                 -- -1: planning; 0..: a batch of units
    first_seq    BIGINT NOT NULL DEFAULT 0,
    last_seq     BIGINT NOT NULL DEFAULT 0,
    state        TEXT NOT NULL DEFAULT 'open',    -- open | done
    lease_owner  TEXT,                            -- the worker holding it (or that completed it)
    lease_until  TIMESTAMPTZ,                     -- free to claim after this
    claims       BIGINT NOT NULL DEFAULT 0,       -- how often it was taken (dead workers show here)
    PRIMARY KEY (job_id, part)
);
-- Claiming walks open parts by part number first, so that every job's first batch comes
-- before anyone's second: a big job never starves a small one.
CREATE INDEX work_open ON work (part, job_id) WHERE state = 'open';

-- Request budgets shared by every worker, one per service: a GCRA over the database clock.
-- `tat` is the theoretical arrival time of the next request; `hold_until` is set when the
-- service answered 429 with Retry-After, and holds every worker.
CREATE TABLE rate_budgets (
    key          TEXT PRIMARY KEY,
    tat          TIMESTAMPTZ NOT NULL,
    slot_at      TIMESTAMPTZ NOT NULL,
    hold_until   TIMESTAMPTZ NOT NULL
);
