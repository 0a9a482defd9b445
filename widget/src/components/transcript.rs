//! One conversation: who the consumer is, Take, Close and Transfer, and every line with its tag,
//! author, time and (for our lines) status, with the brand's private notes among them.
//!
//! Consumer text only ever becomes text nodes (never HTML), and media URLs are used only
//! when they are http(s) or on this server.

use super::SharedLinks;
use super::notes::NoteView;
use leptos::prelude::*;
use shared::api::{
    Author, ConversationStatus, Direction, Line, LineStatus, Playback, Transcript, consumer_label,
    safe_media_url,
};
use shared::inbound::MediaKind;
use shared::notes::{Entry, interleave};

/// The open conversation.
#[component]
pub fn ConversationView(
    transcript: Transcript,
    /// The signed-in user's id, to say "you" and offer Take only when it is not theirs.
    me: Option<i64>,
    /// Take or Close is on its way.
    #[prop(into)]
    busy: Signal<bool>,
    on_take: Callback<i64>,
    on_close: Callback<i64>,
    /// Whether the Transfer form is open (kept by the page, across new transcripts).
    transferring: RwSignal<bool>,
    /// Transfers the conversation (see [`super::TransferForm`]).
    on_transfer: Callback<(i64, shared::api::Transfer)>,
    /// Where the transcript is scrolled to, kept by the page across redraws.
    follow: super::Follow,
    /// Controls the page puts in the header (which columns show).
    #[prop(optional, into)]
    panels: ViewFn,
) -> impl IntoView {
    let c = &transcript.conversation;
    let id = c.id;
    let who = consumer_label(
        transcript.consumer.name.as_deref(),
        transcript.consumer.handle.as_deref(),
    );
    let open = c.status == ConversationStatus::Open;
    let mine = c.assigned_to.as_ref().is_some_and(|a| Some(a.id) == me);
    let assigned = match (&c.assigned_to, mine, open) {
        (_, _, false) => "Closed".to_owned(),
        (_, true, _) => "Assigned to you".to_owned(),
        (Some(a), false, _) => format!("Assigned to {}", a.name),
        (None, _, _) => "Not assigned".to_owned(),
    };
    let mut facts = vec![c.channel.label().to_owned()];
    if let Some(h) = transcript
        .consumer
        .handle
        .as_deref()
        .filter(|h| !h.is_empty())
    {
        facts.push(format!("@{}", h.trim_start_matches('@')));
    }
    facts.push(assigned);
    // User timing: the transcript is on screen and usable (`cargo xtask budgets` reads it).
    Effect::new(|_| {
        if let Some(p) = web_sys::window().and_then(|w| w.performance()) {
            let _ = p.mark("sc-interactive");
        }
    });
    let count = transcript.lines.len() + transcript.notes.len();
    let scroller = NodeRef::<leptos::html::Ol>::new();
    Effect::new(move |_| {
        if let Some(el) = scroller.get() {
            follow.placed(&el, id, count);
        }
    });
    // An image that loads keeps the newest line in view if it was.
    let grew = Callback::new(move |()| {
        if let Some(el) = scroller.get_untracked() {
            follow.grew(&el);
        }
    });
    let newest = move |_| {
        if let Some(el) = scroller.get_untracked() {
            follow.to_end(&el);
        }
    };
    // The brand's private notes among the lines, each where it was written.
    let lines = interleave(transcript.lines, transcript.notes)
        .into_iter()
        .map(|entry| match entry {
            Entry::Line(line) => {
                view! { <LineView line=line consumer=who.clone() grew /> }.into_any()
            }
            Entry::Note(note) => view! { <NoteView note /> }.into_any(),
        })
        .collect_view();
    view! {
        <article class="sc-conversation__body" aria-labelledby="sc-conversation-title">
            <header class="sc-conversation__head">
                <a class="sc-conversation__back" href="/workspace">"Back to queue"</a>
                <h2 class="sc-conversation__title" id="sc-conversation-title">{who.clone()}</h2>
                <p class="sc-conversation__facts">{facts.join(" · ")}</p>
                <div class="sc-conversation__actions">
                    <button
                        class="sc-button"
                        disabled=move || busy.get() || mine || !open
                        on:click=move |_| on_take.run(id)
                    >
                        "Take"
                    </button>
                    <button
                        class="sc-button sc-button--quiet"
                        disabled=move || busy.get() || !open
                        on:click=move |_| on_close.run(id)
                    >
                        "Close"
                    </button>
                    {panels.run()}
                    <Show when=move || !transferring.get()>
                        <button
                            id=format!("sc-transfer-open-{id}")
                            class="sc-button sc-button--quiet"
                            aria-expanded="false"
                            disabled=move || busy.get() || !open
                            on:click=move |_| transferring.set(true)
                        >
                            "Transfer"
                        </button>
                    </Show>
                </div>
                <Show when=move || transferring.get()>
                    <super::TransferForm conversation=id open=transferring busy on_transfer />
                </Show>
            </header>
            <div class="sc-transcript__frame">
                <ol
                    class="sc-transcript"
                    aria-label="Transcript"
                    tabindex="0"
                    node_ref=scroller
                    on:scroll=move |ev| follow.scrolled(&event_target::<web_sys::Element>(&ev))
                >
                    {lines}
                </ol>
                <Show when=move || follow.unseen.get()>
                    <button class="sc-button sc-transcript__newer" type="button" on:click=newest>
                        "New messages ↓"
                    </button>
                </Show>
            </div>
        </article>
    }
}

/// One transcript line.
#[component]
fn LineView(
    line: Line,
    consumer: String,
    /// Called when an image in the line loads (and the line grows).
    grew: Callback<()>,
) -> impl IntoView {
    let loaded = move |_| grew.run(());
    let author = match line.author {
        Author::Consumer => consumer,
        other => other.label().to_owned(),
    };
    let side = match line.direction {
        Direction::In => "sc-line sc-line--in",
        Direction::Out => "sc-line sc-line--out",
    };
    let status = (line.direction == Direction::Out).then(|| {
        let failed = line.status == LineStatus::Failed;
        let text = match (&line.error, failed) {
            (Some(e), true) => format!("message not sent: {e}"),
            _ => line.status.label().to_owned(),
        };
        view! {
            <span class="sc-line__status" class:sc-line__status--failed=failed>
                {text}
            </span>
        }
    });
    let media = line
        .media
        .iter()
        .map(|m| {
            let url = m.url.as_deref().and_then(safe_media_url).map(str::to_owned);
            let still = m.still().map(str::to_owned);
            let alt = format!("{} from {author}", kind_label(m.kind));
            match (m.playback(), url) {
                // A picture or GIF file: its thumbnail or first frame when we hold a copy.
                (Some(Playback::Picture), Some(url)) => view! {
                    <img
                        class="sc-line__image"
                        src=still.unwrap_or(url)
                        alt=alt
                        loading="lazy"
                        on:load=loaded
                    />
                }
                .into_any(),
                // A GIF X sent as MP4: its preview still, marked as a GIF; View Media plays it.
                (Some(Playback::Loop), Some(url)) => match still {
                    Some(still) => view! {
                        <span class="sc-line__gif">
                            <img
                                class="sc-line__image"
                                src=still
                                alt=alt
                                loading="lazy"
                                on:load=loaded
                            />
                            <span class="sc-line__badge" aria-hidden="true">"GIF"</span>
                        </span>
                    }
                    .into_any(),
                    None => view! {
                        <a class="sc-line__file" href=url target="_blank" rel="noopener noreferrer">
                            "Open GIF"
                        </a>
                    }
                    .into_any(),
                },
                (Some(Playback::Video), Some(url)) => view! {
                    <InlineVideo url poster=still author=author.clone() grew />
                }
                .into_any(),
                (_, Some(url)) => view! {
                    <a class="sc-line__file" href=url target="_blank" rel="noopener noreferrer">
                        {format!("Open {}", kind_label(m.kind).to_ascii_lowercase())}
                    </a>
                }
                .into_any(),
                (_, None) => view! {
                    <span class="sc-line__file">
                        {format!("{} (not available)", kind_label(m.kind))}
                    </span>
                }
                .into_any(),
            }
        })
        .collect_view();
    view! {
        <li class=side>
            <div class="sc-line__meta">
                <span class="sc-tag">{line.tag.as_str()}</span>
                <span class="sc-line__who">{author.clone()}</span>
                <super::Time at=line.created_at.clone() />
            </div>
            {(!line.text.is_empty() || line.removed)
                .then(|| {
                    view! {
                        <p class="sc-line__text" class:sc-line__text--removed=line.removed>
                            {line.text.clone()}
                        </p>
                    }
                })}
            {media}
            <SharedLinks links=line.links.clone() />
            <div class="sc-line__foot">
                {line.edited.then_some(view! { <span>"Edited"</span> })}
                {line.removed.then_some(view! { <span>"Removed on the network"</span> })}
                {status}
            </div>
        </li>
    }
}

/// A video in the transcript: its poster with a play control; playing, the player with
/// its controls in the same place, focused so the keyboard works it at once.
#[component]
fn InlineVideo(
    /// The video (vetted).
    url: String,
    /// Its poster (vetted), when there is one.
    poster: Option<String>,
    /// Who sent it, as the line names them.
    author: String,
    /// Called when the poster loads.
    grew: Callback<()>,
) -> impl IntoView {
    let playing = RwSignal::new(false);
    let player = NodeRef::<leptos::html::Video>::new();
    Effect::new(move |_| {
        if let Some(video) = player.get() {
            let _ = video.focus();
        }
    });
    let label = format!("Video from {author}");
    let play_label = format!("Play video from {author}");
    move || {
        if playing.get() {
            view! {
                <video
                    class="sc-line__player"
                    node_ref=player
                    src=url.clone()
                    poster=poster.clone()
                    controls=true
                    autoplay=true
                    playsinline=true
                    preload="metadata"
                    aria-label=label.clone()
                ></video>
            }
            .into_any()
        } else {
            view! {
                <button
                    type="button"
                    class="sc-line__play"
                    aria-label=play_label.clone()
                    on:click=move |_| playing.set(true)
                >
                    {poster
                        .clone()
                        .map(|p| {
                            view! {
                                <img
                                    class="sc-line__poster"
                                    src=p
                                    alt=""
                                    loading="lazy"
                                    on:load=move |_| grew.run(())
                                />
                            }
                        })}
                    <span class="sc-line__play-icon" aria-hidden="true"></span>
                </button>
            }
            .into_any()
        }
    }
}

fn kind_label(kind: MediaKind) -> &'static str {
    match kind {
        MediaKind::Image => "Image",
        MediaKind::Gif => "GIF",
        MediaKind::Video => "Video",
        MediaKind::Audio => "Audio",
        MediaKind::File => "File",
        MediaKind::Sticker => "Sticker",
    }
}
