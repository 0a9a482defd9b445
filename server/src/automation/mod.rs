//! Automation: bots answer private conversations and hand them to people.
//!
//! Per linked page or account an admin switches automation on and picks the bot: the
//! built-in one ([`builtin`]) or an external one ([`external`], answering through the bot
//! API in [`api`]). A worker, woken after every stored webhook, reads each conversation's
//! consumer lines the bot has not seen yet (durably: `bot_conversations.last_line_id`), so
//! a crash only delays a turn. Instances sharing a database claim each turn (see
//! [`claimed_turn`]), so a line is answered once. Only private lines are the bot's: a
//! public post, comment or tweet is never answered, and one arriving while the bot holds
//! the conversation hands it to people. Once a person has the conversation (handed over
//! or taken) the bot is quiet until it closes. A bot that fails, times out or is late
//! hands over; nothing is dropped. Bot lines go through the agents' `queue_reply` (author
//! `bot`), so rules, limits, retries and statuses are the same.

pub mod api;
pub mod builtin;
pub mod external;

use crate::AppState;
use crate::error::{AppError, AppResult};
use crate::outbound::{Reply, WrittenBy, bot_may_write, queue_reply};
use crate::store::{BotContext, BotPhase, BotState};
use shared::api::ReplyLine;
use shared::automation::{AutomationSettings, BotKind};
use shared::{ReplyMode, Tag};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

pub use api::{PUBLIC_ROUTES, ROUTES, router};

/// Automation's "now" (opening hours, the external bot's answer deadline): the system
/// clock, or in tests one they set, so no test waits on wall time.
#[derive(Clone, Default)]
pub struct Clock(Option<Arc<AtomicI64>>);

impl Clock {
    /// A clock that stands at `ms` until set again.
    pub fn manual(ms: i64) -> Self {
        Clock(Some(Arc::new(AtomicI64::new(ms))))
    }

    pub fn set(&self, ms: i64) {
        if let Some(at) = &self.0 {
            at.store(ms, Ordering::SeqCst);
        }
    }

    pub fn advance(&self, by: Duration) {
        if let Some(at) = &self.0 {
            at.fetch_add(by.as_millis() as i64, Ordering::SeqCst);
        }
    }

    pub fn now_ms(&self) -> i64 {
        match &self.0 {
            Some(at) => at.load(Ordering::SeqCst),
            None => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or_default(),
        }
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Some(_) => write!(f, "Clock(manual at {})", self.now_ms()),
            None => f.write_str("Clock(system)"),
        }
    }
}

/// Wakes the worker; remembers which conversations a turn is running for, and locks each
/// conversation's bot state so a turn and the bot API never undo each other's writes.
#[derive(Clone, Default)]
pub struct AutomationHandle {
    wake: Arc<Notify>,
    busy: Arc<Mutex<HashSet<i64>>>,
    locks: Arc<Mutex<HashMap<i64, Arc<tokio::sync::Mutex<()>>>>>,
}

impl AutomationHandle {
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Holds the conversation's bot state until the guard is dropped.
    pub(crate) async fn lock(&self, conversation_id: i64) -> ConversationLock {
        let lock = {
            let mut locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
            // Forget the locks no one holds, so the map stays small.
            locks.retain(|_, l| Arc::strong_count(l) > 1);
            locks.entry(conversation_id).or_default().clone()
        };
        ConversationLock(lock.lock_owned().await)
    }

    fn claim(&self, conversation_id: i64) -> bool {
        self.busy
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(conversation_id)
    }

    fn release(&self, conversation_id: i64) {
        self.busy
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&conversation_id);
    }
}

/// A held conversation lock (see [`AutomationHandle::lock`]).
pub(crate) struct ConversationLock(#[allow(dead_code)] tokio::sync::OwnedMutexGuard<()>);

/// The least time between the starts of two passes over what is due.
const PASS_GAP: Duration = Duration::from_millis(20);

/// Runs the worker until the server stops: every conversation due gets a turn of its own.
/// A turn under way when the server stops is finished (what the bot said and where the
/// conversation stands are recorded together), within the server's grace for its workers.
pub fn spawn_worker(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut turns = tokio::task::JoinSet::new();
        loop {
            // Turns done since the last pass.
            while turns.try_join_next().is_some() {}
            let pass = tokio::time::Instant::now();
            let now = state.settings.clock.now_ms();
            match state.store.automation_due(now, 200).await {
                Ok(due) => {
                    for id in due {
                        if !state.automation.claim(id) {
                            continue;
                        }
                        let state = state.clone();
                        turns.spawn(async move {
                            if let Err(e) = claimed_turn(&state, id).await {
                                tracing::warn!(conversation = id, error = %e, "automation turn failed; will retry");
                            }
                            state.automation.release(id);
                        });
                    }
                }
                Err(e) => tracing::warn!(error = %e, "automation: reading what is due failed"),
            }
            let wake = async {
                tokio::select! {
                    _ = state.automation.wake.notified() => {
                        // Every stored webhook wakes this: a lone line is looked at at
                        // once, a burst at most once per `PASS_GAP`, not once per webhook.
                        tokio::time::sleep_until(pass + PASS_GAP).await;
                    }
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                }
            };
            if !state.stopping.idle(wake).await {
                break;
            }
        }
        while turns.join_next().await.is_some() {}
    })
}

/// A turn taken only under this instance's claim on the conversation (renewed while the
/// turn runs, released after it), so two instances sharing the database never answer the
/// same consumer line. Held elsewhere: another instance is taking this turn, and what it
/// leaves unseen is due again at the next pass. A claim of an instance that died runs out
/// after the lease (`--outbox-lease-secs`).
async fn claimed_turn(state: &AppState, id: i64) -> AppResult<()> {
    let owner = state.instance.as_str();
    let lease = Duration::from_secs(state.settings.store.outbox_lease_secs);
    let claim = || async {
        let now = crate::claims::now_ms();
        let until = now.saturating_add(lease.as_millis() as i64);
        state.store.claim_bot_turn(id, owner, now, until).await
    };
    if !claim().await? {
        tracing::debug!(
            conversation = id,
            "another instance is taking this bot turn"
        );
        return Ok(());
    }
    let outcome = crate::claims::renewing(turn(state, id), lease / 3, || async {
        match claim().await {
            Ok(true) => {}
            Ok(false) => tracing::warn!(
                conversation = id,
                "another instance took over this bot turn after its lease"
            ),
            Err(e) => tracing::warn!(conversation = id, error = %e, "renewing a bot turn's claim"),
        }
    })
    .await;
    // Released whether or not the turn succeeded, so a failed one is retried at once.
    let released = state.store.release_bot_turn(id, owner).await;
    outcome.and(released.map_err(Into::into))
}

/// The settings stored for the conversation's linked account (defaults when none).
fn settings_of(ctx: &BotContext) -> (bool, AutomationSettings) {
    match &ctx.automation {
        Some(a) => (
            a.enabled,
            serde_json::from_str(&a.settings_json).unwrap_or_else(|e| {
                tracing::warn!(linked = ctx.linked.id, error = %e, "unreadable automation settings");
                AutomationSettings::default()
            }),
        ),
        None => (false, AutomationSettings::default()),
    }
}

/// One turn on a conversation: every consumer line the bot has not seen, then the
/// external bot's deadline.
async fn turn(state: &AppState, id: i64) -> AppResult<()> {
    let mut guard = Some(state.automation.lock(id).await);
    let Some(ctx) = state.store.bot_context(id).await? else {
        return Ok(());
    };
    let now = state.settings.clock.now_ms();
    let (enabled, settings) = settings_of(&ctx);
    let enabled_at = ctx
        .automation
        .as_ref()
        .map_or(i64::MAX, |a| a.enabled_at_ms);
    let mut before = ctx.state.clone();
    let mut st = ctx.state.clone().unwrap_or(BotState {
        phase: BotPhase::Idle,
        last_line_id: 0,
        away_sent: false,
        answer_by_ms: None,
        reason: None,
    });
    if ctx.assigned && matches!(st.phase, BotPhase::Bot | BotPhase::Idle) {
        // A person has it: the bot stays out until it closes.
        st.phase = BotPhase::People;
        st.answer_by_ms = None;
        st.reason = Some("taken by a person".into());
    }
    for line in &ctx.new_lines {
        st.last_line_id = line.id;
        let private = line.tag == Tag::Private;
        if st.phase == BotPhase::Survey {
            if let Some(score) = private
                .then(|| shared::automation::survey_score(&line.text))
                .flatten()
            {
                state.store.record_survey(id, score, now).await?;
                tracing::info!(conversation = id, score, "survey answered");
                if let Some(thanks) = nonempty(&settings.survey_thanks) {
                    tell(state, &ctx, thanks).await?;
                }
                st.phase = BotPhase::Idle;
                continue;
            }
            // Not an answer: the survey is over and this line starts afresh.
            st.phase = BotPhase::Idle;
        }
        let mut first = false;
        if st.phase == BotPhase::Idle {
            if !(enabled && private && line.received_at_ms >= enabled_at) {
                continue;
            }
            st.phase = BotPhase::Bot;
            st.away_sent = false;
            st.answer_by_ms = None;
            st.reason = None;
            first = true;
        }
        if st.phase != BotPhase::Bot {
            continue;
        }
        if !private {
            hand_over(state, &ctx, &mut st, "the consumer wrote in public", None).await?;
            continue;
        }
        if !enabled {
            hand_over(state, &ctx, &mut st, "automation was switched off", None).await?;
            continue;
        }
        match settings.bot {
            BotKind::Builtin => {
                let moment = builtin::Moment {
                    first,
                    open: builtin::open_at(&settings, now),
                    away_sent: st.away_sent,
                };
                let t = builtin::turn(&settings, &line.text, moment);
                st.away_sent = t.away_sent;
                for text in &t.replies {
                    tell(state, &ctx, text).await?;
                }
                if let Some(reason) = t.handover {
                    hand_over(state, &ctx, &mut st, &reason, None).await?;
                }
            }
            BotKind::External => {
                // Recorded before the event goes, so an answer that comes back while we
                // wait for the acknowledgement is not undone below.
                st.answer_by_ms =
                    Some(now + i64::from(settings.external_answer_within_secs) * 1000);
                state.store.set_bot_state(id, &st, now).await?;
                // The bot may answer through the bot API before it acknowledges: let it.
                drop(guard.take());
                let sent = send_event(state, &ctx, &settings, line).await;
                guard = Some(state.automation.lock(id).await);
                if let Some(fresh) = state.store.bot_context(id).await?.and_then(|c| c.state) {
                    st.phase = fresh.phase;
                    st.answer_by_ms = fresh.answer_by_ms;
                    st.reason = fresh.reason.clone();
                    before = Some(fresh);
                }
                match sent {
                    Ok(()) => {}
                    Err(_) if st.phase != BotPhase::Bot => {}
                    Err(why) => {
                        tracing::info!(conversation = id, %why, "external bot failed; handing over");
                        let message = nonempty(&settings.handover_message);
                        hand_over(state, &ctx, &mut st, &why, message).await?;
                    }
                }
            }
        }
    }
    if st.phase == BotPhase::Bot && st.answer_by_ms.is_some_and(|t| t <= now) {
        let reason = format!(
            "the bot did not answer within {} s",
            settings.external_answer_within_secs
        );
        let message = nonempty(&settings.handover_message);
        hand_over(state, &ctx, &mut st, &reason, message).await?;
    }
    if before.as_ref() != Some(&st) {
        state.store.set_bot_state(id, &st, now).await?;
        state.live.conversations_changed(ctx.account_id, &[id]);
    }
    drop(guard);
    Ok(())
}

fn nonempty(s: &str) -> Option<&str> {
    let t = s.trim();
    (!t.is_empty()).then_some(t)
}

/// Hands the conversation to people (after saying `message`, if any).
async fn hand_over(
    state: &AppState,
    ctx: &BotContext,
    st: &mut BotState,
    reason: &str,
    message: Option<&str>,
) -> AppResult<()> {
    if let Some(m) = message {
        tell(state, ctx, m).await?;
    }
    let now = state.settings.clock.now_ms();
    state
        .store
        .hand_over(ctx.conversation_id, reason, now)
        .await?;
    tracing::info!(conversation = ctx.conversation_id, %reason, "handed over to people");
    st.phase = BotPhase::People;
    st.answer_by_ms = None;
    st.reason = Some(reason.to_owned());
    state
        .live
        .conversations_changed(ctx.account_id, &[ctx.conversation_id]);
    Ok(())
}

/// Queues a bot line in private through the agents' [`queue_reply`]: the same rules
/// (length, the mode's availability, the page still linked), and Messenger lets a bot
/// write only within 24 hours of the person's last message.
pub(crate) async fn say(state: &AppState, ctx: &BotContext, text: &str) -> AppResult<ReplyLine> {
    let reply_ctx = state
        .store
        .reply_context(ctx.conversation_id)
        .await?
        .ok_or_else(|| AppError::not_found("conversation"))?;
    let reply = Reply {
        mode: ReplyMode::Private,
        text,
        upload: None,
        by: WrittenBy::Bot,
        // The system's time to the millisecond, so the bot's line sorts after the
        // consumer's (the network's time) even within the same second.
        now_ms: Clock::default().now_ms(),
    };
    queue_reply(state, &reply_ctx, reply).await
}

/// What the bot says on its own (a turn, a handover, the survey): a line the rules refuse
/// outright is logged and the turn goes on, as retrying it would be refused again.
async fn tell(state: &AppState, ctx: &BotContext, text: &str) -> AppResult<()> {
    match say(state, ctx, text).await {
        Ok(_) => Ok(()),
        Err(AppError::Api(why)) => {
            tracing::info!(conversation = ctx.conversation_id, reason = %why.message, "bot line refused");
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// The event an external bot gets for a consumer's line.
async fn send_event(
    state: &AppState,
    ctx: &BotContext,
    settings: &AutomationSettings,
    line: &crate::store::BotLine,
) -> Result<(), String> {
    let secret = ctx
        .automation
        .as_ref()
        .and_then(|a| a.secret_sealed.as_deref())
        .ok_or("the bot has no signing secret yet")?;
    let secret = state
        .cipher
        .open(secret)
        .map_err(|_| "the bot's signing secret cannot be opened".to_owned())?;
    let base = &state.public_url;
    let id = ctx.conversation_id;
    let body = serde_json::json!({
        "type": "message",
        "conversation_id": id,
        "channel": ctx.linked.channel,
        "linked_account": {"id": ctx.linked.id, "name": ctx.linked.name},
        "consumer": {
            "network_id": ctx.consumer_network_id,
            "name": ctx.consumer_name,
            "handle": ctx.consumer_handle,
        },
        "message": {
            "id": line.id,
            "text": line.text,
            "created_at": time::OffsetDateTime::from_unix_timestamp_nanos(
                i128::from(line.created_at_ms) * 1_000_000)
                .ok()
                .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok()),
        },
        "reply_url": format!("{base}/api/bot/conversations/{id}/replies"),
        "handover_url": format!("{base}/api/bot/conversations/{id}/handover"),
    });
    external::deliver(
        &state.fetchers.given,
        &settings.external_url,
        &secret,
        body.to_string().into_bytes(),
        Duration::from_millis(u64::from(settings.external_timeout_ms)),
    )
    .await
}

/// After a conversation closed: ask the survey question when the account wants it and the
/// conversation was private (and Messenger's window allows a bot to write), and let the
/// next private line start the bot again. Failures are logged; the close stands.
pub async fn on_close(state: &AppState, conversation_id: i64) {
    if let Err(e) = closed(state, conversation_id).await {
        tracing::warn!(conversation = conversation_id, error = %e, "automation after close");
    }
}

async fn closed(state: &AppState, id: i64) -> AppResult<()> {
    let _held = state.automation.lock(id).await;
    let Some(ctx) = state.store.bot_context(id).await? else {
        return Ok(());
    };
    if ctx.automation.is_none() && ctx.state.is_none() {
        return Ok(());
    }
    let (_, settings) = settings_of(&ctx);
    let now_ms = crate::auth::now_secs() * 1000;
    let reachable = bot_may_write(ctx.linked.channel, ctx.last_private_at_ms, now_ms);
    let ask = ctx.automation.is_some() && settings.survey && reachable;
    if ask {
        tell(state, &ctx, settings.survey_question.trim()).await?;
    }
    let st = BotState {
        phase: if ask {
            BotPhase::Survey
        } else {
            BotPhase::Idle
        },
        last_line_id: ctx.latest_line_id,
        away_sent: false,
        answer_by_ms: None,
        reason: None,
    };
    state
        .store
        .set_bot_state(id, &st, state.settings.clock.now_ms())
        .await
        .map_err(Into::into)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let c = Clock::manual(1_000);
        let shared = c.clone();
        assert_eq!(c.now_ms(), 1_000);
        shared.advance(Duration::from_secs(2));
        assert_eq!(c.now_ms(), 3_000);
        c.set(10);
        assert_eq!(shared.now_ms(), 10);
        assert!(Clock::default().now_ms() > 1_700_000_000_000);
    }
}
