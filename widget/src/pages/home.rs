//! SocialConnect Home, for the brand's admins: the accounts table with Add Account,
//! Unlink and Relink; routing of each channel to a skill; the People section (`people`:
//! invitations, roles, agents' skills, deactivation); single sign-on (`sso`); the Send
//! Image switch; canned responses (`canned`); and the audit log. The networks' sign-in pages come back here with
//! `?pick=` (choose a Facebook page), `?done=` or `?error=` in the address.

mod canned;
mod liveengage;
mod people;
mod section;
mod sso;

use super::{Shell, focus_later};
use crate::api;
use gloo_net::http::Method;
use leptos::prelude::*;
pub use people::People;
use shared::ApiError;
use shared::Channel;
use shared::home::{
    AuditRow, HomeOverview, HomeSettings, LinkedRow, NewSkill, PendingPages, PickPage, Redirect,
    RenameSkill, SetSkill, SkillRow,
};

async fn overview() -> Result<HomeOverview, ApiError> {
    api::get("/api/home").await
}

/// What the admin did, for the one action running at a time.
#[derive(Clone)]
enum Act {
    Start(String),
    Unlink(i64),
    Route {
        linked: i64,
        skill: i64,
    },
    AddSkill(String),
    RenameSkill {
        id: i64,
        name: String,
    },
    RetireSkill {
        id: i64,
        name: String,
    },
    /// The feature switches, and the name of the one changed (for the note).
    Settings(HomeSettings, &'static str),
    Pick {
        pending: String,
        page: String,
    },
}

const SEND_IMAGE: &str = "Send Image";
const REPLY_TAKES: &str = "Replying takes the conversation";

/// Sends what the admin did; the note to show, if any. One request path for every act
/// (only the answer's parsing differs), which keeps the bundle small.
async fn run(act: Act) -> Result<Option<String>, ApiError> {
    let none = || "null".to_owned();
    let (method, path, body) = match &act {
        // Starts a network's sign-in; the answer says where to send the browser.
        Act::Start(path) => (Method::POST, path.clone(), none()),
        Act::Unlink(id) => (
            Method::POST,
            format!("/api/home/accounts/{id}/unlink"),
            none(),
        ),
        Act::Route { linked, skill } => (
            Method::PUT,
            format!("/api/home/accounts/{linked}/skill"),
            api::json(&SetSkill { skill_id: *skill }),
        ),
        Act::AddSkill(name) => (
            Method::POST,
            "/api/home/skills".to_owned(),
            api::json(&NewSkill { name: name.clone() }),
        ),
        Act::RenameSkill { id, name } => (
            Method::PUT,
            format!("/api/home/skills/{id}"),
            api::json(&RenameSkill { name: name.clone() }),
        ),
        Act::RetireSkill { id, .. } => (
            Method::POST,
            format!("/api/home/skills/{id}/retire"),
            none(),
        ),
        Act::Settings(settings, _) => (
            Method::PUT,
            "/api/home/settings".to_owned(),
            api::json(settings),
        ),
        Act::Pick { pending, page } => (
            Method::POST,
            format!("/api/home/pending/{pending}"),
            api::json(&PickPage {
                page_id: page.clone(),
            }),
        ),
    };
    let answer = api::fetch(method, &path, Some(body)).await?;
    Ok(match act {
        Act::Start(_) => {
            let to: Redirect = api::parse(&answer)?;
            if let Some(w) = web_sys::window() {
                let _ = w.location().set_href(&to.url);
            }
            None
        }
        Act::Unlink(_) => {
            let row: LinkedRow = api::parse(&answer)?;
            Some(format!(
                "{} {} is unlinked; its conversations are kept.",
                row.channel.label(),
                row.name
            ))
        }
        Act::Route { .. } => None,
        Act::AddSkill(_) => {
            let s: SkillRow = api::parse(&answer)?;
            Some(format!("Skill {} added.", s.name))
        }
        Act::RenameSkill { name, .. } => Some(format!("Skill renamed {name}.")),
        Act::RetireSkill { name, .. } => Some(format!("Skill {name} retired.")),
        Act::Settings(settings, name) => {
            let on = match name {
                SEND_IMAGE => settings.send_image,
                _ => settings.reply_takes,
            };
            Some(format!("{name} is {}.", if on { "on" } else { "off" }))
        }
        Act::Pick { .. } => {
            let row: LinkedRow = api::parse(&answer)?;
            Some(format!("{} {} is linked.", row.channel.label(), row.name))
        }
    })
}

#[component]
pub fn Home() -> impl IntoView {
    let nav = crate::nav::use_nav();
    let refresh = RwSignal::new(0u64);
    let data = crate::state::load(move || {
        refresh.track();
        overview()
    });
    let note = RwSignal::new(nav.query_untracked("done"));
    let error = RwSignal::new(nav.query_untracked("error"));
    let pick = Memo::new(move |_| nav.query("pick"));

    let action = Action::new_local(move |act: &Act| {
        let act = act.clone();
        async move { run(act).await }
    });
    Effect::new(move |_| {
        if let Some(result) = action.value().get() {
            match result {
                Ok(msg) => {
                    error.set(None);
                    if msg.is_some() {
                        note.set(msg);
                    }
                }
                Err(e) => error.set(Some(e.message)),
            }
            refresh.update(|n| *n += 1);
        }
    });
    // A picked page leaves the address: a reload must not offer the list again.
    Effect::new(move |_| {
        if let Some(Ok(_)) = action.value().get()
            && pick.get_untracked().is_some()
        {
            nav.push("/home");
        }
    });
    let busy = Signal::derive(move || action.pending().get());
    let act = move |a: Act| {
        action.dispatch(a);
    };

    view! {
        <Shell title="SocialConnect Home">
            <div class="sc-home">
                <Show when=move || note.get().is_some()>
                    <p class="sc-home__note" role="status">{move || note.get()}</p>
                </Show>
                <Show when=move || error.get().is_some()>
                    <p class="sc-form__error" role="alert">{move || error.get()}</p>
                </Show>
                {move || pick.get().map(|id| view! { <PagePicker pending=id busy on_pick=act /> })}
                {move || {
                    data.get()
                        .map(|r| match r {
                            Ok(home) => {
                                view! { <HomeSections home busy act=Callback::new(act) /> }
                                    .into_any()
                            }
                            Err(e) => {
                                view! { <p class="sc-form__error" role="alert">{e.message}</p> }
                                    .into_any()
                            }
                        })
                        .unwrap_or_else(|| {
                            view! { <p class="sc-home__loading">"Loading…"</p> }.into_any()
                        })
                }}
                <People overview=data refresh />
                <sso::SingleSignOn refresh />
                <liveengage::LiveEngage refresh />
                <crate::components::AutomationSettings />
                <canned::CannedResponses refresh />
                {move || {
                    data.get()
                        .and_then(Result::ok)
                        .map(|home| view! { <AuditLog entries=home.audit /> })
                }}
            </div>
        </Shell>
    }
}

/// The pages Facebook listed after sign-in; picking one links it.
#[component]
fn PagePicker(
    /// The sign-in flow's id from `?pick=`.
    pending: String,
    busy: Signal<bool>,
    on_pick: impl Fn(Act) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let id = pending.clone();
    let pages = crate::state::load(move || {
        let id = id.clone();
        async move { api::get::<PendingPages>(&format!("/api/home/pending/{id}")).await }
    });
    view! {
        <section class="sc-home__section sc-home__picker" aria-labelledby="sc-home-pick">
            <h2 id="sc-home-pick">"Choose a Facebook page"</h2>
            {move || {
                let pending = pending.clone();
                pages
                    .get()
                    .map(move |r| match r {
                        Ok(list) => {
                            view! {
                                <ul class="sc-home__pages">
                                    {list
                                        .pages
                                        .into_iter()
                                        .map(|p| {
                                            let pending = pending.clone();
                                            let page = p.id.clone();
                                            let label = if p.linked {
                                                format!("Relink {}", p.name)
                                            } else {
                                                format!("Link {}", p.name)
                                            };
                                            view! {
                                                <li class="sc-home__page">
                                                    <span>{p.name}</span>
                                                    <button
                                                        class="sc-button"
                                                        disabled=busy
                                                        on:click=move |_| {
                                                            on_pick(Act::Pick {
                                                                pending: pending.clone(),
                                                                page: page.clone(),
                                                            })
                                                        }
                                                    >
                                                        {label}
                                                    </button>
                                                </li>
                                            }
                                        })
                                        .collect_view()}
                                </ul>
                            }
                                .into_any()
                        }
                        Err(e) => {
                            view! {
                                <p class="sc-form__error" role="alert">
                                    {format!("{} Use Add Account again.", e.message)}
                                </p>
                            }
                                .into_any()
                        }
                    })
                    .unwrap_or_else(|| {
                        view! { <p>"Asking Facebook for your pages…"</p> }.into_any()
                    })
            }}
        </section>
    }
}

fn skill_name(skills: &[SkillRow], id: Option<i64>) -> String {
    id.and_then(|id| skills.iter().find(|s| s.id == id))
        .map(|s| s.name.clone())
        .unwrap_or_else(|| "—".into())
}

#[component]
fn HomeSections(home: HomeOverview, busy: Signal<bool>, act: Callback<Act>) -> impl IntoView {
    let adding = RwSignal::new(false);
    let editing = RwSignal::new(None::<i64>);
    let new_skill = RwSignal::new(String::new());
    let networks = home.networks;
    let skills = home.skills.clone();
    let accounts = home.accounts.clone();
    let settings = home.settings;
    let send_image = settings.send_image;

    let rows = accounts
        .iter()
        .cloned()
        .map(|a| {
            let id = a.id;
            let status_class = format!("sc-status sc-status--{}", serde_plain(&a.status));
            let label = format!("Edit {}", a.name);
            let channel = a.channel;
            view! {
                <tr>
                    <td data-label="Account" class="sc-home__name">{a.name.clone()}</td>
                    <td data-label="Channel">{a.channel.label()}</td>
                    <td data-label="Created">{a.created_on.clone()}</td>
                    <td data-label="By">{a.created_by.clone()}</td>
                    <td data-label="Status">
                        <span class=status_class>{a.status.label()}</span>
                        {a.status.explanation().map(|why| view! { <span class="sc-status__why">{why}</span> })}
                    </td>
                    <td data-label="Skill">{skill_name(&skills, a.skill_id)}</td>
                    <td class="sc-home__edit">
                        <button
                            class="sc-button sc-button--quiet"
                            aria-label=label
                            aria-expanded=move || (editing.get() == Some(id)).to_string()
                            on:click=move |_| {
                                editing.update(|e| *e = if *e == Some(id) { None } else { Some(id) })
                            }
                        >
                            "Edit"
                        </button>
                        <Show when=move || editing.get() == Some(id)>
                            <div class="sc-home__actions">
                                <Show when=move || a.status.is_active()>
                                    <button
                                        class="sc-button sc-button--danger"
                                        disabled=busy
                                        on:click=move |_| {
                                            editing.set(None);
                                            act.run(Act::Unlink(id));
                                        }
                                    >
                                        "Unlink"
                                    </button>
                                </Show>
                                <button
                                    class="sc-button"
                                    disabled=busy
                                    on:click=move |_| {
                                        act.run(Act::Start(format!("/api/home/accounts/{id}/relink")))
                                    }
                                >
                                    "Relink"
                                </button>
                                <span class="sc-home__hint">
                                    {match channel {
                                        Channel::Facebook => "Relink signs in with Facebook again.",
                                        Channel::Twitter => "Relink authorizes the app on X again.",
                                    }}
                                </span>
                            </div>
                        </Show>
                    </td>
                </tr>
            }
        })
        .collect_view();

    let routing = accounts
        .iter()
        .filter(|a| a.status.is_active())
        .cloned()
        .map(|a| {
            let id = a.id;
            let label = format!("Skill for {} {}", a.channel.label(), a.name);
            let options = skills
                .iter()
                .map(|s| {
                    view! {
                        <option value=s.id.to_string() selected=a.skill_id == Some(s.id)>
                            {s.name.clone()}
                        </option>
                    }
                })
                .collect_view();
            view! {
                <li class="sc-home__route">
                    <label class="sc-form__field">
                        <span>{format!("{} {}", a.channel.label(), a.name)}</span>
                        <select
                            aria-label=label
                            disabled=busy
                            on:change=move |ev| {
                                if let Ok(skill) = event_target_value(&ev).parse::<i64>() {
                                    act.run(Act::Route { linked: id, skill });
                                }
                            }
                        >
                            <Show when=move || a.skill_id.is_none()>
                                <option value="" selected=true>"Choose a skill"</option>
                            </Show>
                            {options}
                        </select>
                    </label>
                </li>
            }
        })
        .collect_view();

    let no_accounts = accounts.is_empty();
    let renaming = RwSignal::new(None::<i64>);
    let new_name = RwSignal::new(String::new());
    let skill_rows = skills
        .iter()
        .cloned()
        .map(|s| {
            let id = s.id;
            let name = s.name;
            let shown = name.clone();
            let retired = name.clone();
            let field = format!("sc-skill-{id}-name");
            let focus_id = field.clone();
            view! {
                <li class="sc-home__skill">
                    <Show
                        when=move || renaming.get() == Some(id)
                        fallback=move || {
                            let start = shown.clone();
                            let retired = retired.clone();
                            let focus = focus_id.clone();
                            view! {
                                <span class="sc-home__name">{shown.clone()}</span>
                                <button
                                    class="sc-button sc-button--quiet"
                                    aria-label=format!("Rename {shown}")
                                    disabled=busy
                                    on:click=move |_| {
                                        new_name.set(start.clone());
                                        renaming.set(Some(id));
                                        focus_later(focus.clone());
                                    }
                                >
                                    "Rename"
                                </button>
                                <button
                                    class="sc-button sc-button--quiet"
                                    aria-label=format!("Retire {shown}")
                                    disabled=busy
                                    on:click=move |_| {
                                        act.run(Act::RetireSkill { id, name: retired.clone() })
                                    }
                                >
                                    "Retire"
                                </button>
                            }
                        }
                    >
                        <form
                            class="sc-home__inline"
                            on:submit=move |ev| {
                                ev.prevent_default();
                                let name = new_name.get_untracked().trim().to_owned();
                                act.run(Act::RenameSkill { id, name });
                            }
                        >
                            <label class="sc-form__field">
                                <span>{format!("New name for {name}")}</span>
                                <input
                                    id=field.clone()
                                    type="text"
                                    maxlength="60"
                                    required
                                    prop:value=move || new_name.get()
                                    on:input=move |ev| new_name.set(event_target_value(&ev))
                                />
                            </label>
                            <button
                                class="sc-button"
                                type="submit"
                                aria-label=format!("Save {name}")
                                disabled=busy
                            >
                                "Save"
                            </button>
                            <button
                                class="sc-button sc-button--quiet"
                                type="button"
                                on:click=move |_| renaming.set(None)
                            >
                                "Cancel"
                            </button>
                        </form>
                    </Show>
                </li>
            }
        })
        .collect_view();

    view! {
        <p class="sc-home__account">
            {format!("Account {} — {}", home.account_number, home.account_name)}
        </p>
        <section class="sc-home__section" aria-labelledby="sc-home-accounts">
            <div class="sc-home__head">
                <h2 id="sc-home-accounts">"Accounts"</h2>
                <button
                    class="sc-button"
                    aria-expanded=move || adding.get().to_string()
                    on:click=move |_| adding.update(|a| *a = !*a)
                >
                    "Add Account"
                </button>
            </div>
            <Show when=move || adding.get()>
                <div class="sc-home__add" role="group" aria-label="Choose a network">
                    <button
                        class="sc-button sc-button--quiet"
                        disabled=move || busy.get() || !networks.facebook
                        on:click=move |_| act.run(Act::Start("/api/home/link/facebook".into()))
                    >
                        "Facebook"
                    </button>
                    <button
                        class="sc-button sc-button--quiet"
                        disabled=move || busy.get() || !networks.twitter
                        on:click=move |_| act.run(Act::Start("/api/home/link/twitter".into()))
                    >
                        "Twitter/X"
                    </button>
                    <Show when=move || !networks.facebook || !networks.twitter>
                        <span class="sc-home__hint">
                            "A network without its app settings on the server cannot be added."
                        </span>
                    </Show>
                </div>
            </Show>
            {if no_accounts {
                view! {
                    <p class="sc-empty">"No Facebook pages or Twitter/X accounts are linked yet."</p>
                }
                    .into_any()
            } else {
                view! {
                    <table class="sc-home__table">
                        <thead>
                            <tr>
                                <th scope="col">"Account"</th>
                                <th scope="col">"Channel"</th>
                                <th scope="col">"Created"</th>
                                <th scope="col">"By"</th>
                                <th scope="col">"Status"</th>
                                <th scope="col">"Skill"</th>
                                <th scope="col">
                                    <span class="sc-visually-hidden">"Edit"</span>
                                </th>
                            </tr>
                        </thead>
                        <tbody>{rows}</tbody>
                    </table>
                }
                    .into_any()
            }}
        </section>
        <section class="sc-home__section" aria-labelledby="sc-home-routing">
            <h2 id="sc-home-routing">"Routing"</h2>
            <p class="sc-home__hint">
                "Each channel's conversations go to one skill; agents answer the skills they hold (People, below)."
            </p>
            <ul class="sc-home__routes">{routing}</ul>
            <h3>"Skills"</h3>
            <ul class="sc-home__skills">{skill_rows}</ul>
            <form
                class="sc-home__inline"
                on:submit=move |ev| {
                    ev.prevent_default();
                    let name = new_skill.get_untracked();
                    if !name.trim().is_empty() {
                        act.run(Act::AddSkill(name));
                        new_skill.set(String::new());
                    }
                }
            >
                <label class="sc-form__field">
                    <span>"New skill"</span>
                    <input
                        type="text"
                        maxlength="60"
                        prop:value=move || new_skill.get()
                        on:input=move |ev| new_skill.set(event_target_value(&ev))
                    />
                </label>
                <button class="sc-button" type="submit" disabled=busy>
                    "Add skill"
                </button>
            </form>
        </section>
        <section class="sc-home__section" aria-labelledby="sc-home-features">
            <h2 id="sc-home-features">"Features"</h2>
            <label class="sc-home__check">
                <input
                    type="checkbox"
                    checked=send_image
                    disabled=busy
                    on:change=move |ev| {
                        let send_image = event_target_checked(&ev);
                        act.run(Act::Settings(HomeSettings { send_image, ..settings }, SEND_IMAGE))
                    }
                />
                "Send Image"
            </label>
            <p class="sc-home__hint">
                "Agents can send images and GIFs with their replies (the Social Widget's Add Image)."
            </p>
            <label class="sc-home__check">
                <input
                    type="checkbox"
                    checked=settings.reply_takes
                    disabled=busy
                    on:change=move |ev| {
                        let reply_takes = event_target_checked(&ev);
                        act.run(Act::Settings(HomeSettings { reply_takes, ..settings }, REPLY_TAKES))
                    }
                />
                "Replying takes the conversation"
            </label>
            <p class="sc-home__hint">
                "An agent who answers a conversation nobody holds takes it, so no one else answers the same person."
            </p>
        </section>
    }
}

/// What changed in the brand's SocialConnect, latest first.
#[component]
fn AuditLog(entries: Vec<AuditRow>) -> impl IntoView {
    let empty = entries.is_empty();
    let audit = entries
        .into_iter()
        .map(|e| {
            view! {
                <li class="sc-home__event">
                    <span class="sc-home__when">{e.at}</span>
                    " "
                    <strong>{e.actor}</strong>
                    " "
                    {e.action}
                    " "
                    <span class="sc-home__detail">{e.detail}</span>
                </li>
            }
        })
        .collect_view();
    view! {
        <section class="sc-home__section" aria-labelledby="sc-home-audit">
            <h2 id="sc-home-audit">"Audit log"</h2>
            {if empty {
                view! { <p class="sc-home__hint">"Nothing changed yet."</p> }.into_any()
            } else {
                view! { <ol class="sc-home__audit">{audit}</ol> }.into_any()
            }}
        </section>
    }
}

/// The stored word of a state (`token_invalid`), for a CSS modifier.
fn serde_plain(state: &shared::home::LinkState) -> String {
    serde_json::to_string(state)
        .unwrap_or_default()
        .trim_matches('"')
        .replace('_', "-")
}
