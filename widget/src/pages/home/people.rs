//! SocialConnect Home's People section: everyone of the brand account with their role,
//! skills, status and last sign-in; inviting a person, whose one-time set-password link is
//! shown for the admin to pass on; changing a role and the skills an agent answers;
//! deactivating (which ends their sessions at once) and reactivating.

use crate::api;
use gloo_net::http::Method;
use leptos::prelude::*;
use shared::ApiError;
use shared::Role;
use shared::home::{
    HomeOverview, Invite, Invited, PersonRow, PersonStatus, SET_PASSWORD_HOURS, SetPersonSkills,
    SetRole, SkillRow,
};

/// What the admin did to a person.
#[derive(Clone)]
enum Change {
    Invite(Invite),
    Role {
        person: i64,
        role: Role,
    },
    /// Deactivate (`active: false`) or reactivate.
    Access {
        person: i64,
        active: bool,
    },
    /// Exactly `skills`, or every skill (`all`: an explicit choice).
    Skills {
        person: i64,
        skills: Vec<i64>,
        all: bool,
    },
}

/// What a change has to show.
enum Done {
    Invited(Invited),
    Note(String),
    Quiet,
}

/// Sends a change and says what came of it. One request path for every change (only the
/// answer's parsing differs), which keeps the bundle small.
async fn apply(change: Change) -> Result<Done, ApiError> {
    let (method, path, body) = match &change {
        Change::Invite(invite) => (
            Method::POST,
            "/api/home/people".to_owned(),
            api::json(invite),
        ),
        Change::Role { person, role } => (
            Method::PUT,
            format!("/api/home/people/{person}/role"),
            api::json(&SetRole { role: *role }),
        ),
        Change::Access { person, active } => (
            Method::POST,
            format!(
                "/api/home/people/{person}/{}",
                if *active { "reactivate" } else { "deactivate" }
            ),
            "null".to_owned(),
        ),
        Change::Skills {
            person,
            skills,
            all,
        } => (
            Method::PUT,
            format!("/api/home/people/{person}/skills"),
            api::json(&SetPersonSkills {
                skills: skills.clone(),
                all_skills: *all,
            }),
        ),
    };
    let answer = api::fetch(method, &path, Some(body)).await?;
    if let Change::Invite(_) = change {
        return api::parse(&answer).map(Done::Invited);
    }
    let p: PersonRow = api::parse(&answer)?;
    Ok(match change {
        Change::Role { .. } => Done::Note(format!("{} is now {}.", p.name, article(p.role))),
        Change::Access { active: true, .. } => Done::Note(format!("{} is reactivated.", p.name)),
        Change::Access { active: false, .. } => Done::Note(format!(
            "{} is deactivated; their sessions have ended.",
            p.name
        )),
        _ => Done::Quiet,
    })
}

fn article(role: Role) -> &'static str {
    match role {
        Role::Admin => "an admin",
        Role::Agent => "an agent",
        Role::Support => "support",
    }
}

/// The sentence under a new person's link.
pub fn invited_sentence(invited: &Invited) -> String {
    let also = if invited.emailed {
        " It was also emailed to them."
    } else {
        ""
    };
    format!(
        "{} is invited. Pass this link on to them: it is valid {SET_PASSWORD_HOURS} hours, \
         for a single use.{also}",
        invited.person.name
    )
}

/// When a person last signed in, as the table shows it.
pub fn last_sign_in(p: &PersonRow) -> String {
    match &p.last_sign_in {
        Some(at) => format!("{at} UTC"),
        None => "Never".to_owned(),
    }
}

/// The People section. It keeps its own form, link and messages while the overview is
/// fetched again after each change.
#[component]
pub fn People(
    /// Home's overview (its people and skills); `None` until it arrives. The very signal
    /// Home reads, rather than a derived one: less code in the bundle.
    overview: ReadSignal<Option<Result<HomeOverview, ApiError>>, LocalStorage>,
    /// Bumped to fetch the overview again.
    refresh: RwSignal<u64>,
) -> impl IntoView {
    let email = RwSignal::new(String::new());
    let name = RwSignal::new(String::new());
    let role = RwSignal::new(Role::Agent.as_str().to_owned());
    // The last invitation: what to say, and the link to pass on.
    let invited = RwSignal::new(None::<String>);
    let link = RwSignal::new(None::<String>);
    let note = RwSignal::new(None::<String>);
    let error = RwSignal::new(None::<String>);
    let copied = RwSignal::new(None::<String>);
    // The control to give the focus back to once the table is drawn again.
    let refocus = StoredValue::new(None::<String>);

    let busy = RwSignal::new(false);
    // One change at a time (the controls are disabled meanwhile); a plain task rather
    // than an `Action`, for the bundle's size.
    let change = move |c: Change, control: Option<String>| {
        if busy.get_untracked() {
            return;
        }
        busy.set(true);
        refocus.set_value(control);
        leptos::task::spawn_local(async move {
            let result = apply(c).await;
            busy.set(false);
            match result {
                Ok(Done::Invited(i)) => {
                    error.set(None);
                    note.set(None);
                    email.set(String::new());
                    name.set(String::new());
                    copied.set(None);
                    invited.set(Some(invited_sentence(&i)));
                    link.set(Some(i.link));
                }
                Ok(Done::Note(msg)) => {
                    error.set(None);
                    note.set(Some(msg));
                }
                Ok(Done::Quiet) => error.set(None),
                Err(e) => {
                    note.set(None);
                    error.set(Some(e.message));
                }
            }
            // Also after a refusal: the table shows again what the server holds.
            refresh.update(|n| *n += 1);
        });
    };
    let busy = busy.read_only();

    let on_invite = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        invited.set(None);
        link.set(None);
        change(
            Change::Invite(Invite {
                email: email.get_untracked().trim().to_owned(),
                name: name.get_untracked().trim().to_owned(),
                role: role.get_untracked().parse().unwrap_or(Role::Agent),
            }),
            None,
        );
    };
    let copy = move |_| {
        let Some(text) = link.get_untracked() else {
            return;
        };
        // Browsers offer the clipboard to secure pages only (https, or this machine).
        let navigator = window().navigator();
        let clipboard = js_sys::Reflect::get(&navigator, &"clipboard".into())
            .ok()
            .filter(|c| !c.is_undefined())
            .map(|_| navigator.clipboard());
        leptos::task::spawn_local(async move {
            let written = match clipboard {
                Some(c) => wasm_bindgen_futures::JsFuture::from(c.write_text(&text))
                    .await
                    .is_ok(),
                None => false,
            };
            if written {
                copied.set(Some("Link copied.".into()));
            } else {
                // The link selected instead, for the keyboard's copy.
                if let Some(field) = document().get_element_by_id("sc-people-link") {
                    use wasm_bindgen::JsCast;
                    let field = field.unchecked_into::<web_sys::HtmlInputElement>();
                    let _ = field.focus();
                    field.select();
                }
                copied.set(Some(
                    "The link is selected: copy it with your keyboard.".into(),
                ));
            }
        });
    };

    let table = move || {
        // Drawn anew after each change: the control used gets the focus back.
        if let Some(id) = refocus.try_update_value(Option::take).flatten() {
            request_animation_frame(move || {
                if let Some(el) = document().get_element_by_id(&id) {
                    use wasm_bindgen::JsCast;
                    let _ = el.unchecked_into::<web_sys::HtmlElement>().focus();
                }
            });
        }
        overview.with(|home| {
            let home = home.as_ref()?.as_ref().ok()?;
            let rows = home
                .people
                .iter()
                .cloned()
                .map(|p| person_line(p, &home.skills, busy, change))
                .collect_view();
            Some(view! {
                <table class="sc-home__table sc-people__table">
                    <thead>
                        <tr>
                            <th scope="col">"Name"</th>
                            <th scope="col">"Email"</th>
                            <th scope="col">"Role"</th>
                            <th scope="col">"Skills"</th>
                            <th scope="col">"Status"</th>
                            <th scope="col">"Last sign-in"</th>
                            <th scope="col">
                                <span class="sc-visually-hidden">"Access"</span>
                            </th>
                        </tr>
                    </thead>
                    <tbody>{rows}</tbody>
                </table>
            })
        })
    };

    view! {
        <section class="sc-home__section sc-people" aria-labelledby="sc-home-people">
            <h2 id="sc-home-people">"People"</h2>
            {move || note.get().map(|n| view! { <p class="sc-home__note" role="status">{n}</p> })}
            {move || error.get().map(|e| view! { <p class="sc-form__error" role="alert">{e}</p> })}
            {table}
            <h3>"Invite a person"</h3>
            <form class="sc-home__inline sc-people__invite" on:submit=on_invite>
                <div class="sc-form__field">
                    <label for="sc-people-email">"Email"</label>
                    <input
                        id="sc-people-email"
                        type="email"
                        autocomplete="off"
                        required
                        bind:value=email
                    />
                </div>
                <div class="sc-form__field">
                    <label for="sc-people-name">"Name"</label>
                    <input
                        id="sc-people-name"
                        type="text"
                        autocomplete="off"
                        maxlength="100"
                        required
                        bind:value=name
                    />
                </div>
                <div class="sc-form__field">
                    <label for="sc-people-role">"Role"</label>
                    <select
                        id="sc-people-role"
                        on:change=move |ev| role.set(event_target_value(&ev))
                    >
                        <option value="agent">"Agent"</option>
                        <option value="admin">"Admin"</option>
                    </select>
                </div>
                <button class="sc-button" type="submit" disabled=busy>
                    "Invite"
                </button>
            </form>
            {move || {
                invited
                    .get()
                    .map(|sentence| {
                        view! {
                            <div class="sc-people__invited">
                                <p role="status">{sentence}</p>
                                <div class="sc-people__link">
                                    <div class="sc-form__field">
                                        <label for="sc-people-link">"Set-password link"</label>
                                        <input
                                            id="sc-people-link"
                                            type="text"
                                            readonly
                                            prop:value=move || link.get()
                                            on:focus=move |ev| {
                                                use wasm_bindgen::JsCast;
                                                if let Some(t) = ev.target() {
                                                    t.unchecked_into::<web_sys::HtmlInputElement>()
                                                        .select();
                                                }
                                            }
                                        />
                                    </div>
                                    <button class="sc-button" type="button" on:click=copy>
                                        "Copy link"
                                    </button>
                                </div>
                                <p class="sc-home__hint" role="status">{move || copied.get()}</p>
                            </div>
                        }
                    })
            }}
        </section>
    }
}

/// One person's row: what they are, and the controls that change it (`change` takes the
/// change and the id of the control to give the focus back to).
fn person_line(
    p: PersonRow,
    skills: &[SkillRow],
    busy: ReadSignal<bool>,
    change: impl Fn(Change, Option<String>) + Copy + 'static,
) -> AnyView {
    let person = p.id;
    let role_id = format!("sc-person-{person}-role");
    let access_id = format!("sc-person-{person}-access");
    let active = p.status != PersonStatus::Disabled;
    let held = p.skills.clone();
    let all = p.all_skills;
    let skills_cell = if p.role == Role::Agent {
        let boxes = skills
            .iter()
            .map(|s| {
                let skill = s.id;
                let held = held.clone();
                let id = format!("sc-person-{person}-skill-{skill}");
                let control = id.clone();
                view! {
                    <label class="sc-home__check">
                        <input
                            id=id
                            type="checkbox"
                            checked=!all && held.contains(&skill)
                            disabled=move || all || busy.get()
                            on:change=move |ev| {
                                let on = event_target_checked(&ev);
                                let mut next: Vec<i64> =
                                    held.iter().copied().filter(|h| *h != skill).collect();
                                if on {
                                    next.push(skill);
                                }
                                change(
                                    Change::Skills { person, skills: next, all: false },
                                    Some(control.clone()),
                                );
                            }
                        />
                        {s.name.clone()}
                    </label>
                }
            })
            .collect_view();
        let all_id = format!("sc-person-{person}-all");
        let all_control = all_id.clone();
        let kept = held.clone();
        view! {
            <div role="group" aria-label=format!("Skills of {}", p.name)>
                <label class="sc-home__check sc-people__all">
                    <input
                        id=all_id
                        type="checkbox"
                        aria-label=format!("All skills for {}", p.name)
                        checked=all
                        disabled=busy
                        on:change=move |ev| {
                            change(
                                Change::Skills {
                                    person,
                                    skills: kept.clone(),
                                    all: event_target_checked(&ev),
                                },
                                Some(all_control.clone()),
                            );
                        }
                    />
                    "All skills"
                </label>
                {boxes}
                {(!all && held.is_empty())
                    .then(|| {
                        view! {
                            <p class="sc-home__hint">
                                "No skills: sees no conversations until given some."
                            </p>
                        }
                    })}
            </div>
        }
        .into_any()
    } else {
        let names: Vec<String> = skills
            .iter()
            .filter(|s| held.contains(&s.id))
            .map(|s| s.name.clone())
            .collect();
        if names.is_empty() {
            "—".into_any()
        } else {
            names.join(", ").into_any()
        }
    };
    let name_id = format!("sc-person-{person}-name");
    let name_ref = name_id.clone();
    let role_control = role_id.clone();
    let access_control = access_id.clone();
    view! {
        <tr>
            <td data-label="Name" class="sc-home__name" id=name_id>
                {p.name.clone()}
            </td>
            <td data-label="Email" class="sc-people__email">{p.email.clone()}</td>
            <td data-label="Role">
                <select
                    id=role_id
                    aria-label=format!("Role for {}", p.name)
                    disabled=busy
                    on:change=move |ev| {
                        if let Ok(role) = event_target_value(&ev).parse::<Role>() {
                            change(Change::Role { person, role }, Some(role_control.clone()));
                        }
                    }
                >
                    <option value="agent" selected=p.role == Role::Agent>"Agent"</option>
                    <option value="admin" selected=p.role == Role::Admin>"Admin"</option>
                </select>
            </td>
            <td data-label="Skills">{skills_cell}</td>
            <td data-label="Status">
                <span class=format!(
                    "sc-status sc-status--{}",
                    p.status.as_str(),
                )>{p.status.label()}</span>
            </td>
            <td data-label="Last sign-in">{last_sign_in(&p)}</td>
            <td class="sc-home__edit">
                <button
                    id=access_id
                    aria-describedby=name_ref
                    class=if active { "sc-button sc-button--danger" } else { "sc-button" }
                    disabled=busy
                    on:click=move |_| {
                        change(Change::Access { person, active: !active }, Some(access_control.clone()))
                    }
                >
                    {if active { "Deactivate" } else { "Reactivate" }}
                </button>
            </td>
        </tr>
    }
    .into_any()
}
