-- The units of one source item (one per album it is in).
CREATE INDEX units_by_item ON units (job_id, source_index, source_id);
