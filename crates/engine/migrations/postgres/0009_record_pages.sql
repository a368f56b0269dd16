-- The records a job listed that are not files of their own (posts, comments, stories,
-- threads, messages, profiles, notes, events, check-ins), for a destination that holds them:
-- one row per listed page, its records as a JSON array of model records, written in the
-- same transaction as the page's units and cursor (so a page is never kept twice, nor lost).
-- A page of 200,000 messages' worth is a few hundred rows, not 200,000. (One file for both
-- databases: the SQLite folder links to it.)
CREATE TABLE record_pages (
    job_id       TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    page         BIGINT NOT NULL,   -- 1, 2, … in listing order
    source_index BIGINT NOT NULL,
    records      TEXT NOT NULL,
    counts       TEXT NOT NULL,     -- JSON: records of the page by type, {"post": 3, …}
    PRIMARY KEY (job_id, page)
);
