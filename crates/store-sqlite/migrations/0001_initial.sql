-- The initial schema. Tables mirror the CQL model of DESIGN.md; the SQLite adapter may
-- use SQL's extra powers (transactions, row values) but answers the same queries.
CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    display_name  TEXT NOT NULL,
    issuer        TEXT NOT NULL,
    subject       TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    UNIQUE (issuer, subject)
);

CREATE TABLE chats (
    id          INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL,
    title       TEXT,
    created_by  INTEGER NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE TABLE direct_pairs (
    user_lo  INTEGER NOT NULL,
    user_hi  INTEGER NOT NULL,
    chat_id  INTEGER NOT NULL,
    PRIMARY KEY (user_lo, user_hi)
) WITHOUT ROWID;

CREATE TABLE chat_members (
    chat_id          INTEGER NOT NULL,
    user_id          INTEGER NOT NULL,
    role             TEXT NOT NULL,
    joined_at        INTEGER NOT NULL,
    delivered_up_to  INTEGER NOT NULL DEFAULT 0,
    read_up_to       INTEGER NOT NULL DEFAULT 0,
    -- The inbox order: the chat's latest signal id (or its own id), per member.
    activity         INTEGER NOT NULL,
    PRIMARY KEY (chat_id, user_id)
) WITHOUT ROWID;
CREATE INDEX user_inbox ON chat_members (user_id, activity DESC, chat_id DESC);

CREATE TABLE signals (
    chat_id    INTEGER NOT NULL,
    id         INTEGER NOT NULL,
    author_id  INTEGER NOT NULL,
    kind       TEXT NOT NULL,
    text       TEXT,
    reply_to   INTEGER,
    subjects   TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (chat_id, id)
) WITHOUT ROWID;

CREATE TABLE signal_nonces (
    chat_id    INTEGER NOT NULL,
    author_id  INTEGER NOT NULL,
    nonce      TEXT NOT NULL,
    signal_id  INTEGER NOT NULL,
    PRIMARY KEY (chat_id, author_id, nonce)
) WITHOUT ROWID;

CREATE TABLE reactions (
    chat_id    INTEGER NOT NULL,
    signal_id  INTEGER NOT NULL,
    emoji      TEXT NOT NULL,
    user_id    INTEGER NOT NULL,
    PRIMARY KEY (chat_id, signal_id, emoji, user_id)
) WITHOUT ROWID;
CREATE INDEX reactions_by_user ON reactions (chat_id, user_id, signal_id);

CREATE TABLE reaction_counts (
    chat_id    INTEGER NOT NULL,
    signal_id  INTEGER NOT NULL,
    emoji      TEXT NOT NULL,
    n          INTEGER NOT NULL,
    PRIMARY KEY (chat_id, signal_id, emoji)
) WITHOUT ROWID;
