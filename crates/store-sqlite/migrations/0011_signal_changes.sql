-- Signals that change: edits (`edited_at`), tombstones (`deleted_at`; the row keeps its
-- kind and loses its content) and shared locations (`lat`, `lon`, `accuracy_m`, the label
-- in `text`, `live_until` for a live one).
ALTER TABLE signals ADD COLUMN edited_at INTEGER;
ALTER TABLE signals ADD COLUMN deleted_at INTEGER;
ALTER TABLE signals ADD COLUMN lat REAL;
ALTER TABLE signals ADD COLUMN lon REAL;
ALTER TABLE signals ADD COLUMN accuracy_m REAL;
ALTER TABLE signals ADD COLUMN live_until INTEGER;
