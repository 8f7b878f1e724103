-- A chat's last activity (its latest signal id, or its own id) is one column of the chat,
-- moved once per signal, instead of one per member: "my chats" joins the user's
-- memberships with it. `chat_members.activity` is no longer read.
ALTER TABLE chats ADD COLUMN activity INTEGER NOT NULL DEFAULT 0;
UPDATE chats SET activity = MAX(id, COALESCE((SELECT MAX(activity) FROM chat_members WHERE chat_id = chats.id), 0));
DROP INDEX user_inbox;
CREATE INDEX chat_members_by_user ON chat_members (user_id, chat_id);
