-- Notifications: members' settings per chat, push targets, what reached which target,
-- jobs that failed for good, and server keys (the VAPID key pair).
CREATE TABLE member_notify (
    chat_id INTEGER NOT NULL,
    user_id INTEGER NOT NULL,
    level TEXT NOT NULL,
    muted_until INTEGER,
    PRIMARY KEY (chat_id, user_id)
) WITHOUT ROWID;

CREATE TABLE push_targets (
    user_id INTEGER NOT NULL,
    target_id INTEGER NOT NULL,
    spec TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, target_id)
) WITHOUT ROWID;

CREATE TABLE push_sent (
    target_id INTEGER NOT NULL,
    key TEXT NOT NULL,
    sent_at INTEGER NOT NULL,
    PRIMARY KEY (target_id, key)
) WITHOUT ROWID;
CREATE INDEX push_sent_by_time ON push_sent (sent_at);

CREATE TABLE push_dead_letters (
    at INTEGER NOT NULL,
    target_id INTEGER NOT NULL,
    key TEXT NOT NULL,
    user_id INTEGER NOT NULL,
    attempts INTEGER NOT NULL,
    error TEXT NOT NULL,
    PRIMARY KEY (at, target_id, key)
) WITHOUT ROWID;

CREATE TABLE server_keys (
    name TEXT PRIMARY KEY,
    value BLOB NOT NULL
) WITHOUT ROWID;
