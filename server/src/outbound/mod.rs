//! Replies out: the reply endpoint stores each reply (and its outbox row) before any
//! network call; the sender works the outbox off in order per conversation, retrying
//! transient failures with backoff and jitter and ending permanent ones as `failed` with
//! the network's reason.
//!
//! Duplicates: a reply is marked sent in the same transaction that removes its outbox
//! row. If the process dies after the network accepted a reply but before that commit,
//! the echo the network sends (Messenger `is_echo`, X `dm.sent` / `post.create`) marks the
//! line sent and removes the row (see `Store::ingest`), so it is not sent again. What
//! remains possible: a crash in that window when the echo never arrives (webhooks off or
//! dropped) sends the reply a second time.

use crate::connectors::facebook::Graph;
use crate::connectors::twitter::{OAuth1, XApi};
use crate::connectors::{SendFailure, http_client};
use crate::error::{ApiJson, AppError, AppResult};
use crate::store::{LinkStatus, NewReply, OutboxItem};
use crate::{AppState, auth::Session};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use rand::Rng;
use shared::api::{LineStatus, ReplyLine, ReplyRequest};
use shared::{Channel, ReplyMode, Role, Tag, Target};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// Attempts before a reply that keeps failing transiently is given up.
pub const MAX_ATTEMPTS: i64 = 8;
const DAY_MS: i64 = 24 * 3600 * 1000;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/conversations/{id}/replies", post(reply))
}

/// Wakes the sender when a reply is queued.
#[derive(Clone, Default)]
pub struct SenderHandle(Arc<Notify>);

impl SenderHandle {
    pub fn wake(&self) {
        self.0.notify_one();
    }
}

async fn reply(
    State(state): State<AppState>,
    session: Session,
    Path(conversation_id): Path<i64>,
    ApiJson(req): ApiJson<ReplyRequest>,
) -> AppResult<(StatusCode, ApiJson<ReplyLine>)> {
    let user = session.user();
    if user.role == Role::Support {
        return Err(AppError::forbidden());
    }
    let ctx = state
        .store
        .reply_context(conversation_id)
        .await?
        .filter(|c| Some(c.account_id) == user.account_id)
        .ok_or_else(|| AppError::not_found("conversation"))?;
    let text = req.text.trim();
    if text.is_empty() {
        return Err(AppError::bad_request("write something to send"));
    }
    let channel = ctx.linked.channel;
    if !req.mode.available_on(channel) {
        return Err(AppError::bad_request(format!(
            "{} is not available on {}",
            req.mode.label(),
            channel.label()
        )));
    }
    if ctx.linked.status == LinkStatus::Unlinked {
        return Err(AppError::bad_request(
            "this page or account is unlinked; relink it in SocialConnect Home",
        ));
    }
    if req.mode == ReplyMode::Private
        && channel == Channel::Facebook
        && ctx.last_private_at_ms.is_none()
    {
        // A page may message a person only after they wrote in Messenger; a comment's
        // author is reached with a private reply to that comment.
        return Err(AppError::bad_request(
            "the consumer has not written in Messenger; use Private Response to answer their comment privately",
        ));
    }
    let (tag, in_reply_to) = match (req.mode, channel) {
        (ReplyMode::Private, _) => (Tag::Private, None),
        (ReplyMode::Public, Channel::Facebook) => (Tag::PublicComment, ctx.last_public.clone()),
        (ReplyMode::Public, Channel::Twitter) => (Tag::PublicThread, ctx.last_public.clone()),
        (ReplyMode::PrivateResponse, _) => (Tag::Private, ctx.last_public.clone()),
    };
    if req.mode != ReplyMode::Private && in_reply_to.is_none() {
        return Err(AppError::bad_request(
            "the consumer has written nothing public to answer; reply in private",
        ));
    }
    let in_reply_to = in_reply_to.map(|(id, _)| id);
    // Counted as the network counts, by the same code the widget's counter uses.
    let target = match (channel, req.mode) {
        (Channel::Twitter, ReplyMode::Public) => Target::TwitterPublic,
        (Channel::Twitter, _) => Target::TwitterDm,
        (Channel::Facebook, ReplyMode::Public) => Target::FacebookComment,
        (Channel::Facebook, _) => Target::Messenger,
    };
    let count = shared::count(target, text);
    let refused = (!count.valid).then(|| {
        format!(
            "{} characters, over the {} limit for a {}",
            count.length,
            count.limit,
            target.label()
        )
    });
    let id = state
        .store
        .enqueue_reply(NewReply {
            conversation_id,
            linked_account_id: ctx.linked.id,
            tag,
            text,
            mode: req.mode,
            in_reply_to: in_reply_to.as_deref(),
            author: "agent",
            sent_by: Some(user.id),
            now_ms: crate::auth::now_secs() * 1000,
            refused: refused.clone(),
        })
        .await?;
    state.sender.wake();
    state
        .live
        .conversations_changed(ctx.account_id, &[conversation_id]);
    Ok((
        StatusCode::CREATED,
        ApiJson(ReplyLine {
            id,
            tag,
            status: if refused.is_some() {
                LineStatus::Failed
            } else {
                LineStatus::Sending
            },
            error: refused,
        }),
    ))
}

/// The delay before attempt `attempts + 1`: exponential from 2 s, capped at 5 minutes,
/// with ±20 % jitter so many failed replies do not retry in step.
pub fn backoff(attempts: i64) -> Duration {
    let base = 2_000u64
        .saturating_mul(1 << attempts.clamp(0, 16))
        .min(300_000);
    let jitter = rand::thread_rng().gen_range(0.8..1.2);
    Duration::from_millis((base as f64 * jitter) as u64)
}

/// Runs the sender until the process ends.
pub fn spawn_sender(state: AppState) {
    tokio::spawn(async move {
        let http = http_client();
        loop {
            loop {
                let now = crate::auth::now_secs() * 1000;
                match state.store.next_due(now).await {
                    Ok(Some(item)) => {
                        if let Err(e) = deliver(&state, &http, item).await {
                            tracing::warn!(error = %e, "outbox: storing a send result failed");
                            break;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "outbox: reading the queue failed");
                        break;
                    }
                }
            }
            tokio::select! {
                _ = state.sender.0.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
        }
    });
}

async fn deliver(state: &AppState, http: &reqwest::Client, item: OutboxItem) -> AppResult<()> {
    let outcome = send(state, http, &item).await;
    let recorded = record(state, &item, outcome).await;
    state
        .live
        .conversations_changed(item.linked.account_id, &[item.conversation_id]);
    recorded
}

async fn record(
    state: &AppState,
    item: &OutboxItem,
    outcome: Result<String, SendFailure>,
) -> AppResult<()> {
    let store = &state.store;
    match outcome {
        Ok(network_id) => {
            tracing::info!(line = item.message_id, %network_id, "reply sent");
            store.mark_sent(item.message_id, &network_id).await
        }
        Err(SendFailure::Transient {
            message,
            retry_after,
        }) if item.attempts + 1 < MAX_ATTEMPTS => {
            let wait = retry_after
                .map(|d| d + backoff(0) / 4)
                .unwrap_or_else(|| backoff(item.attempts));
            tracing::info!(line = item.message_id, attempt = item.attempts + 1, ?wait, %message, "reply will be retried");
            let next = crate::auth::now_secs() * 1000 + wait.as_millis() as i64;
            store
                .reschedule(item.message_id, item.attempts + 1, next, &message)
                .await
        }
        Err(SendFailure::Transient { message, .. }) => {
            store
                .mark_failed(
                    item.message_id,
                    &format!("gave up after {MAX_ATTEMPTS} attempts: {message}"),
                )
                .await
        }
        Err(SendFailure::Permanent {
            message,
            token_invalid,
        }) => {
            if token_invalid {
                store
                    .set_linked_status(item.linked.id, LinkStatus::TokenInvalid)
                    .await?;
            }
            tracing::info!(line = item.message_id, %message, "reply failed");
            store.mark_failed(item.message_id, &message).await
        }
    }
}

fn permanent(message: impl Into<String>) -> SendFailure {
    SendFailure::Permanent {
        message: message.into(),
        token_invalid: false,
    }
}

async fn send(
    state: &AppState,
    http: &reqwest::Client,
    item: &OutboxItem,
) -> Result<String, SendFailure> {
    let token =
        state
            .cipher
            .open(&item.linked.token_sealed)
            .map_err(|_| SendFailure::Permanent {
                message: "the stored token cannot be read; relink the account".into(),
                token_invalid: true,
            })?;
    match item.linked.channel {
        Channel::Facebook => {
            let fb = &state.settings.facebook;
            let secret = fb
                .facebook_app_secret
                .as_deref()
                .ok_or_else(|| permanent("Facebook is not configured on this server"))?;
            let graph = Graph {
                http,
                base: &fb.facebook_graph_url,
                app_secret: secret,
            };
            match item.mode {
                ReplyMode::Public => {
                    let object = item
                        .in_reply_to
                        .as_deref()
                        .ok_or_else(|| permanent("nothing public to answer"))?;
                    graph.comment(&token, object, &item.text).await
                }
                ReplyMode::Private => {
                    let now = crate::auth::now_secs() * 1000;
                    let since = item.last_private_at_ms.map(|t| now - t);
                    // Agents' manual replies between 24 h and 7 d carry HUMAN_AGENT; bots never.
                    let human_agent = item.author == "agent"
                        && since.is_some_and(|s| s > DAY_MS && s <= 7 * DAY_MS);
                    let recipient = serde_json::json!({ "id": item.consumer_network_id });
                    graph
                        .send_message(&token, recipient, &item.text, human_agent)
                        .await
                }
                ReplyMode::PrivateResponse => {
                    let object = item
                        .in_reply_to
                        .as_deref()
                        .ok_or_else(|| permanent("no public comment to answer privately"))?;
                    // A post id is `<page>_<post>` like a comment id; posts have no parent.
                    let recipient = serde_json::json!({ "comment_id": object });
                    graph
                        .send_message(&token, recipient, &item.text, false)
                        .await
                }
            }
        }
        Channel::Twitter => {
            let tw = &state.settings.twitter;
            let (Some(key), Some(secret)) = (
                tw.twitter_consumer_key.as_deref(),
                tw.twitter_consumer_secret.as_deref(),
            ) else {
                return Err(permanent("Twitter/X is not configured on this server"));
            };
            let token_secret = item
                .linked
                .token_secret_sealed
                .as_deref()
                .and_then(|s| state.cipher.open(s).ok())
                .ok_or_else(|| SendFailure::Permanent {
                    message: "the stored token secret cannot be read; relink the account".into(),
                    token_invalid: true,
                })?;
            let api = XApi {
                http,
                base: &tw.twitter_api_url,
                consumer_key: key,
                consumer_secret: secret,
            };
            let user = OAuth1 {
                consumer_key: key,
                consumer_secret: secret,
                token: &token,
                token_secret: &token_secret,
            };
            match item.mode {
                ReplyMode::Public => {
                    let tweet = item
                        .in_reply_to
                        .as_deref()
                        .ok_or_else(|| permanent("nothing public to answer"))?;
                    api.reply(&user, &item.text, tweet).await
                }
                ReplyMode::Private => {
                    api.direct_message(&user, &item.consumer_network_id, &item.text)
                        .await
                }
                ReplyMode::PrivateResponse => {
                    Err(permanent("Private Response is a Facebook feature"))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let first = backoff(0).as_millis();
        assert!((1_600..=2_400).contains(&first), "{first}");
        let third = backoff(2).as_millis();
        assert!((6_400..=9_600).contains(&third), "{third}");
        for n in [10, 20, 63] {
            assert!(backoff(n).as_millis() <= 360_000);
        }
    }
}
