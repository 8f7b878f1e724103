-- Statuses that clear by themselves, by when: the `presence` role tells the user's
-- contacts when they do.
CREATE TABLE status_clears (
    clears_at INTEGER NOT NULL,
    user_id   INTEGER NOT NULL,
    PRIMARY KEY (clears_at, user_id)
) WITHOUT ROWID;
