-- Uploaded files: one row per upload (the bytes are in the blob storage under `sha256`),
-- the nonce of the send that claimed it and, once that message is stored, its id.
CREATE TABLE attachments (
    id           INTEGER PRIMARY KEY,
    chat_id      INTEGER NOT NULL,
    uploader_id  INTEGER NOT NULL,
    filename     TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size         INTEGER NOT NULL,
    sha256       TEXT NOT NULL,
    kind         TEXT NOT NULL,
    width        INTEGER,
    height       INTEGER,
    created_at   INTEGER NOT NULL,
    claimed_by   TEXT,
    signal_id    INTEGER
);
-- "All files of a chat", newest first.
CREATE INDEX attachments_sent ON attachments (chat_id, signal_id DESC, id DESC) WHERE signal_id IS NOT NULL;
-- Which uploads hold a blob (the garbage collector's question).
CREATE INDEX attachments_by_blob ON attachments (sha256);
-- The attachments a message carries, as a JSON list of attachment objects ('' for none).
ALTER TABLE signals ADD COLUMN attachments TEXT NOT NULL DEFAULT '';
