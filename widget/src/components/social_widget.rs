//! The Social Widget: the consumer's profile and the tools only social needs — Add Public
//! to Private, Character Counter, View Media and Send Image. It writes into the agent's
//! compose box through the [`Host`], so it works the same in our workspace and inside
//! LiveEngage. Tool state lives here, outside the live-refreshed transcript.
//!
//! Everything the network gave becomes text nodes or vetted URLs (`safe_media_url`,
//! http(s) links only), never HTML.

use crate::api;
use crate::host::Host;
use crate::state::use_draft;
use leptos::prelude::*;
use shared::api::{
    Direction, LineMedia, Playback, ReplyRequest, Transcript, default_reply_mode, safe_media_url,
};
use shared::inbound::MediaKind;
use shared::media_limits::{image_hint, image_refusal};
use shared::replies::reply_target;
use shared::{Channel, Target};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tool {
    Counter,
    Media,
    Image,
}

/// The widget for the open conversation.
#[component]
pub fn SocialWidget(
    /// The open conversation, refreshed live (`None` while loading or when none is open).
    #[prop(into)]
    transcript: Signal<Option<Transcript>>,
    /// Where to write into the agent's compose box.
    host: Host,
    /// Called after Send Image sent a reply, to refresh the transcript at once.
    on_sent: Callback<()>,
) -> impl IntoView {
    let draft = use_draft();
    let tool = RwSignal::new(None::<Tool>);
    let id = Memo::new(move |_| transcript.with(|t| t.as_ref().map(|t| t.conversation.id)));
    // A new conversation starts with the profile, not the last one's tool.
    Effect::new(move |_| {
        id.track();
        tool.set(None);
    });
    let channel =
        Memo::new(move |_| transcript.with(|t| t.as_ref().map(|t| t.conversation.channel)));
    let mode = Signal::derive(move || {
        let default = transcript.with(|t| t.as_ref().map(|t| default_reply_mode(&t.lines)));
        draft.mode(default.unwrap_or(shared::ReplyMode::Private))
    });
    let target = Signal::derive(move || {
        reply_target(channel.get().unwrap_or(Channel::Facebook), mode.get())
    });
    // The same rule as the compose box's switch: a mode that closed sends nothing.
    let clock = super::compose::use_clock();
    let blocked = Signal::derive(move || {
        let m = mode.get();
        transcript.with(|t| {
            let t = t.as_ref()?;
            shared::replies::refusal(t.conversation.channel, m, &t.reply_facts, clock.get())
                .map(|why| format!("{} unavailable: {why}", m.label()))
        })
    });
    let link =
        Memo::new(move |_| transcript.with(|t| t.as_ref().and_then(|t| t.brand.private_link())));
    // The gallery changes only when new media arrive, so a playing video keeps playing.
    let gallery =
        Memo::new(move |_| transcript.with(|t| t.as_ref().map(gallery_items).unwrap_or_default()));
    let send_image_on =
        Memo::new(move |_| transcript.with(|t| t.as_ref().is_some_and(|t| t.brand.send_image)));
    let note = RwSignal::new(None::<&'static str>);
    // What a tool did is news about this conversation only.
    Effect::new(move |_| {
        id.track();
        note.set(None);
    });
    // Said where the text went: LiveEngage's compose box, or this page's Reply box.
    let written = move || {
        note.set(Some(if host.is_liveengage() {
            "Written into the LiveEngage compose box."
        } else {
            "Added to the Reply box."
        }))
    };
    let add_link = move |_| {
        if let Some(link) = link.get_untracked() {
            host.write(&link);
            written();
        }
    };
    let toggle = move |t: Tool| {
        note.set(None);
        tool.update(|cur| *cur = if *cur == Some(t) { None } else { Some(t) });
    };
    let on_use = Callback::new(move |text: String| {
        host.write(&text);
        tool.set(None);
        written();
    });
    let on_done = Callback::new(move |()| tool.set(None));
    let tool_button = move |t: Tool, label: &'static str| {
        view! {
            <button
                type="button"
                class="sc-widget__tool"
                aria-pressed=move || (tool.get() == Some(t)).to_string()
                on:click=move |_| toggle(t)
            >
                {label}
            </button>
        }
    };
    // The open tool is rebuilt only when the tool or the conversation changes: a line
    // arriving live must not wipe what the agent typed or chose in it. The profile and
    // the gallery follow the transcript.
    let body = move || {
        match (tool.get(), id.get(), channel.get()) {
        (_, None, _) | (_, _, None) => view! {
            <p class="sc-widget__empty">"Open a conversation to see the consumer and the social tools."</p>
        }
        .into_any(),
        (None, Some(_), Some(_)) => {
            (move || transcript.with(|t| t.as_ref().map(profile_view))).into_any()
        }
        (Some(Tool::Counter), Some(_), Some(_)) => {
            view! { <CharacterCounter target on_use on_done /> }.into_any()
        }
        (Some(Tool::Media), Some(_), Some(_)) => {
            (move || media_view(gallery.get(), on_done)).into_any()
        }
        (Some(Tool::Image), Some(conversation), Some(_)) => view! {
            <SendImage
                conversation
                target
                mode
                blocked
                on_sent=Callback::new(move |()| {
                    tool.set(None);
                    on_sent.run(());
                })
                on_cancel=on_done
            />
        }
        .into_any(),
    }
    };
    view! {
        <aside class="sc-widget" aria-labelledby="sc-widget-title">
            <h2 class="sc-widget__title" id="sc-widget-title">
                "Social Widget"
            </h2>
            <div class="sc-widget__tools" role="group" aria-label="Social tools">
                <button
                    type="button"
                    class="sc-widget__tool"
                    disabled=move || link.get().is_none()
                    on:click=add_link
                >
                    "Add Public to Private"
                </button>
                {tool_button(Tool::Counter, "Character Counter")}
                {tool_button(Tool::Media, "View Media")}
                <Show when=move || send_image_on.get()>{tool_button(Tool::Image, "Add Image")}</Show>
            </div>
            <p class="sc-widget__note" role="status">
                {move || note.get()}
            </p>
            {body}
        </aside>
    }
}

/// One profile field: its value, or plainly that the network did not give it.
fn field(label: &'static str, value: Option<String>, network: &'static str) -> AnyView {
    let given = value.is_some();
    let shown = value.unwrap_or_else(|| format!("Not given by {network}"));
    view! {
        <div class="sc-profile__field">
            <dt>{label}</dt>
            <dd class:sc-profile__missing=!given>{shown}</dd>
        </div>
    }
    .into_any()
}

/// Hours from UTC as people read them: `UTC+5:30`, `UTC−7`.
fn utc_offset(hours: f64) -> String {
    let sign = if hours < 0.0 { '−' } else { '+' };
    let minutes = (hours.abs() * 60.0).round() as u32;
    match minutes % 60 {
        0 => format!("UTC{sign}{}", minutes / 60),
        m => format!("UTC{sign}{}:{m:02}", minutes / 60),
    }
}

/// The consumer's time of day now, where Facebook says they are (`hours` from UTC).
fn local_time(hours: f64) -> AnyView {
    let offset = (hours * 60.0).round() as i32;
    let now = super::time::use_now();
    view! {
        <div class="sc-profile__field">
            <dt>"Local time"</dt>
            <dd>{move || shared::time::clock(now.get(), offset)}</dd>
        </div>
    }
    .into_any()
}

fn web_link(url: &str) -> Option<String> {
    let lower = url.trim().to_ascii_lowercase();
    (lower.starts_with("https://") || lower.starts_with("http://")).then(|| url.trim().to_owned())
}

/// The consumer as the network described them.
fn profile_view(t: &Transcript) -> impl IntoView + use<> {
    let p = &t.consumer.profile;
    let channel = t.conversation.channel;
    let network = match channel {
        Channel::Facebook => "Facebook",
        Channel::Twitter => "X",
    };
    let name = p
        .name
        .clone()
        .or_else(|| t.consumer.name.clone())
        .filter(|n| !n.is_empty());
    let handle = p
        .username
        .clone()
        .or_else(|| t.consumer.handle.clone())
        .filter(|h| !h.is_empty())
        .map(|h| format!("@{}", h.trim_start_matches('@')));
    let who = name
        .clone()
        .or(handle.clone())
        .unwrap_or_else(|| "the consumer".into());
    let picture = p
        .profile_pic
        .as_deref()
        .or(p.profile_image_url.as_deref())
        .and_then(safe_media_url)
        .map(|src| {
            view! { <img class="sc-profile__picture" src=src.to_owned() alt=format!("Profile picture of {who}") /> }
        });
    let picture = match picture {
        Some(img) => img.into_any(),
        None => view! { <p class="sc-profile__missing">{format!("Picture: not given by {network}")}</p> }
            .into_any(),
    };
    let count = |n: Option<u64>| n.map(|n| n.to_string());
    let metrics = p.public_metrics.unwrap_or_default();
    let fields = match channel {
        Channel::Facebook => [
            Some(field("Name", name, network)),
            Some(field("Time zone", p.timezone.map(utc_offset), network)),
            p.timezone.map(local_time),
            Some(field("Gender", p.gender.clone(), network)),
            Some(field("Locale", p.locale.clone(), network)),
        ]
        .into_iter()
        .flatten()
        .collect(),
        Channel::Twitter => {
            let url = p.url.as_deref().and_then(web_link).map(|href| {
                view! {
                    <div class="sc-profile__field">
                        <dt>"URL"</dt>
                        <dd>
                            <a href=href.clone() target="_blank" rel="noopener noreferrer">{href.clone()}</a>
                        </dd>
                    </div>
                }
                .into_any()
            });
            vec![
                field("Name", name, network),
                field("Account", handle, network),
                field("Location", p.location.clone(), network),
                field(
                    "Joined",
                    p.created_at
                        .as_deref()
                        .map(|d| d.get(..10).unwrap_or(d).to_owned()),
                    network,
                ),
                url.unwrap_or_else(|| field("URL", None, network)),
                field("Tweets", count(metrics.tweet_count), network),
                field("Likes", count(metrics.like_count), network),
                field("Followers", count(metrics.followers_count), network),
                field("Following", count(metrics.following_count), network),
                field(
                    "Biography",
                    p.description.clone().filter(|d| !d.is_empty()),
                    network,
                ),
            ]
        }
    };
    view! {
        <section class="sc-profile" aria-label="Consumer profile">
            {picture}
            <dl class="sc-profile__fields">{fields}</dl>
        </section>
    }
}

/// The Character Counter: a text box with a live count against `target`'s limit, as the
/// network counts it (`shared::count`, the server's own code).
#[component]
pub fn CharacterCounter(
    /// Where the text is going (channel and Public/Private).
    #[prop(into)]
    target: Signal<Target>,
    /// Use: the text goes into the compose box.
    on_use: Callback<String>,
    /// Done: back to the profile.
    on_done: Callback<()>,
) -> impl IntoView {
    let text = RwSignal::new(String::new());
    let count = Memo::new(move |_| text.with(|t| shared::count::count(target.get(), t)));
    let over = move || super::count::over(Some(count.get()));
    view! {
        <section class="sc-counter" aria-label="Character Counter">
            <label class="sc-compose__label" for="sc-counter-text">
                {move || format!("Text to count ({})", target.get().label())}
            </label>
            <textarea
                id="sc-counter-text"
                class="sc-compose__box"
                rows="4"
                aria-describedby="sc-counter-count"
                aria-invalid=move || over().to_string()
                bind:value=text
            ></textarea>
            <super::count::CountLine
                id="sc-counter-count"
                count=Signal::derive(move || Some(count.get()))
                live=true
            />
            <div class="sc-widget__actions">
                <button
                    type="button"
                    class="sc-button"
                    disabled=move || !count.get().valid
                    on:click=move |_| on_use.run(text.get_untracked())
                >
                    "Use"
                </button>
                <button
                    type="button"
                    class="sc-button sc-button--quiet"
                    on:click=move |_| on_done.run(())
                >
                    "Done"
                </button>
            </div>
        </section>
    }
}

/// One picture, GIF or video of the gallery, its URLs vetted.
#[derive(Debug, Clone, PartialEq, Eq)]
struct GalleryItem {
    kind: MediaKind,
    playback: Playback,
    url: String,
    poster: Option<String>,
}

/// What the consumer sent that the gallery shows.
fn gallery_items(t: &Transcript) -> Vec<GalleryItem> {
    t.lines
        .iter()
        .filter(|l| l.direction == Direction::In)
        .flat_map(|l| l.media.iter())
        .filter_map(|m: &LineMedia| {
            Some(GalleryItem {
                kind: m.kind,
                playback: m.playback()?,
                url: m.url.as_deref().and_then(safe_media_url)?.to_owned(),
                poster: m
                    .poster_url
                    .as_deref()
                    .and_then(safe_media_url)
                    .map(str::to_owned),
            })
        })
        .collect()
}

/// Every image, GIF and video the consumer sent: images large, GIFs animated (the
/// original, not the still), videos playable.
fn media_view(items: Vec<GalleryItem>, on_done: Callback<()>) -> impl IntoView {
    let empty = items.is_empty();
    let total = items.len();
    let shown = items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let n = i + 1;
            let GalleryItem {
                kind,
                playback,
                url,
                poster,
            } = item;
            let shown = match (playback, kind) {
                (Playback::Video, _) => view! {
                    <video
                        class="sc-media__video"
                        controls=true
                        preload="metadata"
                        playsinline=true
                        src=url
                        poster=poster
                        aria-label=format!("Video {n} of {total} from the consumer")
                    >
                        {format!("Video {n} of {total}")}
                    </video>
                }
                .into_any(),
                (Playback::Loop, _) => view! { <LoopingGif url poster n total /> }.into_any(),
                (Playback::Picture, MediaKind::Gif) => view! {
                    <img class="sc-media__image" src=url alt=format!("GIF {n} of {total} from the consumer (animated)") />
                }
                .into_any(),
                (Playback::Picture, _) => view! {
                    <img class="sc-media__image" src=url alt=format!("Image {n} of {total} from the consumer") />
                }
                .into_any(),
            };
            view! { <li class="sc-media__item">{shown}</li> }
        })
        .collect_view();
    view! {
        <section class="sc-media" aria-label="View Media">
            {empty.then(|| view! { <p class="sc-widget__empty">"The consumer has sent no images, GIFs or videos."</p> })}
            <ul class="sc-media__list">{shown}</ul>
            <button type="button" class="sc-button sc-button--quiet" on:click=move |_| on_done.run(())>
                "Done"
            </button>
        </section>
    }
}

/// A GIF that X delivered as MP4, shown as a GIF is: looping, muted, playing by itself —
/// unless the agent asked for reduced motion — with a control to pause it (it would
/// otherwise move for ever).
#[component]
fn LoopingGif(url: String, poster: Option<String>, n: usize, total: usize) -> impl IntoView {
    let still = reduced_motion();
    let paused = RwSignal::new(still);
    let video = NodeRef::<leptos::html::Video>::new();
    let toggle = move |_| {
        if let Some(v) = video.get_untracked() {
            if v.paused() {
                // Refused only by autoplay rules, which a click satisfies.
                let _ = v.play();
            } else {
                let _ = v.pause();
            }
        }
    };
    let name = move || {
        let verb = if paused.get() { "Play" } else { "Pause" };
        format!("{verb} GIF {n} of {total}")
    };
    view! {
        <video
            class="sc-media__video sc-media__video--gif"
            node_ref=video
            src=url
            poster=poster
            loop=true
            muted=true
            prop:muted=true
            autoplay=!still
            playsinline=true
            preload="auto"
            aria-label=format!("GIF {n} of {total} from the consumer (animated)")
            on:play=move |_| paused.set(false)
            on:pause=move |_| paused.set(true)
        ></video>
        <button type="button" class="sc-button sc-button--quiet sc-media__toggle" aria-label=name on:click=toggle>
            {move || if paused.get() { "Play GIF" } else { "Pause GIF" }}
        </button>
    }
}

/// Whether the agent's system asks for less motion (`prefers-reduced-motion`).
fn reduced_motion() -> bool {
    web_sys::window()
        .and_then(|w| {
            w.match_media("(prefers-reduced-motion: reduce)")
                .ok()
                .flatten()
        })
        .is_some_and(|q| q.matches())
}

/// What the agent chose to send.
#[derive(Clone)]
enum Chosen {
    File(web_sys::File, String),
    Url(String),
}

/// Why `file` cannot go to `target`, named for the agent; `None` when it can.
fn file_refusal(target: Target, file: &web_sys::File) -> Option<String> {
    image_refusal(target, &file.type_(), file.size() as u64)
        .map(|why| format!("{}: {why}", file.name()))
}

/// Send Image: an image or GIF from a pasted URL or from the desktop (drop or browse),
/// checked before anything is sent, previewed, then sent as a reply in the current mode
/// with the draft's text.
#[component]
fn SendImage(
    conversation: i64,
    /// Where a reply in the switch's mode goes: which images it may carry.
    target: Signal<Target>,
    /// The Public/Private switch's mode.
    mode: Signal<shared::ReplyMode>,
    /// Why that mode cannot be used now, when it cannot.
    blocked: Signal<Option<String>>,
    on_sent: Callback<()>,
    on_cancel: Callback<()>,
) -> impl IntoView {
    let draft = use_draft();
    let chosen: RwSignal<Option<Chosen>, LocalStorage> = RwSignal::new_local(None);
    let url = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    // Percent sent, whole numbers (no float formatting in the page).
    let progress = RwSignal::new(None::<u32>);
    let revoke = move || {
        if let Some(Chosen::File(_, preview)) = chosen.get_untracked() {
            let _ = web_sys::Url::revoke_object_url(&preview);
        }
    };
    on_cleanup(revoke);
    let take_file = move |file: web_sys::File| {
        revoke();
        chosen.set(None);
        // The file replaces whatever address was typed.
        url.set(String::new());
        if let Some(why) = file_refusal(target.get_untracked(), &file) {
            error.set(Some(why));
            return;
        }
        error.set(None);
        match web_sys::Url::create_object_url_with_blob(&file) {
            Ok(preview) => chosen.set(Some(Chosen::File(file, preview))),
            Err(_) => error.set(Some("This file cannot be read.".into())),
        }
    };
    let on_pick = move |ev: leptos::ev::Event| {
        let input: web_sys::HtmlInputElement = event_target(&ev);
        if let Some(file) = input.files().and_then(|f| f.get(0)) {
            take_file(file);
        }
    };
    let on_drop = move |ev: leptos::ev::DragEvent| {
        ev.prevent_default();
        if let Some(file) = ev
            .data_transfer()
            .and_then(|d| d.files())
            .and_then(|f| f.get(0))
        {
            take_file(file);
        }
    };
    let use_url = move |_| {
        let u = url.get_untracked().trim().to_owned();
        match web_link(&u) {
            Some(u) => {
                revoke();
                error.set(None);
                chosen.set(Some(Chosen::Url(u)));
            }
            None => error.set(Some("Paste an http(s) address of an image.".into())),
        }
    };
    // A file chosen in one mode may be too large for the mode switched to since.
    let refused = move || {
        chosen.with(|c| match c {
            Some(Chosen::File(file, _)) => file_refusal(target.get(), file),
            _ => None,
        })
    };
    let send = Action::new_local(move |c: &Chosen| {
        let c = c.clone();
        async move {
            let upload = match &c {
                Chosen::File(file, _) => {
                    progress.set(Some(0));
                    api::upload_file(file, move |f| progress.set(Some((f * 100.0) as u32))).await
                }
                Chosen::Url(u) => api::upload_from_url(u).await,
            }?;
            let req = ReplyRequest {
                text: draft.text.get_untracked(),
                mode: mode.get_untracked(),
                upload_id: Some(upload.id),
            };
            api::reply(conversation, &req).await
        }
    });
    Effect::new(move |_| match send.value().get() {
        Some(Ok(line)) if line.status == shared::api::LineStatus::Failed => {
            progress.set(None);
            error.set(Some(format!(
                "message not sent: {}",
                line.error.unwrap_or_default()
            )));
        }
        Some(Ok(_)) => {
            draft.text.set(String::new());
            on_sent.run(());
        }
        Some(Err(e)) => {
            progress.set(None);
            error.set(Some(format!("message not sent: {}", e.message)));
        }
        None => {}
    });
    let preview = move || {
        chosen.get().map(|c| {
            let (src, what) = match c {
                Chosen::File(file, preview) => (preview, file.name()),
                Chosen::Url(u) => (u.clone(), u),
            };
            view! {
                <figure class="sc-image__preview">
                    <img src=src alt=format!("Preview of {what}") />
                    <figcaption>{what}</figcaption>
                </figure>
            }
        })
    };
    let busy = move || send.pending().get();
    view! {
        <section class="sc-image" aria-label="Send Image">
            <div class="sc-image__url">
                <label class="sc-compose__label" for="sc-image-url">
                    "Image URL"
                </label>
                <div class="sc-widget__actions">
                    <input id="sc-image-url" class="sc-input" type="url" bind:value=url />
                    <button type="button" class="sc-button sc-button--quiet" on:click=use_url>
                        "Preview"
                    </button>
                </div>
            </div>
            <div
                class="sc-image__drop"
                on:dragover=|ev: leptos::ev::DragEvent| ev.prevent_default()
                on:drop=on_drop
            >
                <label class="sc-compose__label" for="sc-image-file">
                    "Choose an image, or drop it here"
                </label>
                <input
                    id="sc-image-file"
                    type="file"
                    accept="image/png,image/jpeg,image/gif,image/webp"
                    on:change=on_pick
                />
                <p class="sc-widget__hint">{move || image_hint(target.get())}</p>
            </div>
            <p class="sc-compose__error" role="alert">
                {move || error.get().or_else(refused)}
            </p>
            <p class="sc-widget__hint">{move || blocked.get()}</p>
            {preview}
            <Show when=move || progress.get().is_some() && busy()>
                <label class="sc-image__progress">
                    "Uploading "
                    <progress max="100" value=move || progress.get().unwrap_or(0).to_string()></progress>
                </label>
            </Show>
            <div class="sc-widget__actions">
                <button
                    type="button"
                    class="sc-button"
                    disabled=move || {
                        chosen.with(Option::is_none) || busy() || blocked.with(Option::is_some)
                            || refused().is_some()
                    }
                    on:click=move |_| {
                        if let Some(c) = chosen.get_untracked() {
                            send.dispatch_local(c);
                        }
                    }
                >
                    {move || if busy() { "Sending…" } else { "Send Image" }}
                </button>
                <button
                    type="button"
                    class="sc-button sc-button--quiet"
                    on:click=move |_| on_cancel.run(())
                >
                    "Cancel"
                </button>
            </div>
        </section>
    }
}
