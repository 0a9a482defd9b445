//! Queuing a reply, for agents and bots alike: the rules a reply must meet before anything
//! is stored, then the line with its outbox row (or the line alone, failed, when a network
//! limit refuses it).

use crate::AppState;
use crate::error::{AppError, AppResult};
use crate::store::{LinkStatus, NewReply, ReplyContext, Upload};
use shared::api::{LineStatus, ReplyLine};
use shared::replies::{answers_last_public, refusal, reply_tag, reply_target};
use shared::{Channel, ErrorCode, ReplyMode, Tag};

/// How long after the person's last Messenger message a bot may still write there
/// (HUMAN_AGENT, which stretches it to 7 days, is for people).
const BOT_WINDOW_MS: i64 = 24 * 3600 * 1000;

/// Whether a bot may write privately to a person who last wrote privately at
/// `last_private_at_ms`: on X whenever they have written; on Messenger within 24 hours.
pub fn bot_may_write(channel: Channel, last_private_at_ms: Option<i64>, now_ms: i64) -> bool {
    match (channel, last_private_at_ms) {
        (_, None) => false,
        (Channel::Facebook, Some(t)) => now_ms - t <= BOT_WINDOW_MS,
        (Channel::Twitter, Some(_)) => true,
    }
}

/// Who writes a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WrittenBy {
    /// An agent, by user id.
    Agent(i64),
    /// An agent in the host's own workspace (LiveEngage), who is no person here.
    Host,
    /// The linked page's or account's bot.
    Bot,
}

/// A reply to queue.
#[derive(Debug, Clone, Copy)]
pub struct Reply<'a> {
    pub mode: ReplyMode,
    /// Trimmed before anything else; may be empty when an image goes.
    pub text: &'a str,
    /// An upload of the conversation's brand account.
    pub upload: Option<&'a Upload>,
    pub by: WrittenBy,
    /// When it was written, milliseconds since the epoch.
    pub now_ms: i64,
}

/// A reply that met the rules known before sending: what to store for it.
#[derive(Debug, Clone)]
pub struct Checked<'a> {
    reply: Reply<'a>,
    /// The text, trimmed.
    text: &'a str,
    tag: Tag,
    in_reply_to: Option<(&'a str, Tag)>,
    /// A network limit refuses it: stored as failed with this reason.
    refused: Option<String>,
}

impl<'a> Checked<'a> {
    /// A reply the rules refused outright, kept as a failed line with `why` (for replies
    /// that arrive from elsewhere, where there is nobody to answer with an error).
    pub fn refused(ctx: &ReplyContext, reply: Reply<'a>, why: String) -> Self {
        Checked {
            reply,
            text: reply.text.trim(),
            tag: reply_tag(ctx.linked.channel, reply.mode),
            in_reply_to: None,
            refused: Some(why),
        }
    }

    /// The line (and outbox row) to store.
    pub fn new_reply(&self, ctx: &ReplyContext) -> NewReply<'_> {
        let by = self.reply.by;
        NewReply {
            conversation_id: ctx.conversation_id,
            linked_account_id: ctx.linked.id,
            tag: self.tag,
            text: self.text,
            mode: self.reply.mode,
            in_reply_to: self.in_reply_to,
            author: match by {
                WrittenBy::Agent(_) | WrittenBy::Host => "agent",
                WrittenBy::Bot => "bot",
            },
            sent_by: match by {
                WrittenBy::Agent(user) => Some(user),
                WrittenBy::Host | WrittenBy::Bot => None,
            },
            now_ms: self.reply.now_ms,
            refused: self.refused.clone(),
            upload: self.reply.upload,
        }
    }

    /// What the API answers for the stored line `id`.
    pub fn line(&self, id: i64) -> ReplyLine {
        ReplyLine {
            id,
            tag: self.tag,
            status: if self.refused.is_some() {
                LineStatus::Failed
            } else {
                LineStatus::Sending
            },
            error: self.refused.clone(),
        }
    }
}

/// Checks `reply` against the rules known before sending and queues it on the
/// conversation of `ctx`. A reply the rules refuse outright (nothing to send, a mode the
/// conversation does not offer now, Send Image switched off, an unlinked page, text and
/// image in one Private Response) is an error and nothing is stored; one a network limit
/// refuses (too long, an image too large, a bot outside Messenger's 24 hours) is stored
/// as failed with the reason, so it shows on the transcript.
pub async fn queue_reply(
    state: &AppState,
    ctx: &ReplyContext,
    reply: Reply<'_>,
) -> AppResult<ReplyLine> {
    let checked = check_reply(state, ctx, reply).await?;
    let id = state.store.enqueue_reply(checked.new_reply(ctx)).await?;
    state.sender.wake();
    state
        .live
        .conversations_changed(ctx.account_id, &[ctx.conversation_id]);
    Ok(checked.line(id))
}

/// The rules of [`queue_reply`], without storing anything.
pub async fn check_reply<'a>(
    state: &AppState,
    ctx: &'a ReplyContext,
    reply: Reply<'a>,
) -> AppResult<Checked<'a>> {
    let Reply {
        mode,
        upload,
        by,
        now_ms,
        ..
    } = reply;
    let text = reply.text.trim();
    if text.is_empty() && upload.is_none() {
        return Err(AppError::bad_request("write something to send"));
    }
    let channel = ctx.linked.channel;
    // The networks' rules known before sending (Messenger only after the person wrote
    // there; one private reply per post or comment, within 7 days): the same rule the
    // widget's switch shows.
    if let Some(why) = refusal(channel, mode, &ctx.facts(), now_ms) {
        return Err(AppError::new(
            ErrorCode::ReplyModeUnavailable,
            why.to_string(),
        ));
    }
    if upload.is_some() && !state.store.send_image_enabled(ctx.account_id).await? {
        return Err(crate::home::send_image_off());
    }
    if ctx.linked.status == LinkStatus::Unlinked {
        return Err(AppError::bad_request(
            "this page or account is unlinked; relink it in SocialConnect Home",
        ));
    }
    if mode == ReplyMode::PrivateResponse && upload.is_some() && !text.is_empty() {
        // Messenger carries text or an image per message, and a comment gets one private
        // reply: both cannot go.
        return Err(AppError::bad_request(
            "a Private Response is one message: send the image or the text",
        ));
    }
    let tag = reply_tag(channel, mode);
    let in_reply_to = ctx
        .last_public
        .as_ref()
        .filter(|_| answers_last_public(mode))
        .map(|l| (l.network_id.as_str(), l.line.tag));
    // Counted as the network counts, by the same code the widget's counter uses; the image
    // held to the same limits the widget states.
    let target = reply_target(channel, mode);
    let count = shared::count(target, text);
    // An image-only reply has no text to count (the counter calls empty text invalid).
    let refused = (!text.is_empty() && !count.valid)
        .then(|| {
            format!(
                "{} characters, over the {} limit for a {}",
                count.length,
                count.limit,
                target.label()
            )
        })
        .or_else(|| {
            upload.and_then(|u| {
                shared::media_limits::image_refusal(target, &u.mime, u.bytes.max(0) as u64)
            })
        })
        .or_else(|| {
            (by == WrittenBy::Bot
                && channel == Channel::Facebook
                && mode == ReplyMode::Private
                && !bot_may_write(channel, ctx.last_private_at_ms, now_ms))
            .then(|| "outside Messenger's 24-hour window, where bots may not write".to_owned())
        });
    Ok(Checked {
        reply,
        text,
        tag,
        in_reply_to,
        refused,
    })
}
