-- The units of one source item (one per album it is in), found when an item in several albums
-- is placed once and added to its other albums.
CREATE INDEX units_by_item ON units (job_id, source_index, source_id);
