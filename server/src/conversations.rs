//! The agent workspace's conversations: the queue, the transcript, take and close, and the
//! live stream of changes (`GET /api/events`, Server-Sent Events).
//!
//! Who sees what: admins and agents of a brand account see only that account's
//! conversations (another account's answers 404, as if it did not exist); support staff,
//! who belong to no account, see none (403). An agent sees the conversations of the
//! skills they answer (`user_skills`, or every skill when SocialConnect Home says "all
//! skills") and those assigned to them; others answer 404, in the queue, the transcript
//! and every action. Admins see every skill. A conversation is transferred to another
//! skill or handed to a named person of the brand (`POST …/transfer`).

use crate::AppState;
use crate::auth::BrandUser;
use crate::error::{ApiJson, AppError, AppResult};
use crate::live::Change;
use crate::store::{PeopleOf, QueueScope, TakeOutcome, TransferTo};
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::{get, post};
use futures_util::Stream;
use serde::Deserialize;
use shared::ErrorCode;
use shared::api::{
    AgentRef, ConversationInfo, LiveEvent, QueueItem, QueueSort, QueueView, Team, Teammate,
    Transcript, Transfer, Typing,
};
use shared::home::PersonStatus;
use std::convert::Infallible;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

/// Every route of [`router`] (see `crate::api_routes`).
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/api/conversations"),
    ("GET", "/api/conversations/{id}"),
    ("POST", "/api/conversations/{id}/take"),
    ("POST", "/api/conversations/{id}/close"),
    ("POST", "/api/conversations/{id}/transfer"),
    ("POST", "/api/conversations/{id}/typing"),
    ("GET", "/api/team"),
    ("GET", "/api/events"),
];

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/conversations", get(queue))
        .route("/api/conversations/{id}", get(transcript))
        .route("/api/conversations/{id}/transfer", post(transfer))
        .route("/api/conversations/{id}/typing", post(typing))
        .route("/api/team", get(team))
        .route("/api/conversations/{id}/take", post(take))
        .route("/api/conversations/{id}/close", post(close))
        .route("/api/events", get(events))
}

/// Checks the conversation belongs to the caller's brand account.
pub(crate) async fn authorised(state: &AppState, caller: &BrandUser, id: i64) -> AppResult<i64> {
    let account = caller.account.id;
    let missing = || AppError::not_found("conversation");
    if state.store.conversation_account(id).await? != Some(account) {
        // Another brand's conversation is indistinguishable from a missing one.
        return Err(missing());
    }
    if caller.is_agent() && !state.store.agent_sees(id, caller.user.id).await? {
        return Err(missing());
    }
    Ok(account)
}

/// `POST /api/conversations/{id}/transfer {skill_id?, agent_id?}`.
async fn transfer(
    State(state): State<AppState>,
    caller: BrandUser,
    Path(id): Path<i64>,
    ApiJson(req): ApiJson<Transfer>,
) -> AppResult<ApiJson<ConversationInfo>> {
    let account = authorised(&state, &caller, id).await?;
    if req.skill_id.is_none() && req.agent_id.is_none() {
        return Err(AppError::bad_request(
            "name a skill or a person to transfer to",
        ));
    }
    let to = TransferTo {
        skill_id: req.skill_id,
        user_id: req.agent_id,
    };
    state.store.transfer(account, id, to).await?;
    tracing::info!(conversation = id, by = caller.user.id, ?to, "transferred");
    state.live.conversations_changed(account, &[id]);
    info(&state, id).await
}

/// `GET /api/team`: the skills and people a conversation can be transferred to.
async fn team(State(state): State<AppState>, caller: BrandUser) -> AppResult<ApiJson<Team>> {
    let account = caller.account.id;
    let people = state
        .store
        .people_of(Some(PeopleOf::Account(account)))
        .await?
        .into_iter()
        .filter(|p| p.status == PersonStatus::Active)
        .map(|p| Teammate {
            id: p.user.id,
            name: p.user.name,
            role: p.user.role,
        })
        .collect();
    Ok(ApiJson(Team {
        skills: state.store.skills(account).await?,
        people,
    }))
}

#[derive(Debug, Deserialize)]
struct QueueParams {
    #[serde(default)]
    view: QueueView,
    #[serde(default)]
    sort: QueueSort,
}

async fn queue(
    State(state): State<AppState>,
    caller: BrandUser,
    params: Result<Query<QueueParams>, axum::extract::rejection::QueryRejection>,
) -> AppResult<ApiJson<Vec<QueueItem>>> {
    let Query(params) = params.map_err(|_| {
        AppError::bad_request("view must be new, mine or all, and sort activity or waiting")
    })?;
    let scope = QueueScope {
        account_id: caller.account.id,
        user_id: caller.user.id,
        by_skills: caller.is_agent(),
    };
    Ok(ApiJson(
        state
            .store
            .queue_sorted(scope, params.view, params.sort)
            .await?,
    ))
}

async fn transcript(
    State(state): State<AppState>,
    caller: BrandUser,
    Path(id): Path<i64>,
) -> AppResult<ApiJson<Transcript>> {
    authorised(&state, &caller, id).await?;
    let store = &state.store;
    let (Some(mut t), Some(ctx)) = (store.transcript(id).await?, store.reply_context(id).await?)
    else {
        return Err(AppError::not_found("conversation"));
    };
    // The rule the reply endpoint refuses by, so the switch offers only what will be taken.
    t.reply_facts = ctx.facts();
    // The brand's private notes, beside the lines (never among them).
    t.notes = store.notes(id).await?;
    t.reply_modes = shared::replies::availability(
        t.conversation.channel,
        &t.reply_facts,
        crate::auth::now_secs() * 1000,
    );
    offer_only_network_media(&state.settings, &mut t);
    // Reading the transcript is reading the conversation: what the queue counts as unread
    // for this person starts after its newest line.
    if let Some(newest) = t.lines.iter().map(|l| l.id).max() {
        let now = crate::auth::now_secs() * 1000;
        store.mark_read(id, caller.user.id, newest, now).await?;
    }
    Ok(ApiJson(t))
}

/// Until we hold a copy, a line's media (and a Facebook profile's picture) is offered at
/// the network's URL; the agent's browser then asks for it. A webhook names that URL, so
/// it is offered only when it is one the media fetcher would ask too (https on the
/// network's media hosts): never a link into the agent's own network.
fn offer_only_network_media(settings: &crate::config::ServeArgs, t: &mut Transcript) {
    let channel = t.conversation.channel;
    let keep = |url: &mut Option<String>| {
        if url.as_deref().is_some_and(|u| {
            !u.starts_with("/media/") && !crate::media::fetch::offerable(settings, channel, u)
        }) {
            *url = None;
        }
    };
    for line in &mut t.lines {
        for m in &mut line.media {
            keep(&mut m.url);
        }
    }
    keep(&mut t.consumer.profile.profile_pic);
}

async fn info(state: &AppState, id: i64) -> AppResult<ApiJson<ConversationInfo>> {
    state
        .store
        .conversation_info(id)
        .await?
        .map(ApiJson)
        .ok_or_else(|| AppError::not_found("conversation"))
}

async fn take(
    State(state): State<AppState>,
    caller: BrandUser,
    Path(id): Path<i64>,
) -> AppResult<ApiJson<ConversationInfo>> {
    let account = authorised(&state, &caller, id).await?;
    match state.store.take(id, caller.user.id).await? {
        TakeOutcome::Taken => {
            state.live.conversations_changed(account, &[id]);
            info(&state, id).await
        }
        TakeOutcome::Refused => Err(AppError::new(
            ErrorCode::Conflict,
            "this conversation is closed or another agent has taken it",
        )),
    }
}

async fn close(
    State(state): State<AppState>,
    caller: BrandUser,
    Path(id): Path<i64>,
) -> AppResult<ApiJson<ConversationInfo>> {
    let account = authorised(&state, &caller, id).await?;
    state.store.close(id).await?;
    // The survey question, when the account asks it; the bot may answer again later.
    crate::automation::on_close(&state, id).await;
    // A LiveEngage conversation mirroring it closes too.
    state.liveengage.wake();
    state.live.conversations_changed(account, &[id]);
    info(&state, id).await
}

/// `POST /api/conversations/{id}/typing`: the caller is writing a reply here. The others
/// who may see the conversation are told on their event stream (at most once every
/// [`crate::live::TYPING_EVERY`] per person and conversation); nothing is stored.
async fn typing(
    State(state): State<AppState>,
    caller: BrandUser,
    Path(id): Path<i64>,
) -> AppResult<axum::http::StatusCode> {
    let account = authorised(&state, &caller, id).await?;
    state.live.typing(account, id, caller.user.id);
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// Whether the reader of a stream (`user`, an agent or not) is told that `typist` writes in
/// `conversation`, and the typist's name: never about themselves, and only about what the
/// reader may see. Names are looked up once per stream.
async fn typing_for_reader(
    state: &AppState,
    (account, user, agent): (i64, i64, bool),
    (conversation, typist): (i64, i64),
    names: &mut std::collections::HashMap<i64, String>,
) -> Option<Typing> {
    if typist == user || (agent && !state.store.agent_sees(conversation, user).await.ok()?) {
        return None;
    }
    let name = match names.get(&typist) {
        Some(n) => n.clone(),
        None => {
            let person = state
                .store
                .person(PeopleOf::Account(account), typist)
                .await
                .ok()??;
            names.insert(typist, person.user.name.clone());
            person.user.name
        }
    };
    Some(Typing {
        conversation_id: conversation,
        agent: AgentRef { id: typist, name },
    })
}

/// Server-Sent Events: one `data: {"conversation_id": N}` per change in the session's
/// brand account (`null` after missed events: refetch everything), keep-alive comments in
/// between; the stream ends when the server shuts down or the person is deactivated.
async fn events(
    State(state): State<AppState>,
    caller: BrandUser,
) -> AppResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let (account, user) = (caller.account.id, caller.user.id);
    let reader = (account, user, caller.is_agent());
    let changes = state.live.subscribe();
    let stopping = state.live.stopping();
    // Counted open for as long as the stream lives.
    let open = crate::metrics::StreamOpen::count();
    // The state travels with the stream rather than being cloned for each change: a change
    // reaches every open stream, and cloning it (a few dozen shared counters) for each made
    // the fan-out to many agents contend on those counters.
    let stream = futures_util::stream::unfold(
        (changes, stopping, open, Default::default(), state),
        move |(mut changes, mut stopping, open, mut names, state)| {
            async move {
                loop {
                    let next = tokio::select! {
                        next = changes.recv() => next,
                        _ = stopping.wait_for(|s| *s) => return None,
                    };
                    let event = match next {
                        Ok(Change::Conversation {
                            account_id,
                            conversation_id,
                        }) if account_id == account => LiveEvent {
                            conversation_id: Some(conversation_id),
                        },
                        // A named event: pages that do not listen for it never see it.
                        Ok(Change::Typing {
                            account_id,
                            conversation_id,
                            user_id,
                        }) if account_id == account => {
                            let Some(typing) = typing_for_reader(
                                &state,
                                reader,
                                (conversation_id, user_id),
                                &mut names,
                            )
                            .await
                            else {
                                continue;
                            };
                            let event = Event::default()
                                .event(shared::api::TYPING_EVENT)
                                .json_data(typing)
                                .unwrap_or_else(|_| Event::default().comment("typing"));
                            return Some((Ok(event), (changes, stopping, open, names, state)));
                        }
                        // Deactivated: the stream ends, and the browser's reconnection is refused.
                        Ok(Change::SignedOut { user_id }) if user_id == user => return None,
                        Ok(_) => continue,
                        Err(RecvError::Lagged(_)) => LiveEvent {
                            conversation_id: None,
                        },
                        Err(RecvError::Closed) => return None,
                    };
                    let event = Event::default()
                        .json_data(event)
                        .unwrap_or_else(|_| Event::default().data("{}"));
                    return Some((Ok(event), (changes, stopping, open, names, state)));
                }
            }
        },
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
