-- The types a job was asked for that its route cannot carry, each with why: a JSON list of
-- ["posts", "reason"] pairs, decided once when the job is planned from what its sources
-- offer and its destination holds, so that every report of the job says what it left
-- behind. NULL for jobs planned before. (One file for both databases: the SQLite folder
-- links to it.)
ALTER TABLE jobs ADD COLUMN types_skipped TEXT;
