//! Chats and membership: direct chats (one per pair), groups with roles, joining and
//! leaving (each written into the timeline), and the inbox.

use std::collections::BTreeSet;

use domain::{
    Chat, ChatEvent, ChatId, ChatKind, Error, ErrorCode, Event, Id, InboxEntry, Member, Page, Result, Role, Signal,
    SignalBody, Unread, User, UserId, id::now_ms, rules,
};

use futures::{StreamExt, TryStreamExt};
use ports::InsertSignalOutcome;

use crate::{ChatService, cursor};

/// Chats of a "my chats" page read at the same time.
const MY_CHATS_CONCURRENCY: usize = 16;

/// How many signals after a read marker the unread counts look at.
pub const UNREAD_WINDOW: usize = 1000;

/// A chat as one member sees it in their list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatSummary {
    pub chat: Chat,
    pub me: Member,
    /// The latest signal's id, or the chat's id when it has none.
    pub activity: Id,
    /// The member's notification settings of the chat.
    pub notify: domain::NotifySettings,
    /// What the member has not read yet.
    pub unread: Unread,
}

impl ChatService {
    /// The chat, if the actor is a member; otherwise "not found", whether or not it exists.
    pub async fn chat_for(&self, actor: &User, chat_id: ChatId) -> Result<(Chat, Member)> {
        let member = self.store.member(chat_id, actor.id).await?.ok_or_else(Error::chat_not_found)?;
        let chat = self.store.chat(chat_id).await?.ok_or_else(Error::chat_not_found)?;
        Ok((chat, member))
    }

    /// The actor's role in the chat; "not found" for outsiders, whether or not the chat
    /// exists. One read: what a request needs when it does not show the chat itself.
    pub(crate) async fn membership(&self, actor: &User, chat_id: ChatId) -> Result<Role> {
        self.store.role(chat_id, actor.id).await?.ok_or_else(Error::chat_not_found)
    }

    pub async fn members_of(&self, actor: &User, chat_id: ChatId) -> Result<Vec<Member>> {
        self.membership(actor, chat_id).await?;
        self.store.members(chat_id).await
    }

    /// Creates a chat of `kind` with the caller and `members`: a group (titled; with a
    /// `nonce`, once per nonce of the caller), or the caller's direct chat with the one
    /// other member, which is created once per pair (the flag says whether this call
    /// created it).
    pub async fn create_chat(
        &self,
        actor: &User,
        kind: ChatKind,
        title: Option<&str>,
        members: &[UserId],
        nonce: Option<&str>,
    ) -> Result<(Chat, bool)> {
        match kind {
            ChatKind::Direct => {
                if title.is_some() {
                    return Err(Error::invalid(ErrorCode::DirectHasNoTitle, "a direct chat has no title"));
                }
                let others: Vec<UserId> = members.iter().copied().filter(|m| *m != actor.id).collect();
                let [other] = others[..] else {
                    return Err(Error::invalid(
                        ErrorCode::DirectNeedsOneOther,
                        "a direct chat has exactly one other member",
                    ));
                };
                self.open_direct(actor, other).await
            }
            ChatKind::Group => self.create_group(actor, title.unwrap_or_default(), members, nonce).await,
        }
    }

    /// The direct chat between the actor and `other`, created on first call. Returns the
    /// chat and whether this call created it.
    pub async fn open_direct(&self, actor: &User, other: UserId) -> Result<(Chat, bool)> {
        if other == actor.id {
            return Err(Error::invalid(ErrorCode::DirectWithSelf, "a direct chat is between two different people"));
        }
        self.user(other).await?;
        let proposed = self.ids.next_id();
        let chat_id = self.store.claim_direct_chat(actor.id, other, proposed).await?;
        let created = chat_id == proposed;
        let chat = match self.store.chat(chat_id).await? {
            Some(chat) => chat,
            None => {
                // Either this call won the pair, or the winner has not finished (or died)
                // between claiming the pair and writing the chat. Writing the same chat
                // again is harmless: a direct chat's rows follow from the pair alone.
                let chat = Chat {
                    id: chat_id,
                    kind: ChatKind::Direct,
                    title: None,
                    created_by: actor.id,
                    created_at: chat_id.unix_ms() as i64,
                };
                let members = [actor.id, other].map(|u| new_member(chat_id, u, Role::Member, chat.created_at));
                self.store.create_chat(&chat, &members).await?;
                chat
            }
        };
        if created {
            self.publish(ChatEvent {
                chat_id,
                event: Event::ChatCreated { chat: chat.clone(), members: sorted(vec![actor.id, other]) },
                also_notify: vec![],
            })
            .await?;
        }
        Ok((chat, created))
    }

    /// Creates a group chat with the actor as owner; writes a `joined` signal for everyone.
    /// Returns the group and whether this call created it: with a `nonce`, a repeat by the
    /// same caller (a retry after a failure or a lost answer) finishes and returns the group
    /// the first call started, and never makes a second one; by the API's contract one
    /// nonce is one group, so the repeat carries the same title and members.
    pub async fn create_group(
        &self,
        actor: &User,
        title: &str,
        members: &[UserId],
        nonce: Option<&str>,
    ) -> Result<(Chat, bool)> {
        let title = title.trim();
        rules::validate_title(title, self.limits.max_title_chars)?;
        if let Some(nonce) = nonce {
            rules::validate_nonce(nonce)?;
        }
        let mut ids: BTreeSet<UserId> = members.iter().copied().collect();
        ids.insert(actor.id);
        if ids.len() < 2 {
            return Err(Error::invalid(ErrorCode::TooFewMembers, "a group has at least two members"));
        }
        self.check_group_size(ids.len())?;
        self.check_users_exist(ids.iter().copied()).await?;

        let proposed = self.ids.next_id();
        let chat_id = match nonce {
            Some(nonce) => self.store.claim_group_nonce(actor.id, nonce, proposed).await?,
            None => proposed,
        };
        let created = chat_id == proposed;
        let now = chat_id.unix_ms() as i64;
        // Only a repeat can find the chat written already: a new one costs no read.
        let existing = if created { None } else { self.store.chat(chat_id).await? };
        let chat = match existing {
            // A repeat, and the first call wrote the group (the store writes the chat last, so
            // its first members are all in). Members may have come and gone since: nothing is
            // written again. Within the retry window its event and `joined` line, which the
            // first call may not have got to, are announced again (the bus and the nonce
            // drop what they already have); later the group is only returned.
            Some(first) => {
                if now_ms() as i64 - now > RETRY_WINDOW_MS {
                    return Ok((first, false));
                }
                first
            }
            // New, or the first call stopped before writing the chat: write it all.
            None => {
                let chat = Chat {
                    id: chat_id,
                    kind: ChatKind::Group,
                    title: Some(title.to_string()),
                    created_by: actor.id,
                    created_at: now,
                };
                let rows: Vec<Member> = ids
                    .iter()
                    .map(|u| new_member(chat_id, *u, if *u == actor.id { Role::Owner } else { Role::Member }, now))
                    .collect();
                self.store.create_chat(&chat, &rows).await?;
                chat
            }
        };
        let member_ids: Vec<UserId> = ids.into_iter().collect();
        self.publish(ChatEvent {
            chat_id,
            event: Event::ChatCreated { chat: chat.clone(), members: member_ids.clone() },
            also_notify: vec![],
        })
        .await?;
        let joined = joined_nonce(now);
        self.write_membership_signal_once(chat_id, actor.id, SignalBody::Joined { users: member_ids }, &joined).await?;
        Ok((chat, created))
    }

    /// Renames a group (owner or admin).
    pub async fn rename_group(&self, actor: &User, chat_id: ChatId, title: &str) -> Result<Chat> {
        let (chat, me) = self.chat_for(actor, chat_id).await?;
        if chat.kind != ChatKind::Group {
            return Err(Error::invalid(ErrorCode::NotAGroup, "only a group has a title"));
        }
        if !me.role.manages_members() {
            return Err(Error::forbidden(ErrorCode::NotAnAdmin, "only the owner or an admin may do this"));
        }
        let title = title.trim();
        rules::validate_title(title, self.limits.max_title_chars)?;
        self.store.set_chat_title(chat_id, title).await?;
        Ok(Chat { title: Some(title.to_string()), ..chat })
    }

    /// Adds people to a group (owner or admin). People already in it are skipped, but a
    /// repeat by the same actor within [`RETRY_WINDOW_MS`] finishes what the first call may
    /// have left undone (see below).
    pub async fn add_members(&self, actor: &User, chat_id: ChatId, users: &[UserId]) -> Result<Vec<Member>> {
        let (chat, me) = self.chat_for(actor, chat_id).await?;
        if chat.kind != ChatKind::Group {
            return Err(Error::invalid(ErrorCode::DirectChatIsFixed, "a direct chat always has the same two people"));
        }
        if !me.role.manages_members() {
            return Err(Error::forbidden(ErrorCode::NotAnAdmin, "only the owner or an admin may add people"));
        }
        if users.is_empty() {
            return Err(Error::invalid(ErrorCode::NoUsers, "name at least one user to add"));
        }
        let current = self.store.members(chat_id).await?;
        let new: BTreeSet<UserId> =
            users.iter().copied().filter(|u| !current.iter().any(|m| m.user_id == *u)).collect();
        self.check_group_size(current.len() + new.len())?;
        self.check_users_exist(new.iter().copied()).await?;
        // After every earlier join: a batch's `joined` line is written once per
        // (actor, joined_at), so a batch sharing the millisecond of an earlier one (the
        // group's creation, say) would lose its line.
        let now = (now_ms() as i64).max(current.iter().map(|m| m.joined_at).max().unwrap_or(0) + 1);
        let rows: Vec<Member> = new.iter().map(|u| new_member(chat_id, *u, Role::Member, now)).collect();
        if !rows.is_empty() {
            let added = self.store.add_members(chat_id, &rows).await;
            // Written or half written: the fan-out sends to the new members from now on.
            self.membership_changed(chat_id).await;
            added?;
        }
        // The people this call added, and those a recent call by the same actor added who are
        // named again: a retry after a failure finishes what that call may have left undone
        // (its event and its `joined` line, written once per batch and actor).
        let mut batches: std::collections::BTreeMap<i64, Vec<UserId>> = Default::default();
        let recent = |m: &&Member| users.contains(&m.user_id) && now - m.joined_at <= RETRY_WINDOW_MS;
        for row in rows.iter().chain(current.iter().filter(recent)) {
            batches.entry(row.joined_at).or_default().push(row.user_id);
        }
        for (joined_at, mut added) in batches {
            added.sort();
            self.publish(ChatEvent {
                chat_id,
                event: Event::MembersJoined { chat_id, user_ids: added.clone(), by: actor.id },
                also_notify: vec![],
            })
            .await?;
            let nonce = joined_nonce(joined_at);
            self.write_membership_signal_once(chat_id, actor.id, SignalBody::Joined { users: added }, &nonce).await?;
        }
        self.store.members(chat_id).await
    }

    /// Removes `user` from a group: anyone may leave; the owner and admins may remove
    /// others, but only the owner may remove an admin and nobody removes the owner. When
    /// the owner leaves, the longest-standing admin (else member) becomes owner.
    pub async fn remove_member(&self, actor: &User, chat_id: ChatId, user: UserId) -> Result<()> {
        let (chat, me) = self.chat_for(actor, chat_id).await?;
        if chat.kind != ChatKind::Group {
            return Err(Error::invalid(ErrorCode::DirectChatIsFixed, "a direct chat always has the same two people"));
        }
        let members = self.store.members(chat_id).await?;
        let target = members
            .iter()
            .find(|m| m.user_id == user)
            .ok_or_else(|| Error::not_found(ErrorCode::MemberNotFound, "this user is not a member of the chat"))?;
        if user != actor.id {
            let allowed = me.role.manages_members() && target.role < me.role;
            if !allowed {
                return Err(Error::forbidden(ErrorCode::NotAllowed, "you may not remove this member"));
            }
        }
        // Every step can be done again, and the membership goes last: a call that fails
        // half-way leaves the member in, so its retry finds them and finishes the change
        // (the `left` signal is written once: its nonce names this membership). Done or
        // half done, the senders' remembered roles are forgotten before the answer.
        let steps = async {
            if target.role == Role::Owner {
                let successor = members
                    .iter()
                    .filter(|m| m.user_id != user)
                    .max_by_key(|m| (m.role, std::cmp::Reverse(m.joined_at), std::cmp::Reverse(m.user_id)));
                if let Some(successor) = successor {
                    self.store.set_role(chat_id, successor.user_id, Role::Owner).await?;
                }
            }
            let nonce = format!("left-{}-{}", user.0, target.joined_at);
            self.write_membership_signal_once(chat_id, actor.id, SignalBody::Left { users: vec![user] }, &nonce)
                .await?;
            self.publish(ChatEvent {
                chat_id,
                event: Event::MemberLeft { chat_id, user_id: user, by: actor.id },
                also_notify: vec![user],
            })
            .await?;
            self.store.remove_member(chat_id, user).await
        };
        let done = steps.await;
        self.membership_changed(chat_id).await;
        done
    }

    /// Changes a member's role in a group. Only the owner does it, and not to themselves;
    /// `Owner` hands ownership over: the target becomes owner and the owner an admin (the
    /// new owner first, so a failure half-way never leaves a group without one). Each change
    /// is announced to the members (`member.role_changed`). Setting the role a member has
    /// already changes nothing and announces nothing.
    pub async fn set_role(&self, actor: &User, chat_id: ChatId, user: UserId, role: Role) -> Result<Member> {
        let (chat, me) = self.chat_for(actor, chat_id).await?;
        if chat.kind != ChatKind::Group {
            return Err(Error::invalid(ErrorCode::DirectChatIsFixed, "a direct chat has no roles to change"));
        }
        if me.role != Role::Owner {
            return Err(Error::forbidden(ErrorCode::NotAllowed, "only the owner may change roles"));
        }
        if user == actor.id {
            return Err(Error::forbidden(
                ErrorCode::NotAllowed,
                "hand ownership over to someone to change your own role",
            ));
        }
        let target = self
            .store
            .member(chat_id, user)
            .await?
            .ok_or_else(|| Error::not_found(ErrorCode::MemberNotFound, "this user is not a member of the chat"))?;
        if target.role == role {
            return Ok(target);
        }
        let steps = async {
            self.store.set_role(chat_id, user, role).await?;
            self.announce_role(chat_id, user, role, actor.id).await?;
            if role == Role::Owner {
                self.store.set_role(chat_id, actor.id, Role::Admin).await?;
                self.announce_role(chat_id, actor.id, Role::Admin, actor.id).await?;
            }
            Ok(Member { role, ..target })
        };
        let done = steps.await;
        self.membership_changed(chat_id).await;
        done
    }

    async fn announce_role(&self, chat_id: ChatId, user_id: UserId, role: Role, by: UserId) -> Result<()> {
        let event = Event::MemberRoleChanged { chat_id, user_id, role, by };
        self.publish(ChatEvent { chat_id, event, also_notify: vec![] }).await
    }

    /// What `member` has not read in the chat: the members' signals after their read marker,
    /// not their own, not deleted, counted over at most [`UNREAD_WINDOW`] signals (a
    /// client shows "999+" past that); exact in both shapes, since it is counted from the
    /// timeline itself (no counter to drift when an event is redelivered or a signal is
    /// deleted or edited).
    pub(crate) async fn unread(&self, chat_id: ChatId, member: &Member) -> Result<Unread> {
        let after = self.store.signals(chat_id, ports::SignalRange::After(member.read_up_to), UNREAD_WINDOW).await?;
        Ok(Unread::count(member.user_id, &after))
    }

    /// The actor's chats, most recently active first.
    pub async fn my_chats(&self, actor: &User, cursor: Option<&str>, limit: usize) -> Result<Page<ChatSummary>> {
        let after = cursor.map(cursor::parse_inbox_cursor).transpose()?;
        let entries = self.store.inbox(actor.id, after, limit + 1).await?;
        let more = entries.len() > limit;
        // The chats side by side (in their order): a page of 50 is 50 × (3 reads, and one
        // timeline read when there is something unread), which one after the other took
        // most of the listing's time on CQL.
        let summaries: Vec<Option<ChatSummary>> =
            futures::stream::iter(entries.into_iter().take(limit).map(|InboxEntry { chat_id, activity }| async move {
                // A chat left between the two reads is simply skipped.
                let (chat, me, notify) = tokio::try_join!(
                    self.store.chat(chat_id),
                    self.store.member(chat_id, actor.id),
                    self.store.notify_settings(chat_id, actor.id),
                )?;
                let (Some(chat), Some(me)) = (chat, me) else { return Ok(None) };
                let unread =
                    if activity > me.read_up_to { self.unread(chat_id, &me).await? } else { Unread::default() };
                Ok::<_, Error>(Some(ChatSummary { chat, me, activity, notify, unread }))
            }))
            .buffered(MY_CHATS_CONCURRENCY)
            .try_collect()
            .await?;
        let items: Vec<ChatSummary> = summaries.into_iter().flatten().collect();
        let next_cursor = if more { items.last().map(|s| cursor::inbox_cursor(s.activity, s.chat.id)) } else { None };
        Ok(Page { items, next_cursor })
    }

    fn check_group_size(&self, n: usize) -> Result<()> {
        if n > self.limits.max_group_members {
            return Err(Error::invalid(
                ErrorCode::TooManyMembers,
                format!("a group has at most {} members", self.limits.max_group_members),
            ));
        }
        Ok(())
    }

    async fn check_users_exist(&self, users: impl Iterator<Item = UserId>) -> Result<()> {
        for u in users {
            if self.store.user(u).await?.is_none() {
                return Err(Error::not_found(ErrorCode::UserNotFound, format!("no user with id {u}")));
            }
        }
        Ok(())
    }

    /// Writes a membership signal (joined, left) at most once per `nonce` of `author` in
    /// the chat, and announces it: a repeat announces the signal written the first time
    /// again (the bus drops what it already has).
    async fn write_membership_signal_once(
        &self,
        chat_id: ChatId,
        author: UserId,
        body: SignalBody,
        nonce: &str,
    ) -> Result<()> {
        let signal = Signal { id: self.ids.next_id(), chat_id, author_id: author, body, edited_at: None };
        match self.store.insert_signal(&signal, Some(nonce)).await? {
            InsertSignalOutcome::Inserted => self.after_signal_stored(signal, None).await,
            InsertSignalOutcome::Duplicate(first) => match self.store.signal(chat_id, first).await? {
                Some(first) => self.after_signal_stored(first, None).await,
                None => Ok(()),
            },
        }
    }
}

/// How long after creating a group or adding people a repeat of the call by the same actor
/// is taken as its retry (see [`ChatService::create_group`], [`ChatService::add_members`]).
const RETRY_WINDOW_MS: i64 = 10 * 60 * 1000;

/// The nonce of the `joined` signal of the people an actor added to a chat at `joined_at`
/// (ms): one line per call that added them (the nonce is scoped to the chat and the actor),
/// whoever of them a repeat names.
fn joined_nonce(joined_at: i64) -> String {
    format!("joined-{joined_at}")
}

fn new_member(chat_id: ChatId, user_id: UserId, role: Role, joined_at: i64) -> Member {
    Member { chat_id, user_id, role, joined_at, delivered_up_to: Id::ZERO, read_up_to: Id::ZERO }
}

fn sorted(mut v: Vec<UserId>) -> Vec<UserId> {
    v.sort();
    v
}
