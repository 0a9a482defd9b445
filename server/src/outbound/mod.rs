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
//!
//! Instances sharing the outbox claim each row under their own id with a lease, extended
//! while a send is under way. An instance whose claim was taken over (it stalled past the
//! lease) has its retry, failure or image id dropped; a sent reply is still recorded
//! (see `Store::mark_sent` for why).

use crate::connectors::facebook::{Graph, Messaging, Recipient, Sent, Writer};
use crate::connectors::twitter::{MediaUpload, OAuth1, XApi};
use crate::connectors::{Credentials, SendFailure};
use crate::error::{ApiJson, AppError, AppResult};
use crate::store::{LinkStatus, MarkedSent, OutboxItem, TakeOutcome};
use crate::{AppState, auth::BrandUser};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use rand::Rng;
use shared::ReplyMode;
use shared::api::{ReplyLine, ReplyRequest};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

mod queue;
pub use queue::{Checked, Reply, WrittenBy, bot_may_write, check_reply, queue_reply};

/// Attempts before a reply that keeps failing transiently is given up: with the backoff
/// below (2 s doubling, capped at 5 minutes) about 70 minutes of outage are ridden out.
pub const MAX_ATTEMPTS: i64 = 20;

/// Every route of [`router`] (see `crate::api_routes`).
pub const ROUTES: &[(&str, &str)] = &[("POST", "/api/conversations/{id}/replies")];

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
    caller: BrandUser,
    Path(conversation_id): Path<i64>,
    ApiJson(req): ApiJson<ReplyRequest>,
) -> AppResult<(StatusCode, ApiJson<ReplyLine>)> {
    let user = &caller.user;
    let ctx = state
        .store
        .reply_context(conversation_id)
        .await?
        .filter(|c| Some(c.account_id) == user.account_id)
        .ok_or_else(|| AppError::not_found("conversation"))?;
    // An agent answers only what they may see (their skills, or theirs).
    crate::conversations::authorised(&state, &caller, conversation_id).await?;
    let upload = match req.upload_id {
        Some(id) => Some(
            state
                .store
                .upload(id)
                .await?
                .filter(|u| Some(u.account_id) == user.account_id)
                .ok_or_else(|| AppError::not_found("upload"))?,
        ),
        None => None,
    };
    let line = queue_reply(
        &state,
        &ctx,
        Reply {
            mode: req.mode,
            text: &req.text,
            upload: upload.as_ref(),
            by: WrittenBy::Agent(user.id),
            now_ms: crate::auth::now_secs() * 1000,
        },
    )
    .await?;
    // Who answers holds a conversation nobody held (unless Home says otherwise), so no
    // other agent answers the same person meanwhile.
    if state.store.reply_takes(ctx.account_id).await?
        && state.store.take(conversation_id, user.id).await? == TakeOutcome::Taken
    {
        state
            .live
            .conversations_changed(ctx.account_id, &[conversation_id]);
    }
    Ok((StatusCode::CREATED, ApiJson(line)))
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

/// Runs the sender until the server stops (a send in flight is finished and recorded).
pub fn spawn_sender(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let http = state.network.clone();
        loop {
            while !state.stopping.is_stopping() {
                let now = crate::auth::now_secs() * 1000;
                match state.store.next_due(state.instance.as_str(), now).await {
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
            let wake = async {
                tokio::select! {
                    _ = state.sender.0.notified() => {}
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                }
            };
            if !state.stopping.idle(wake).await {
                break;
            }
        }
    })
}

async fn deliver(state: &AppState, http: &reqwest::Client, item: OutboxItem) -> AppResult<()> {
    // An admin unlinked the page or account after the reply was queued: it does not go.
    let outcome = if item.linked.status == LinkStatus::Unlinked {
        Err(SendFailure::Permanent {
            message: "the page or account was unlinked in SocialConnect Home; message not sent"
                .into(),
            token_invalid: false,
            sending_restricted: false,
        })
    } else {
        send_keeping_claim(state, http, &item).await
    };
    let recorded = record(state, &item, outcome).await;
    state
        .live
        .conversations_changed(item.linked.account_id, &[item.conversation_id]);
    recorded
}

/// Sends, extending this instance's claim on the reply every third of the lease while the
/// network takes its time (a slow answer, a long media upload), so that another instance
/// sharing the outbox does not take the reply over and send it a second time.
async fn send_keeping_claim(
    state: &AppState,
    http: &reqwest::Client,
    item: &OutboxItem,
) -> Result<Delivered, SendFailure> {
    let Some(lease) = state.store.outbox_lease() else {
        return send(state, http, item).await;
    };
    crate::claims::renewing(send(state, http, item), lease / 3, || async {
        let now = crate::auth::now_secs() * 1000;
        match state
            .store
            .extend_claim(state.instance.as_str(), item.message_id, now)
            .await
        {
            Ok(true) => {}
            // Still sent to its end: the answer is recorded if the network took it (see
            // `Store::mark_sent`), dropped otherwise.
            Ok(false) => {
                tracing::warn!(line = item.message_id, "outbox: another instance took this reply over while it was being sent")
            }
            Err(e) => {
                tracing::warn!(line = item.message_id, error = %e, "outbox: extending the claim failed")
            }
        }
    })
    .await
}

/// Records what became of a send. Only a sent reply is recorded once another instance has
/// taken the row over (see `Store::mark_sent`); any other result of this instance's is
/// then stale, and dropped: the instance holding the row now records its own.
async fn record(
    state: &AppState,
    item: &OutboxItem,
    outcome: Result<Delivered, SendFailure>,
) -> AppResult<()> {
    let store = &state.store;
    let owner = state.instance.as_str();
    let line = item.message_id;
    let sent = match &outcome {
        Ok(_) => "sent",
        Err(SendFailure::Transient { .. }) if item.attempts + 1 < MAX_ATTEMPTS => "retried",
        Err(_) => "failed",
    };
    metrics::counter!("socialconnect_sends_total",
        "network" => item.linked.channel.as_str(), "outcome" => sent)
    .increment(1);
    let held = match outcome {
        Ok(Delivered { network_id, psid }) => {
            tracing::info!(line, %network_id, "reply sent");
            // The reply's echo may be being stored as a line of its own at this moment
            // (PostgreSQL: its transaction not yet committed when ours looked for it), and
            // ours then collides with it on the network id: once it is committed, ours
            // removes it. Without a second try the reply would wait for its lease to run
            // out and go a second time.
            let marked = match store.mark_sent(owner, line, &network_id).await {
                Ok(m) => m,
                Err(e) => {
                    tracing::info!(line, error = %e, "recording a sent reply failed; trying again");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    store.mark_sent(owner, line, &network_id).await?
                }
            };
            match marked {
                MarkedSent::Sent => {}
                MarkedSent::SentLate => {
                    tracing::warn!(
                        line,
                        "reply sent after another instance took it over; recorded sent"
                    )
                }
                MarkedSent::AlreadySent => {
                    tracing::warn!(line, %network_id, "reply sent again after it was recorded sent (another instance took it over, or its echo came first)");
                }
            }
            if let (ReplyMode::PrivateResponse, Some(psid)) = (item.mode, psid) {
                // The person's Messenger id, learnt from the private reply: their answer
                // in Messenger continues this conversation. Learnt also when the reply's
                // echo recorded it sent first: the echo does not say whose reply it was.
                if let Some(folded) = store.learn_psid(item.conversation_id, &psid).await? {
                    state
                        .live
                        .conversations_changed(item.linked.account_id, &[folded]);
                }
            }
            if marked == MarkedSent::AlreadySent {
                return Ok(());
            }
            true
        }
        Err(SendFailure::Transient {
            message,
            retry_after,
        }) if item.attempts + 1 < MAX_ATTEMPTS => {
            let wait = retry_after
                .map(|d| d + backoff(0) / 4)
                .unwrap_or_else(|| backoff(item.attempts));
            tracing::info!(line, attempt = item.attempts + 1, ?wait, %message, "reply will be retried");
            let next = crate::auth::now_secs() * 1000 + wait.as_millis() as i64;
            store
                .reschedule(owner, line, item.attempts + 1, next, &message)
                .await?
        }
        Err(SendFailure::Transient { message, .. }) => {
            store
                .mark_failed(
                    owner,
                    line,
                    &format!("gave up after {MAX_ATTEMPTS} attempts: {message}"),
                )
                .await?
        }
        Err(SendFailure::Permanent {
            message,
            token_invalid,
            ..
        }) => {
            if token_invalid {
                store
                    .set_linked_status(item.linked.id, LinkStatus::TokenInvalid)
                    .await?;
            }
            tracing::info!(line, %message, "reply failed");
            store.mark_failed(owner, line, &message).await?
        }
    };
    if !held {
        tracing::warn!(
            line,
            "outbox: another instance took this reply over; this instance's result is dropped"
        );
    }
    Ok(())
}

/// What a network took: its id for the line and, from Messenger, the person's page-scoped id.
struct Delivered {
    network_id: String,
    psid: Option<String>,
}

impl From<String> for Delivered {
    fn from(network_id: String) -> Self {
        Delivered {
            network_id,
            psid: None,
        }
    }
}

impl From<Sent> for Delivered {
    fn from(sent: Sent) -> Self {
        Delivered {
            network_id: sent.message_id,
            psid: sent.recipient_id,
        }
    }
}

async fn send(
    state: &AppState,
    http: &reqwest::Client,
    item: &OutboxItem,
) -> Result<Delivered, SendFailure> {
    let settings = &state.settings;
    match Credentials::open(settings, &state.cipher, &item.linked)? {
        Credentials::Facebook {
            app_secret,
            page_token,
        } => {
            let graph = Graph {
                http,
                base: &settings.facebook.facebook_graph_url,
                app_secret: &app_secret,
            };
            let outcome = send_facebook(state, &graph, &page_token, item).await;
            note_sending_restriction(state, item, &outcome).await;
            outcome
        }
        Credentials::Twitter {
            consumer_key,
            consumer_secret,
            token,
            token_secret,
        } => {
            let tw = &settings.twitter;
            let (key, secret) = (consumer_key.as_str(), consumer_secret.as_str());
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
            // X's media ids belong to the account that uploaded them and last 24 hours:
            // each attempt uploads afresh, in the category of where it goes.
            let media_id = match &item.upload {
                Some(u) => {
                    let bytes = read_upload(state, u).await?;
                    let category = match (item.mode, u.is_gif()) {
                        (ReplyMode::Public, true) => "tweet_gif",
                        (ReplyMode::Public, false) => "tweet_image",
                        (_, true) => "dm_gif",
                        (_, false) => "dm_image",
                    };
                    let media = MediaUpload {
                        http,
                        base: &tw.twitter_upload_url,
                    };
                    Some(media.upload(&user, &bytes, &u.mime, category).await?)
                }
                None => None,
            };
            match item.mode {
                ReplyMode::Public => {
                    let tweet = item
                        .in_reply_to
                        .as_deref()
                        .ok_or_else(|| SendFailure::permanent("nothing public to answer"))?;
                    let media: Vec<String> = media_id.into_iter().collect();
                    api.reply(&user, &item.text, tweet, &media)
                        .await
                        .map(Delivered::from)
                }
                ReplyMode::Private => api
                    .direct_message(
                        &user,
                        &item.consumer_network_id,
                        &item.text,
                        media_id.as_deref(),
                    )
                    .await
                    .map(Delivered::from),
                ReplyMode::PrivateResponse => Err(SendFailure::permanent(
                    "Private Response is a Facebook feature",
                )),
            }
        }
    }
}

async fn send_facebook(
    state: &AppState,
    graph: &Graph<'_>,
    token: &str,
    item: &OutboxItem,
) -> Result<Delivered, SendFailure> {
    match item.mode {
        ReplyMode::Public => {
            let object = item
                .in_reply_to
                .as_deref()
                .ok_or_else(|| SendFailure::permanent("nothing public to answer"))?;
            let url = item
                .upload
                .as_ref()
                .map(|u| crate::uploads::signed_url(state, u.id));
            graph
                .comment(token, object, &item.text, url.as_deref())
                .await
                .map(Delivered::from)
        }
        ReplyMode::Private => {
            let now = crate::auth::now_secs() * 1000;
            let writer = match item.author.as_str() {
                "agent" => Writer::Person,
                _ => Writer::Bot,
            };
            let messaging = Messaging::for_reply(writer, item.last_private_at_ms.map(|t| now - t));
            let recipient = Recipient::Psid(item.consumer_network_id.clone());
            messenger(state, graph, token, item, &recipient, messaging)
                .await
                .map(Delivered::from)
        }
        ReplyMode::PrivateResponse => {
            let (Some(object), Some(tag)) = (item.in_reply_to.as_deref(), item.in_reply_to_tag)
            else {
                return Err(SendFailure::permanent(
                    "no public comment or post to answer privately",
                ));
            };
            let target = shared::replies::PrivateTarget::of(tag).ok_or_else(|| {
                SendFailure::permanent("only a visitor post or a comment can get a private reply")
            })?;
            // A private reply is not bound by the 24-hour window: it goes as a response.
            let recipient = Recipient::private_reply(target, object);
            messenger(state, graph, token, item, &recipient, Messaging::RESPONSE)
                .await
                .map(Delivered::from)
        }
    }
}

/// Keeps the page's standing in SocialConnect Home: a send Facebook refused because the
/// page is restricted from sending marks it; the next Messenger message that goes through
/// clears it (a public comment says nothing about Messenger).
async fn note_sending_restriction(
    state: &AppState,
    item: &OutboxItem,
    outcome: &Result<Delivered, SendFailure>,
) {
    let restricted = match outcome {
        Err(SendFailure::Permanent {
            sending_restricted: true,
            ..
        }) => Some(crate::auth::now_secs() * 1000),
        Ok(_) if item.mode != ReplyMode::Public && item.linked.sending_restricted_at.is_some() => {
            None
        }
        _ => return,
    };
    if let Err(e) = state
        .store
        .set_sending_restricted(item.linked.id, restricted)
        .await
    {
        tracing::warn!(linked = item.linked.id, error = %e, "recording the page's sending restriction");
    }
}

async fn read_upload(
    state: &AppState,
    upload: &crate::store::Upload,
) -> Result<Vec<u8>, SendFailure> {
    state.blobs.read(&upload.path).await.map_err(|e| {
        tracing::warn!(upload = upload.id, error = %e, "reading an upload");
        SendFailure::permanent("the image is no longer stored; attach it again")
    })
}

/// A Messenger send: the image (uploaded with the request) as one message, then the text,
/// if any, as another — a message carries one or the other. The image's id is kept so a
/// retry of the text does not send the image again. Returns the last message's id.
async fn messenger(
    state: &AppState,
    graph: &Graph<'_>,
    token: &str,
    item: &OutboxItem,
    recipient: &Recipient,
    messaging: Messaging,
) -> Result<Sent, SendFailure> {
    let image = match (&item.upload, &item.media_sent_id) {
        (Some(u), None) => {
            let bytes = read_upload(state, u).await?;
            let sent = graph
                .send_image(token, recipient, bytes, &u.mime, messaging)
                .await?;
            match state
                .store
                .set_media_sent(state.instance.as_str(), item.message_id, &sent.message_id)
                .await
            {
                Ok(true) => {}
                Ok(false) => {
                    tracing::warn!(
                        line = item.message_id,
                        "outbox: another instance took this reply over; its image id is not recorded"
                    )
                }
                Err(e) => tracing::warn!(error = %e, "recording a sent image"),
            }
            Some(sent)
        }
        (_, sent) => sent.clone().map(|message_id| Sent {
            message_id,
            recipient_id: None,
        }),
    };
    match image {
        Some(sent) if item.text.is_empty() => Ok(sent),
        _ => {
            graph
                .send_message(token, recipient, &item.text, messaging)
                .await
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
