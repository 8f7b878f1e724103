-- The blob collector. What keeps each blob: an upload of its bytes, or the image whose
-- thumbnail it is.
CREATE TABLE blob_holds (
    sha256 TEXT NOT NULL,
    holder TEXT NOT NULL,
    PRIMARY KEY (sha256, holder)
) WITHOUT ROWID;
-- Blobs the collector is deleting (uploads of the same bytes wait until they are gone).
CREATE TABLE condemned_blobs (sha256 TEXT PRIMARY KEY) WITHOUT ROWID;
-- Uploads not sent yet, oldest first for the collector.
CREATE TABLE unsent_uploads (
    attachment_id INTEGER PRIMARY KEY,
    chat_id       INTEGER NOT NULL,
    sha256        TEXT NOT NULL,
    created_at    INTEGER NOT NULL
);
CREATE INDEX unsent_uploads_by_age ON unsent_uploads (created_at);
-- What was there before: every upload holds its blob, every thumbnail its own, and the
-- uploads neither claimed nor sent may expire.
INSERT OR IGNORE INTO blob_holds (sha256, holder)
    SELECT sha256, 'upload:' || chat_id || ':' || id FROM attachments;
INSERT OR IGNORE INTO blob_holds (sha256, holder)
    SELECT thumb, 'thumbnail:' || blob FROM thumbnails WHERE thumb IS NOT NULL;
INSERT INTO unsent_uploads (attachment_id, chat_id, sha256, created_at)
    SELECT id, chat_id, sha256, created_at FROM attachments WHERE claimed_by IS NULL AND signal_id IS NULL;
