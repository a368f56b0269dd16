-- What every route has put on its destination, carried from job to job. (One file for both
-- databases: the SQLite folder links to it.)
--
-- A route is one owner's one transfer: the same sources, destination and options (a job's
-- spec). When a job ends, each item it landed is remembered here under its route, replacing
-- what an earlier job remembered of the same item. A later job on the route that lists the
-- same item unchanged, and finds it still in place at the destination, writes no unit for
-- it at all: it counts it as unchanged. A re-run then costs a listing, not a transfer.
ALTER TABLE jobs ADD COLUMN route TEXT;                                -- hex SHA-256 of owner and spec
ALTER TABLE jobs ADD COLUMN unchanged_items BIGINT NOT NULL DEFAULT 0; -- found in place, not journalled
ALTER TABLE jobs ADD COLUMN unchanged_bytes BIGINT NOT NULL DEFAULT 0;

CREATE TABLE landings (
    route          TEXT NOT NULL,
    owner          TEXT NOT NULL,   -- so that deleting an account deletes its routes
    source_index   BIGINT NOT NULL,
    source_id      TEXT NOT NULL,
    album_id       TEXT NOT NULL,
    record         TEXT NOT NULL,   -- JSON MediaItem as listed: unchanged means equal
    container      TEXT NOT NULL,   -- containers.key
    container_spec TEXT NOT NULL,   -- JSON Container
    container_id   TEXT NOT NULL,   -- the container's id on the destination
    name           TEXT NOT NULL,
    dest_id        TEXT NOT NULL,
    sha256         TEXT NOT NULL,
    bytes          BIGINT NOT NULL,
    job_id         TEXT NOT NULL,   -- the job that landed it last
    PRIMARY KEY (route, source_index, source_id, album_id)
);
CREATE INDEX landings_by_container ON landings (route, container);
CREATE INDEX landings_by_owner ON landings (owner);
