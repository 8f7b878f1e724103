-- Single-use tickets for opening the event stream (POST /api/v1/events/ticket). Only the
-- SHA-256 of a ticket is kept. Expired rows are deleted when new tickets are issued.
CREATE TABLE event_tickets (
    digest TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX event_tickets_expiry ON event_tickets (expires_at);
