-- The group a user created with a nonce, so a retried creation returns the first group.
CREATE TABLE group_nonces (
    creator_id INTEGER NOT NULL,
    nonce      TEXT NOT NULL,
    chat_id    INTEGER NOT NULL,
    PRIMARY KEY (creator_id, nonce)
) WITHOUT ROWID;
