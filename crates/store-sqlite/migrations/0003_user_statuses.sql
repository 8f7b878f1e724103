-- The status each user set (availability, text, when it clears): durable, so it survives a
-- restart. No row: the default (online, no text).
CREATE TABLE IF NOT EXISTS user_statuses (
    user_id INTEGER PRIMARY KEY,
    availability TEXT NOT NULL,
    text TEXT,
    clears_at INTEGER
);
