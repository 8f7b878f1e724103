-- Calls. A `call` signal shows its call: `call_media`, `call_state`, `answered_at`,
-- `ended_at`, and its participants in `subjects`. The call's own record (who it rings, who
-- is in it) is one JSON document per call, changed by compare-and-set on `version`.
ALTER TABLE signals ADD COLUMN call_media TEXT;
ALTER TABLE signals ADD COLUMN call_state TEXT;
ALTER TABLE signals ADD COLUMN answered_at INTEGER;
ALTER TABLE signals ADD COLUMN ended_at INTEGER;
CREATE TABLE calls (
    id      INTEGER PRIMARY KEY,
    record  TEXT NOT NULL,
    version INTEGER NOT NULL,
    ringing INTEGER NOT NULL
);
CREATE INDEX calls_ringing ON calls (id) WHERE ringing = 1;
