//! Every statement the store runs, prepared once at start. Statements that can safely run
//! twice are marked idempotent, so the driver retries (and speculates) only those
//! (`retry.rs`). Lightweight transactions are not, except the claims of a value fresh to
//! the attempt (`IF NOT EXISTS` with a new id or key), whose callers take a claim holding
//! their own value as theirs (`crate::claim`): run twice, a claim answers the same.

use domain::Result;
use scylla::client::session::Session;
use scylla::statement::batch::{Batch, BatchType};
use scylla::statement::prepared::PreparedStatement;

use crate::unavailable;

pub struct Statements {
    pub ping: PreparedStatement,
    // users
    pub claim_subject: PreparedStatement,
    pub release_subject: PreparedStatement,
    pub claim_username: PreparedStatement,
    pub release_username: PreparedStatement,
    pub set_username: PreparedStatement,
    pub insert_ticket: PreparedStatement,
    pub redeem_ticket: PreparedStatement,
    pub insert_user: PreparedStatement,
    pub user: PreparedStatement,
    pub user_by_username: PreparedStatement,
    pub user_by_subject: PreparedStatement,
    pub insert_user_initial: PreparedStatement,
    pub delete_user_initial: PreparedStatement,
    pub users_by_prefix: PreparedStatement,
    pub users_from: PreparedStatement,
    pub set_display_name: PreparedStatement,
    pub set_status: PreparedStatement,
    pub status: PreparedStatement,
    pub delete_status: PreparedStatement,
    pub insert_status_clear: PreparedStatement,
    pub due_status_clears: PreparedStatement,
    pub take_status_clear: PreparedStatement,
    // chats and members
    pub insert_chat: PreparedStatement,
    pub claim_pair: PreparedStatement,
    pub claim_group_nonce: PreparedStatement,
    pub chat: PreparedStatement,
    pub chat_ids: PreparedStatement,
    pub chat_ids_after: PreparedStatement,
    pub set_title: PreparedStatement,
    pub insert_member: PreparedStatement,
    pub member: PreparedStatement,
    pub role: PreparedStatement,
    pub read_marks: PreparedStatement,
    pub members: PreparedStatement,
    pub member_ids: PreparedStatement,
    pub delete_member: PreparedStatement,
    pub set_role: PreparedStatement,
    // inbox
    pub user_chats: PreparedStatement,
    pub set_user_chat_activity: PreparedStatement,
    pub chat_activity: PreparedStatement,
    pub set_chat_activity: PreparedStatement,
    pub delete_user_chat: PreparedStatement,
    // signals
    pub claim_nonce: PreparedStatement,
    /// A signal's row and its chat's activity, one unlogged batch (`CqlStore::write_signal_row`).
    pub insert_signal_and_activity: Batch,
    pub insert_bucket: PreparedStatement,
    pub signal: PreparedStatement,
    pub update_signal: PreparedStatement,
    pub buckets_down: PreparedStatement,
    pub buckets_up: PreparedStatement,
    pub signals_below: PreparedStatement,
    pub signals_above: PreparedStatement,
    // reactions
    pub reaction: PreparedStatement,
    pub insert_reaction: PreparedStatement,
    pub delete_reaction: PreparedStatement,
    pub reactions_of: PreparedStatement,
    pub reactors: PreparedStatement,
    // receipts
    pub advance_read: PreparedStatement,
    pub set_delivered: PreparedStatement,
    pub delivered: PreparedStatement,
    pub delivered_of: PreparedStatement,
    pub delete_delivered: PreparedStatement,
    // attachments
    pub insert_attachment: PreparedStatement,
    pub attachments: PreparedStatement,
    pub claim_attachment: PreparedStatement,
    pub set_attachment_signal: PreparedStatement,
    pub insert_chat_file: PreparedStatement,
    pub insert_call: PreparedStatement,
    pub call: PreparedStatement,
    pub update_call: PreparedStatement,
    pub insert_ringing_call: PreparedStatement,
    pub delete_ringing_call: PreparedStatement,
    pub ringing_calls: PreparedStatement,
    pub delete_chat_file: PreparedStatement,
    pub delete_attachment: PreparedStatement,
    pub chat_files: PreparedStatement,
    pub thumbnail: PreparedStatement,
    pub set_thumbnail: PreparedStatement,
    // the blob collector
    pub insert_unsent: PreparedStatement,
    pub insert_unsent_day: PreparedStatement,
    pub unsent_days: PreparedStatement,
    pub unsent_in_day: PreparedStatement,
    pub delete_unsent: PreparedStatement,
    pub delete_unsent_day: PreparedStatement,
    pub insert_blob_hold: PreparedStatement,
    pub delete_blob_hold: PreparedStatement,
    pub any_blob_hold: PreparedStatement,
    pub blob_state: PreparedStatement,
    pub blob_live_new: PreparedStatement,
    pub blob_live_again: PreparedStatement,
    pub blob_condemn_new: PreparedStatement,
    pub blob_condemn: PreparedStatement,
    pub blob_forget: PreparedStatement,
    pub insert_condemned: PreparedStatement,
    pub condemned: PreparedStatement,
    pub delete_condemned: PreparedStatement,
    pub expire_attachment: PreparedStatement,
    pub thumbnail_blob: PreparedStatement,
    pub delete_thumbnail: PreparedStatement,
    // notifications
    pub notify_settings: PreparedStatement,
    pub chat_notify_settings: PreparedStatement,
    pub set_notify_settings: PreparedStatement,
    pub insert_push_target: PreparedStatement,
    pub push_targets: PreparedStatement,
    pub users_with_push_targets: PreparedStatement,
    pub members_pushable: PreparedStatement,
    pub set_member_pushable: PreparedStatement,
    pub push_target: PreparedStatement,
    pub delete_push_target: PreparedStatement,
    pub push_sent: PreparedStatement,
    pub insert_push_sent: PreparedStatement,
    pub insert_dead_letter: PreparedStatement,
    pub dead_letters: PreparedStatement,
    pub claim_server_key: PreparedStatement,
}

pub const SIGNAL_COLUMNS: &str = "chat_id, signal_id, author_id, kind, text, reply_to, subjects, attachments, everyone, \
     edited_at, deleted_at, lat, lon, accuracy_m, live_until, call_media, call_state, answered_at, ended_at";
pub const USER_COLUMNS: &str = "id, username, display_name, issuer, subject, created_at";
pub const MEMBER_COLUMNS: &str = "chat_id, user_id, role, joined_at, delivered_up_to, read_up_to";

/// Moves a chat's last activity: the newest wins by its write timestamp (the activity's).
const SET_CHAT_ACTIVITY: &str = "UPDATE chat_activity USING TIMESTAMP ? SET activity = ? WHERE chat_id = ?";

/// Nonces claimed by lightweight transactions (no fence) are kept a week: a client
/// retrying later than that posts again.
const NONCE_TTL_SECS: u32 = 7 * 24 * 3600;

impl Statements {
    pub async fn prepare(s: &Session) -> Result<Self> {
        let p = |cql: String, idempotent: bool| async move {
            let mut st = s.prepare(cql.clone()).await.map_err(|e| unavailable(format!("prepare {cql}: {e}")))?;
            st.set_is_idempotent(idempotent);
            Ok::<_, domain::Error>(st)
        };
        let (idem, once) = (true, false);
        Ok(Self {
            ping: p("SELECT release_version FROM system.local".into(), idem).await?,
            claim_subject: p("INSERT INTO users_by_subject (issuer, subject, user_id) VALUES (?, ?, ?) IF NOT EXISTS".into(), idem).await?,
            release_subject: p("DELETE FROM users_by_subject WHERE issuer = ? AND subject = ? IF user_id = ?".into(), once).await?,
            claim_username: p("INSERT INTO users_by_username (username, user_id) VALUES (?, ?) IF NOT EXISTS".into(), idem).await?,
            release_username: p("DELETE FROM users_by_username WHERE username = ? IF user_id = ?".into(), once).await?,
            set_username: p("UPDATE users SET username = ? WHERE id = ?".into(), idem).await?,
            insert_ticket: p("INSERT INTO event_tickets (digest, user_id, expires_at) VALUES (?, ?, ?)".into(), idem).await?,
            redeem_ticket: p("DELETE FROM event_tickets WHERE digest = ? IF user_id = ? AND expires_at > ?".into(), once).await?,
            insert_user: p(format!("INSERT INTO users ({USER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)"), idem).await?,
            user: p(format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?"), idem).await?,
            user_by_username: p("SELECT user_id FROM users_by_username WHERE username = ?".into(), idem).await?,
            user_by_subject: p("SELECT user_id FROM users_by_subject WHERE issuer = ? AND subject = ?".into(), idem).await?,
            insert_user_initial: p("INSERT INTO users_by_initial (initial, username, user_id) VALUES (?, ?, ?)".into(), idem).await?,
            delete_user_initial: p("DELETE FROM users_by_initial WHERE initial = ? AND username = ? IF user_id = ?".into(), once).await?,
            users_by_prefix: p(
                "SELECT username, user_id FROM users_by_initial WHERE initial = ? AND username >= ? AND username < ? LIMIT ?".into(),
                idem,
            )
            .await?,
            users_from: p("SELECT username, user_id FROM users_by_initial WHERE initial = ? AND username >= ? LIMIT ?".into(), idem).await?,
            set_display_name: p("UPDATE users SET display_name = ? WHERE id = ?".into(), idem).await?,
            set_status: p("INSERT INTO user_statuses (user_id, availability, text, clears_at) VALUES (?, ?, ?, ?)".into(), idem).await?,
            status: p("SELECT availability, text, clears_at FROM user_statuses WHERE user_id = ?".into(), idem).await?,
            delete_status: p("DELETE FROM user_statuses WHERE user_id = ?".into(), idem).await?,
            insert_status_clear: p("INSERT INTO status_clears (shard, clears_at, user_id) VALUES (0, ?, ?)".into(), idem).await?,
            due_status_clears: p("SELECT user_id, clears_at FROM status_clears WHERE shard = 0 AND clears_at <= ? LIMIT ?".into(), idem).await?,
            take_status_clear: p("DELETE FROM status_clears WHERE shard = 0 AND clears_at = ? AND user_id = ? IF EXISTS".into(), once).await?,

            insert_chat: p("INSERT INTO chats (id, kind, title, created_by, created_at) VALUES (?, ?, ?, ?, ?)".into(), idem).await?,
            claim_pair: p("INSERT INTO direct_pairs (user_lo, user_hi, chat_id) VALUES (?, ?, ?) IF NOT EXISTS".into(), idem).await?,
            claim_group_nonce: p(
                format!("INSERT INTO group_nonces (creator_id, nonce, chat_id) VALUES (?, ?, ?) IF NOT EXISTS USING TTL {NONCE_TTL_SECS}"),
                idem,
            )
            .await?,
            chat: p("SELECT id, kind, title, created_by, created_at FROM chats WHERE id = ?".into(), idem).await?,
            chat_ids: p("SELECT id FROM chats LIMIT ?".into(), idem).await?,
            chat_ids_after: p("SELECT id FROM chats WHERE token(id) > token(?) LIMIT ?".into(), idem).await?,
            set_title: p("UPDATE chats SET title = ? WHERE id = ?".into(), idem).await?,
            insert_member: p(format!("INSERT INTO chat_members ({MEMBER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?) IF NOT EXISTS"), once).await?,
            member: p(format!("SELECT {MEMBER_COLUMNS} FROM chat_members WHERE chat_id = ? AND user_id = ?"), idem).await?,
            role: p("SELECT role FROM chat_members WHERE chat_id = ? AND user_id = ?".into(), idem).await?,
            read_marks: p("SELECT user_id, read_up_to FROM chat_members WHERE chat_id = ?".into(), idem).await?,
            members: p(format!("SELECT {MEMBER_COLUMNS} FROM chat_members WHERE chat_id = ?"), idem).await?,
            member_ids: p("SELECT user_id FROM chat_members WHERE chat_id = ?".into(), idem).await?,
            delete_member: p("DELETE FROM chat_members WHERE chat_id = ? AND user_id = ? IF EXISTS".into(), once).await?,
            set_role: p("UPDATE chat_members SET role = ? WHERE chat_id = ? AND user_id = ? IF EXISTS".into(), once).await?,

            user_chats: p("SELECT chat_id, activity FROM user_chats WHERE user_id = ?".into(), idem).await?,
            chat_activity: p("SELECT chat_id, activity FROM chat_activity WHERE chat_id IN ?".into(), idem).await?,
            set_chat_activity: p(SET_CHAT_ACTIVITY.into(), idem).await?,
            set_user_chat_activity: p(
                "UPDATE user_chats USING TIMESTAMP ? SET activity = ? WHERE user_id = ? AND chat_id = ?".into(),
                idem,
            )
            .await?,
            delete_user_chat: p("DELETE FROM user_chats WHERE user_id = ? AND chat_id = ?".into(), idem).await?,

            claim_nonce: p(
                format!("INSERT INTO signal_nonces (chat_id, author_id, nonce, signal_id) VALUES (?, ?, ?, ?) IF NOT EXISTS USING TTL {NONCE_TTL_SECS}"),
                idem,
            )
            .await?,
            insert_signal_and_activity: {
                let mut batch = Batch::new(BatchType::Unlogged);
                batch.append_statement(
                    p(
                        format!("INSERT INTO signals (bucket, {SIGNAL_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
                        idem,
                    )
                    .await?,
                );
                batch.append_statement(p(SET_CHAT_ACTIVITY.into(), idem).await?);
                batch.set_is_idempotent(true);
                batch
            },
            // The author condition fails on a row that does not exist (a plain `IF` would
            // create one); the deletion condition keeps a tombstone one.
            update_signal: p(
                "UPDATE signals SET kind = ?, text = ?, reply_to = ?, subjects = ?, attachments = ?, everyone = ?, \
                 edited_at = ?, deleted_at = ?, lat = ?, lon = ?, accuracy_m = ?, live_until = ?, call_media = ?, \
                 call_state = ?, answered_at = ?, ended_at = ? \
                 WHERE chat_id = ? AND bucket = ? AND signal_id = ? IF author_id = ? AND deleted_at = null"
                    .into(),
                once,
            )
            .await?,
            delete_chat_file: p(
                "DELETE FROM chat_files WHERE chat_id = ? AND kind = ? AND signal_id = ? AND attachment_id = ?".into(),
                idem,
            )
            .await?,
            delete_attachment: p("DELETE FROM attachments WHERE chat_id = ? AND id = ?".into(), idem).await?,
            insert_call: p("INSERT INTO calls (id, record, version) VALUES (?, ?, ?)".into(), idem).await?,
            call: p("SELECT record FROM calls WHERE id = ?".into(), idem).await?,
            update_call: p("UPDATE calls SET record = ?, version = ? WHERE id = ? IF version = ?".into(), once).await?,
            insert_ringing_call: p("INSERT INTO ringing_calls (shard, id) VALUES (0, ?)".into(), idem).await?,
            delete_ringing_call: p("DELETE FROM ringing_calls WHERE shard = 0 AND id = ?".into(), idem).await?,
            ringing_calls: p("SELECT id FROM ringing_calls WHERE shard = 0 LIMIT ?".into(), idem).await?,
            insert_bucket: p("INSERT INTO chat_buckets (chat_id, bucket) VALUES (?, ?)".into(), idem).await?,
            signal: p(format!("SELECT {SIGNAL_COLUMNS} FROM signals WHERE chat_id = ? AND bucket = ? AND signal_id = ?"), idem).await?,
            buckets_down: p("SELECT bucket FROM chat_buckets WHERE chat_id = ? AND bucket <= ? LIMIT ?".into(), idem).await?,
            buckets_up: p("SELECT bucket FROM chat_buckets WHERE chat_id = ? AND bucket >= ? ORDER BY bucket ASC LIMIT ?".into(), idem).await?,
            signals_below: p(
                format!("SELECT {SIGNAL_COLUMNS} FROM signals WHERE chat_id = ? AND bucket = ? AND signal_id < ? LIMIT ?"),
                idem,
            )
            .await?,
            signals_above: p(
                format!("SELECT {SIGNAL_COLUMNS} FROM signals WHERE chat_id = ? AND bucket = ? AND signal_id > ? ORDER BY signal_id ASC LIMIT ?"),
                idem,
            )
            .await?,

            reaction: p(
                "SELECT user_id FROM reactions_by_bucket WHERE chat_id = ? AND bucket = ? AND signal_id = ? AND emoji = ? AND user_id = ?".into(),
                idem,
            )
            .await?,
            insert_reaction: p(
                "INSERT INTO reactions_by_bucket (chat_id, bucket, signal_id, emoji, user_id) VALUES (?, ?, ?, ?, ?)".into(),
                idem,
            )
            .await?,
            delete_reaction: p(
                "DELETE FROM reactions_by_bucket WHERE chat_id = ? AND bucket = ? AND signal_id = ? AND emoji = ? AND user_id = ?".into(),
                idem,
            )
            .await?,
            reactions_of: p(
                "SELECT signal_id, emoji, user_id FROM reactions_by_bucket WHERE chat_id = ? AND bucket = ? AND signal_id IN ?".into(),
                idem,
            )
            .await?,
            reactors: p(
                "SELECT user_id FROM reactions_by_bucket WHERE chat_id = ? AND bucket = ? AND signal_id = ? AND emoji = ? AND user_id > ? LIMIT ?".into(),
                idem,
            )
            .await?,
            advance_read: p(
                "UPDATE chat_members SET read_up_to = ? WHERE chat_id = ? AND user_id = ? IF read_up_to < ?".into(),
                once,
            )
            .await?,
            set_delivered: p(
                "UPDATE chat_delivered USING TIMESTAMP ? SET up_to = ? WHERE chat_id = ? AND user_id = ?".into(),
                idem,
            )
            .await?,
            delivered: p("SELECT user_id, up_to FROM chat_delivered WHERE chat_id = ?".into(), idem).await?,
            delivered_of: p("SELECT up_to FROM chat_delivered WHERE chat_id = ? AND user_id = ?".into(), idem).await?,
            delete_delivered: p("DELETE FROM chat_delivered WHERE chat_id = ? AND user_id = ?".into(), idem).await?,

            insert_attachment: p("INSERT INTO attachments (chat_id, id, file) VALUES (?, ?, ?)".into(), idem).await?,
            attachments: p("SELECT file, claimed_by, signal_id FROM attachments WHERE chat_id = ? AND id IN ?".into(), idem).await?,
            claim_attachment: p("UPDATE attachments SET claimed_by = ? WHERE chat_id = ? AND id = ? IF claimed_by = null AND file != null".into(), once).await?,
            set_attachment_signal: p("UPDATE attachments SET signal_id = ? WHERE chat_id = ? AND id = ?".into(), idem).await?,
            insert_chat_file: p(
                "INSERT INTO chat_files (chat_id, kind, signal_id, attachment_id, file) VALUES (?, ?, ?, ?, ?)".into(),
                idem,
            )
            .await?,
            thumbnail: p("SELECT thumb, width, height, size FROM thumbnails WHERE blob = ?".into(), idem).await?,
            set_thumbnail: p(
                "INSERT INTO thumbnails (blob, thumb, width, height, size) VALUES (?, ?, ?, ?, ?)".into(),
                idem,
            )
            .await?,
            chat_files: p(
                "SELECT signal_id, file FROM chat_files WHERE chat_id = ? AND kind = ? AND (signal_id, attachment_id) < (?, ?) LIMIT ?".into(),
                idem,
            )
            .await?,
            insert_unsent: p("INSERT INTO unsent_uploads (day, created_at, chat_id, attachment_id, sha256) VALUES (?, ?, ?, ?, ?)".into(), idem).await?,
            insert_unsent_day: p("INSERT INTO unsent_days (shard, day) VALUES (0, ?)".into(), idem).await?,
            unsent_days: p("SELECT day FROM unsent_days WHERE shard = 0 AND day <= ?".into(), idem).await?,
            unsent_in_day: p("SELECT created_at, chat_id, attachment_id, sha256 FROM unsent_uploads WHERE day = ? AND created_at < ? LIMIT ?".into(), idem).await?,
            delete_unsent: p("DELETE FROM unsent_uploads WHERE day = ? AND created_at = ? AND chat_id = ? AND attachment_id = ?".into(), idem).await?,
            delete_unsent_day: p("DELETE FROM unsent_days WHERE shard = 0 AND day = ?".into(), idem).await?,
            insert_blob_hold: p("INSERT INTO blob_holds (sha256, holder) VALUES (?, ?)".into(), idem).await?,
            delete_blob_hold: p("DELETE FROM blob_holds WHERE sha256 = ? AND holder = ?".into(), idem).await?,
            any_blob_hold: p("SELECT holder FROM blob_holds WHERE sha256 = ? LIMIT 1".into(), idem).await?,
            blob_state: p("SELECT state, hold_token FROM blob_states WHERE sha256 = ?".into(), idem).await?,
            blob_live_new: p("INSERT INTO blob_states (sha256, state, hold_token) VALUES (?, 'live', ?) IF NOT EXISTS".into(), once).await?,
            blob_live_again: p("UPDATE blob_states SET hold_token = ? WHERE sha256 = ? IF state = 'live'".into(), once).await?,
            blob_condemn_new: p("INSERT INTO blob_states (sha256, state, hold_token) VALUES (?, 'deleting', ?) IF NOT EXISTS".into(), once).await?,
            blob_condemn: p("UPDATE blob_states SET state = 'deleting' WHERE sha256 = ? IF state = 'live' AND hold_token = ?".into(), once).await?,
            blob_forget: p("DELETE FROM blob_states WHERE sha256 = ? IF state = 'deleting'".into(), once).await?,
            insert_condemned: p("INSERT INTO condemned_blobs (shard, sha256) VALUES (0, ?)".into(), idem).await?,
            condemned: p("SELECT sha256 FROM condemned_blobs WHERE shard = 0 LIMIT ?".into(), idem).await?,
            delete_condemned: p("DELETE FROM condemned_blobs WHERE shard = 0 AND sha256 = ?".into(), idem).await?,
            expire_attachment: p("DELETE FROM attachments WHERE chat_id = ? AND id = ? IF claimed_by = null AND signal_id = null".into(), once).await?,
            thumbnail_blob: p("SELECT thumb FROM thumbnails WHERE blob = ?".into(), idem).await?,
            delete_thumbnail: p("DELETE FROM thumbnails WHERE blob = ?".into(), idem).await?,
            notify_settings: p("SELECT level, muted_until FROM member_notify WHERE chat_id = ? AND user_id = ?".into(), idem).await?,
            chat_notify_settings: p("SELECT user_id, level, muted_until FROM member_notify WHERE chat_id = ?".into(), idem).await?,
            set_notify_settings: p("INSERT INTO member_notify (chat_id, user_id, level, muted_until) VALUES (?, ?, ?, ?)".into(), idem).await?,
            insert_push_target: p("INSERT INTO push_targets (user_id, target_id, spec, created_at) VALUES (?, ?, ?, ?)".into(), idem).await?,
            push_targets: p("SELECT user_id, target_id, spec, created_at FROM push_targets WHERE user_id = ?".into(), idem).await?,
            users_with_push_targets: p("SELECT user_id FROM push_targets WHERE user_id IN ? PER PARTITION LIMIT 1".into(), idem).await?,
            members_pushable: p("SELECT user_id, pushable FROM member_notify WHERE chat_id = ? AND user_id IN ?".into(), idem).await?,
            set_member_pushable: p(
                "UPDATE member_notify USING TIMESTAMP ? SET pushable = ? WHERE chat_id = ? AND user_id = ?".into(),
                idem,
            )
            .await?,
            push_target: p("SELECT target_id FROM push_targets WHERE user_id = ? AND target_id = ?".into(), idem).await?,
            delete_push_target: p("DELETE FROM push_targets WHERE user_id = ? AND target_id = ?".into(), idem).await?,
            push_sent: p("SELECT key FROM push_sent WHERE target_id = ? AND key = ?".into(), idem).await?,
            insert_push_sent: p("INSERT INTO push_sent (target_id, key) VALUES (?, ?)".into(), idem).await?,
            insert_dead_letter: p("INSERT INTO push_dead_letters (shard, at, target_id, key, user_id, attempts, error) VALUES (0, ?, ?, ?, ?, ?, ?)".into(), idem).await?,
            dead_letters: p("SELECT at, target_id, key, user_id, attempts, error FROM push_dead_letters WHERE shard = 0 LIMIT ?".into(), idem).await?,
            claim_server_key: p("INSERT INTO server_keys (name, value) VALUES (?, ?) IF NOT EXISTS".into(), idem).await?,
        })
    }
}
