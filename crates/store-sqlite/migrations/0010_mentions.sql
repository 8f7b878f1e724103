-- Mentions: a message's mentioned members are in `subjects` (for joined / left, the
-- members who joined or left); `everyone` is its @everyone flag.
ALTER TABLE signals ADD COLUMN everyone INTEGER NOT NULL DEFAULT 0;
