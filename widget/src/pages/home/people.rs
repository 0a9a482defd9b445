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
    Invite, Invited, PersonRow, PersonStatus, SET_PASSWORD_HOURS, SetPersonSkills, SetRole,
    SkillRow,
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
    Skills {
        person: i64,
        skills: Vec<i64>,
    },
}

/// What a change has to show.
#[derive(Clone)]
enum Done {
    Invited(Invited),
    Note(String),
    Quiet,
}

async fn apply(change: Change) -> Result<Done, ApiError> {
    match change {
        Change::Invite(invite) => api::send(Method::POST, "/api/home/people", &invite)
            .await
            .map(Done::Invited),
        Change::Role { person, role } => {
            let p: PersonRow = api::send(
                Method::PUT,
                &format!("/api/home/people/{person}/role"),
                &SetRole { role },
            )
            .await?;
            Ok(Done::Note(format!(
                "{} is now {}.",
                p.name,
                article(p.role)
            )))
        }
        Change::Access { person, active } => {
            let verb = if active { "reactivate" } else { "deactivate" };
            let p: PersonRow = api::send(
                Method::POST,
                &format!("/api/home/people/{person}/{verb}"),
                &(),
            )
            .await?;
            Ok(Done::Note(if active {
                format!("{} is reactivated.", p.name)
            } else {
                format!("{} is deactivated; their sessions have ended.", p.name)
            }))
        }
        Change::Skills { person, skills } => {
            let _: PersonRow = api::send(
                Method::PUT,
                &format!("/api/home/people/{person}/skills"),
                &SetPersonSkills { skills },
            )
            .await?;
            Ok(Done::Quiet)
        }
    }
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
    /// The brand's people and skills from the overview; `None` until it arrives.
    #[prop(into)]
    overview: Signal<Option<(Vec<PersonRow>, Vec<SkillRow>)>>,
    /// Bumped to fetch the overview again.
    refresh: RwSignal<u64>,
) -> impl IntoView {
    let email = RwSignal::new(String::new());
    let name = RwSignal::new(String::new());
    let role = RwSignal::new(Role::Agent);
    let invited = RwSignal::new(None::<Invited>);
    let note = RwSignal::new(None::<String>);
    let error = RwSignal::new(None::<String>);
    let copied = RwSignal::new(None::<&'static str>);
    // The control to give the focus back to once the table is drawn again.
    let refocus = StoredValue::new(None::<String>);

    let action = Action::new_local(|change: &Change| {
        let change = change.clone();
        async move { apply(change).await }
    });
    Effect::new(move |_| {
        let Some(result) = action.value().get() else {
            return;
        };
        match result {
            Ok(Done::Invited(i)) => {
                error.set(None);
                note.set(None);
                email.set(String::new());
                name.set(String::new());
                copied.set(None);
                invited.set(Some(i));
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
    Effect::new(move |_| {
        overview.track();
        if let Some(id) = refocus.try_update_value(Option::take).flatten() {
            request_animation_frame(move || {
                if let Some(el) = document().get_element_by_id(&id) {
                    use wasm_bindgen::JsCast;
                    let _ = el.unchecked_into::<web_sys::HtmlElement>().focus();
                }
            });
        }
    });
    let busy = Signal::derive(move || action.pending().get());
    let change = move |c: Change, control: String| {
        refocus.set_value(Some(control));
        action.dispatch(c);
    };

    let on_invite = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        invited.set(None);
        action.dispatch(Change::Invite(Invite {
            email: email.get_untracked().trim().to_owned(),
            name: name.get_untracked().trim().to_owned(),
            role: role.get_untracked(),
        }));
    };
    let copy = move |_| {
        let Some(link) = invited.get_untracked().map(|i| i.link) else {
            return;
        };
        let clipboard = window().navigator().clipboard();
        leptos::task::spawn_local(async move {
            let written = wasm_bindgen_futures::JsFuture::from(clipboard.write_text(&link)).await;
            if written.is_ok() {
                copied.set(Some("Link copied."));
            } else {
                // No clipboard for this page: the link selected, for the keyboard's copy.
                if let Some(field) = document().get_element_by_id("sc-people-link") {
                    use wasm_bindgen::JsCast;
                    let field = field.unchecked_into::<web_sys::HtmlInputElement>();
                    let _ = field.focus();
                    field.select();
                }
                copied.set(Some("The link is selected: copy it with your keyboard."));
            }
        });
    };

    let table = move || {
        overview.get().map(|(people, skills)| {
            let rows = people
                .into_iter()
                .map(|p| view! { <PersonLine p skills=skills.clone() busy change /> })
                .collect_view();
            view! {
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
            }
        })
    };

    view! {
        <section class="sc-home__section sc-people" aria-labelledby="sc-home-people">
            <h2 id="sc-home-people">"People"</h2>
            <Show when=move || note.get().is_some()>
                <p class="sc-home__note" role="status">{move || note.get()}</p>
            </Show>
            <Show when=move || error.get().is_some()>
                <p class="sc-form__error" role="alert">{move || error.get()}</p>
            </Show>
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
                        prop:value=move || role.get().as_str()
                        on:change=move |ev| {
                            if let Ok(r) = event_target_value(&ev).parse() {
                                role.set(r);
                            }
                        }
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
                    .map(|i| {
                        view! {
                            <div class="sc-people__invited">
                                <p role="status">{invited_sentence(&i)}</p>
                                <div class="sc-people__link">
                                    <div class="sc-form__field">
                                        <label for="sc-people-link">"Set-password link"</label>
                                        <input
                                            id="sc-people-link"
                                            type="text"
                                            readonly
                                            prop:value=i.link.clone()
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

/// One person's row: what they are, and the controls that change it.
#[component]
fn PersonLine(
    p: PersonRow,
    skills: Vec<SkillRow>,
    busy: Signal<bool>,
    change: impl Fn(Change, String) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let person = p.id;
    let role_id = format!("sc-person-{person}-role");
    let access_id = format!("sc-person-{person}-access");
    let active = p.status != PersonStatus::Disabled;
    let held = p.skills.clone();
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
                            checked=held.contains(&skill)
                            disabled=busy
                            on:change=move |ev| {
                                let on = event_target_checked(&ev);
                                let mut next: Vec<i64> =
                                    held.iter().copied().filter(|h| *h != skill).collect();
                                if on {
                                    next.push(skill);
                                }
                                change(Change::Skills { person, skills: next }, control.clone());
                            }
                        />
                        {s.name.clone()}
                    </label>
                }
            })
            .collect_view();
        view! {
            <div role="group" aria-label=format!("Skills of {}", p.name)>
                {boxes}
                <Show when={
                    let none = held.is_empty();
                    move || none
                }>
                    <p class="sc-home__hint">"No skills held: answers every skill."</p>
                </Show>
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
                            change(Change::Role { person, role }, role_control.clone());
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
                        change(Change::Access { person, active: !active }, access_control.clone())
                    }
                >
                    {if active { "Deactivate" } else { "Reactivate" }}
                </button>
            </td>
        </tr>
    }
}
