//! The Social Widget page's reply, so the widget is whole on its own. Stand-alone it is the
//! Reply box itself — the workspace's [`Compose`]: the Public/Private switch with `Private
//! Response` and where the consumer last wrote, the reply with its live count for where it
//! goes, Send — which the tools' Use and Add Public to Private fill. Inside LiveEngage,
//! whose own compose box writes the replies, it is the switch alone, and a pick tells the
//! server the mode those replies go out in (`PUT /api/conversations/{id}/host-mode`).
//! Either way it shows what became of the last reply sent, read from its line's status.

use super::compose::{Compose, ComposeFacts};
use super::mode_switch::{ModeSwitch, last_wrote};
use crate::api;
use crate::host::Host;
use crate::state::{use_auth, use_draft};
use gloo_net::http::Method;
use leptos::prelude::*;
use shared::api::{Author, Direction, Line, LineStatus, Transcript, Typing};
use shared::liveengage::HostMode;
use shared::replies::reply_target;
use shared::{Channel, ReplyMode};

/// The id of the Reply box's text, which a tool's write brings into view.
const REPLY_ID: &str = "sc-reply";

#[component]
pub fn WidgetReply(
    /// The open conversation, refreshed live (`None` while loading or when none is open).
    #[prop(into)]
    transcript: Signal<Option<Transcript>>,
    /// Where the widget runs: stand-alone it has a Reply box; inside LiveEngage, the
    /// host's compose box is the Reply box.
    host: Host,
    /// Called after a reply was accepted, to fetch the transcript again at once.
    on_sent: Callback<()>,
    /// The latest "someone is typing" from the server's event stream.
    #[prop(optional, into)]
    typing: Signal<Option<Typing>>,
    /// Inside LiveEngage: the mode an agent chose for this conversation before, which
    /// the server kept.
    #[prop(optional, into)]
    kept: Signal<Option<ReplyMode>>,
) -> impl IntoView {
    let conversation =
        Memo::new(move |_| transcript.with(|t| t.as_ref().map(|t| t.conversation.id)));
    let facts = Memo::new(move |_| transcript.with(|t| t.as_ref().map(ComposeFacts::of)));
    let status = view! { <LastReply transcript /> };
    if host.is_liveengage() {
        return view! {
            <section class="sc-widget-reply" aria-label="Reply mode in LiveEngage">
                <HostModeSwitch conversation facts kept />
                {status}
            </section>
        }
        .into_any();
    }
    let auth = use_auth();
    let me = move || auth.user();
    // What canned responses' placeholders become here.
    let values = Signal::derive(move || {
        transcript.with(|t| {
            let t = t.as_ref()?;
            Some(shared::canned::Values {
                consumer_name: t.consumer.name.clone(),
                consumer_handle: t.consumer.handle.clone(),
                agent_name: me().map(|me| me.name).unwrap_or_default(),
            })
        })
    });
    // Another person holds the conversation: Send asks first, as in the workspace.
    let held_by = Signal::derive(move || {
        transcript.with(|t| {
            let c = &t.as_ref()?.conversation;
            let mine = me().map(|m| m.user_id);
            (c.status == shared::api::ConversationStatus::Open)
                .then(|| c.assigned_to.clone())?
                .filter(|a| Some(a.id) != mine)
                .map(|a| a.name)
        })
    });
    bring_into_view_when_a_tool_writes();
    view! {
        <section class="sc-widget-reply" aria-label="Reply">
            <Show when=move || conversation.get().is_some()>
                <Compose conversation facts on_sent values held_by typing />
            </Show>
            {status}
        </section>
    }
    .into_any()
}

/// In a narrow panel the Reply box may be below the fold: a tool that fills it (Use, Add
/// Public to Private) scrolls it into view, so "Added to the Reply box." is seen to be
/// true. Typing in the box itself moves nothing.
fn bring_into_view_when_a_tool_writes() {
    let draft = use_draft();
    let text = Memo::new(move |_| draft.text.get());
    Effect::new(move |seen: Option<()>| {
        let filled = text.with(|t| !t.is_empty());
        if seen.is_none() || !filled {
            return;
        }
        let Some(el) = document().get_element_by_id(REPLY_ID) else {
            return;
        };
        let focused = document()
            .active_element()
            .is_some_and(|a| a.id() == REPLY_ID);
        if !focused {
            el.scroll_into_view_with_bool(false);
        }
    });
}

/// Where replies in `mode` go on `channel`, in words.
fn destination(channel: Channel, mode: ReplyMode) -> String {
    let target = reply_target(channel, mode).label();
    match mode {
        ReplyMode::Public => format!("in public, as a {target}"),
        ReplyMode::Private => format!("privately, in {target}"),
        ReplyMode::PrivateResponse => format!("privately, as a Private Response in {target}"),
    }
}

/// Inside LiveEngage: the switch, whose pick the server keeps for the replies the agent
/// writes in LiveEngage's compose box. Until the agent picks, those go where the consumer
/// last wrote. The pick is the shared draft's, so the Character Counter counts for it.
#[component]
fn HostModeSwitch(
    conversation: Memo<Option<i64>>,
    facts: Memo<Option<ComposeFacts>>,
    /// The pick the server kept for this conversation, if an agent made one.
    kept: Signal<Option<ReplyMode>>,
) -> impl IntoView {
    let draft = use_draft();
    let error = RwSignal::new(None::<String>);
    let saving = RwSignal::new(false);
    // Another conversation: the switch shows the pick an agent made for it before, which
    // the server keeps; without one, its replies follow its consumer until the agent
    // picks. (The mapping that names `kept` comes before the transcript.)
    Effect::new(move |before: Option<Option<i64>>| {
        let now = conversation.get();
        let kept = kept.get_untracked();
        if before.is_some_and(|b| b != now) || (before.is_none() && kept.is_some()) {
            draft.chosen.set(kept);
            error.set(None);
        }
        now
    });
    let mode = Signal::derive(move || {
        facts
            .get()
            .map(|f| draft.mode(f.default_mode))
            .unwrap_or(ReplyMode::Public)
    });
    let on_pick = Callback::new(move |m: ReplyMode| {
        let Some(id) = conversation.get_untracked() else {
            return;
        };
        let before = draft.chosen.get_untracked();
        draft.chosen.set(Some(m));
        error.set(None);
        saving.set(true);
        leptos::task::spawn_local(async move {
            let path = format!("/api/conversations/{id}/host-mode");
            let body = api::json(&HostMode { mode: m });
            let result = api::fetch(Method::PUT, &path, Some(body)).await;
            let _ = saving.try_set(false);
            if let Err(e) = result {
                // Not kept: the switch shows again what the server will do.
                let _ = draft.chosen.try_set(before);
                let _ = error.try_set(Some(format!("{} not set: {}", m.label(), e.message)));
            }
        });
    });
    let goes = move || {
        let f = facts.get()?;
        let how = destination(f.channel, mode.get());
        Some(if saving.get() {
            format!("Setting: replies written in LiveEngage go out {how}…")
        } else {
            format!("Replies written in LiveEngage go out {how}.")
        })
    };
    view! {
        <ModeSwitch facts pressed=Signal::derive(move || Some(mode.get())) on_pick />
        <p class="sc-compose__note">{move || facts.get().map(|f| last_wrote(&f))}</p>
        <p class="sc-compose__note sc-widget-reply__goes" role="status">
            {goes}
        </p>
        <p class="sc-compose__error" role="alert">
            {move || error.get()}
        </p>
    }
}

/// What became of a reply, in words, from its line: sending, sent (publicly or
/// privately), or not sent and why. `None` for a line that is not a reply.
fn sent_status(line: &Line) -> Option<String> {
    let how = if line.tag.is_public() {
        "publicly"
    } else {
        "privately"
    };
    Some(match line.status {
        LineStatus::Sending => format!("Sending {how}…"),
        LineStatus::Sent => format!("Sent {how}"),
        LineStatus::Failed => {
            let why = line.error.as_deref().unwrap_or("no reason given");
            format!("Reply failed — message not sent: {why}")
        }
        LineStatus::Received => return None,
    })
}

/// The agent's last reply in the conversation, with its status as the line has it now.
#[component]
fn LastReply(
    /// The open conversation, refreshed live.
    #[prop(into)]
    transcript: Signal<Option<Transcript>>,
) -> impl IntoView {
    let last = Memo::new(move |_| {
        transcript.with(|t| {
            let line = t
                .as_ref()?
                .lines
                .iter()
                .rev()
                .find(|l| l.direction == Direction::Out && l.author == Author::Agent)?;
            Some((sent_status(line)?, line.status, line.tag, line.text.clone()))
        })
    });
    let status = move || last.with(|l| l.as_ref().map(|l| l.0.clone()));
    let is = move |s: LineStatus| last.with(|l| l.as_ref().is_some_and(|l| l.1 == s));
    let what = move || {
        last.with(|l| {
            l.as_ref()
                .map(|(_, _, tag, text)| (tag.as_str(), text.clone()))
        })
    };
    view! {
        <div class="sc-sent">
            <p
                class="sc-sent__status"
                class:sc-sent__status--sending=move || is(LineStatus::Sending)
                class:sc-sent__status--failed=move || is(LineStatus::Failed)
                role="status"
            >
                {move || status().map(|s| format!("Last reply: {s}"))}
            </p>
            {move || {
                what()
                    .map(|(tag, text)| {
                        view! {
                            <p class="sc-sent__line">
                                <span class="sc-tag">{tag}</span>
                                " "
                                <span class="sc-sent__text">{text}</span>
                            </p>
                        }
                    })
            }}
        </div>
    }
}
