//! SocialConnect Home's automation settings: per linked page or account, automation on or
//! off, the bot (built-in or external) and its settings, the satisfaction survey, and the
//! external bot's credentials (shown once, when made).

use gloo_net::http::Method;
use leptos::prelude::*;
use shared::ApiError;
use shared::automation::{
    AutomationAccount, AutomationSettings as Settings, BotCredentials, BotKind, hours_text,
    parse_hours, parse_rules, rules_text,
};

/// Every linked page or account of the brand with its automation settings: pick one,
/// change its form, save. Admins only (the server refuses anyone else).
#[component]
pub fn AutomationSettings() -> impl IntoView {
    let accounts = crate::state::load(|| async {
        crate::api::get::<Vec<AutomationAccount>>("/api/automation").await
    });
    // What is stored, kept current by saves without re-rendering the open form.
    let list = RwSignal::new(Vec::<AutomationAccount>::new());
    let selected = RwSignal::new(None::<i64>);
    let failed = RwSignal::new(None::<String>);
    Effect::new(move |_| match accounts.get() {
        Some(Ok(l)) => {
            let first = l.first().map(|a| a.linked_account_id);
            list.set(l);
            selected.set(first);
        }
        Some(Err(e)) => failed.set(Some(e.message)),
        None => {}
    });
    let on_saved = Callback::new(move |saved: AutomationAccount| {
        list.update_untracked(|l| {
            if let Some(a) = l
                .iter_mut()
                .find(|a| a.linked_account_id == saved.linked_account_id)
            {
                *a = saved;
            }
        });
    });
    let form = move || {
        let id = selected.get()?;
        let account =
            list.with_untracked(|l| l.iter().find(|a| a.linked_account_id == id).cloned())?;
        Some(view! { <AccountAutomation account on_saved /> })
    };
    view! {
        <section class="sc-automation" aria-labelledby="sc-automation-title">
            <h2 id="sc-automation-title">"Automation"</h2>
            <p class="sc-automation__lead">
                "A bot can answer private conversations (Messenger, Direct Messages) and hand them "
                "to people. Public posts, comments and tweets are never answered by a bot."
            </p>
            {move || failed.get().map(|m| view! { <p class="sc-automation__error" role="alert">{m}</p> })}
            <Show when=move || accounts.get().is_some_and(|r| r.is_ok_and(|l| l.is_empty()))>
                <p class="sc-automation__empty">"Link a Facebook page or Twitter/X account first."</p>
            </Show>
            <Show when=move || list.with(|l| !l.is_empty())>
                <label class="sc-automation__field">
                    <span>"Linked account"</span>
                    <select
                        prop:value=move || selected.get().map(|id| id.to_string()).unwrap_or_default()
                        on:change=move |ev| selected.set(event_target_value(&ev).parse().ok())
                    >
                        {move || {
                            list.get()
                                .into_iter()
                                .map(|a| {
                                    view! {
                                        <option value=a.linked_account_id.to_string()>
                                            {format!("{} ({})", a.name, a.channel.label())}
                                        </option>
                                    }
                                })
                                .collect_view()
                        }}
                    </select>
                </label>
            </Show>
            {form}
        </section>
    }
}

/// The form of one linked page or account.
#[component]
fn AccountAutomation(
    /// The linked page or account and its settings as stored.
    account: AutomationAccount,
    /// Told what the server stored after each save.
    on_saved: Callback<AutomationAccount>,
) -> impl IntoView {
    let id = account.linked_account_id;
    let name = format!("{} ({})", account.name, account.channel.label());
    let s = RwSignal::new(account.settings.clone());
    let hours = RwSignal::new(hours_text(&account.settings.hours));
    let rules = RwSignal::new(rules_text(&account.settings.rules));
    let has_credentials = RwSignal::new(account.has_credentials);
    let note = RwSignal::new(None::<Result<String, String>>);
    let shown = RwSignal::new(None::<BotCredentials>);

    let save = Action::new_local(move |settings: &Settings| {
        let settings = settings.clone();
        async move {
            crate::api::send::<_, AutomationAccount>(
                Method::PUT,
                &format!("/api/automation/{id}"),
                &settings,
            )
            .await
        }
    });
    Effect::new(move |_| {
        if let Some(result) = save.value().get() {
            note.set(Some(match result {
                Ok(saved) => {
                    has_credentials.set(saved.has_credentials);
                    on_saved.run(saved);
                    Ok("Saved.".into())
                }
                Err(ApiError { message, .. }) => Err(message),
            }));
        }
    });
    let make_credentials = Action::new_local(move |_: &()| async move {
        crate::api::send::<_, BotCredentials>(
            Method::POST,
            &format!("/api/automation/{id}/credentials"),
            &(),
        )
        .await
    });
    Effect::new(move |_| {
        if let Some(result) = make_credentials.value().get() {
            match result {
                Ok(c) => {
                    has_credentials.set(true);
                    shown.set(Some(c));
                }
                Err(e) => note.set(Some(Err(e.message))),
            }
        }
    });
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let parsed = parse_hours(&hours.get_untracked())
            .and_then(|h| parse_rules(&rules.get_untracked()).map(|r| (h, r)));
        match parsed {
            Ok((h, r)) => {
                let mut settings = s.get_untracked();
                settings.hours = h;
                settings.rules = r;
                note.set(None);
                save.dispatch(settings);
            }
            Err(e) => note.set(Some(Err(e))),
        }
    };

    // One text field bound to one settings field.
    let text =
        move |label: &'static str, get: fn(&Settings) -> String, set: fn(&mut Settings, String)| {
            view! {
                <label class="sc-automation__field">
                    <span>{label}</span>
                    <input
                        type="text"
                        prop:value=move || s.with(get)
                        on:input=move |ev| s.update(|x| set(x, event_target_value(&ev)))
                    />
                </label>
            }
        };
    let area =
        move |label: &'static str, get: fn(&Settings) -> String, set: fn(&mut Settings, String)| {
            view! {
                <label class="sc-automation__field">
                    <span>{label}</span>
                    <textarea
                        rows="2"
                        prop:value=move || s.with(get)
                        on:input=move |ev| s.update(|x| set(x, event_target_value(&ev)))
                    ></textarea>
                </label>
            }
        };
    let external = move || s.with(|x| x.bot == BotKind::External);
    let heading = name.clone();
    view! {
        <form class="sc-automation__account" on:submit=on_submit aria-label=format!("Automation for {name}")>
            <h3 class="sc-automation__name">{heading}</h3>
            <label class="sc-automation__switch">
                <input
                    type="checkbox"
                    prop:checked=move || s.with(|x| x.enabled)
                    on:change=move |ev| s.update(|x| x.enabled = event_target_checked(&ev))
                />
                <span>"Automation on"</span>
            </label>
            <label class="sc-automation__field">
                <span>"Bot"</span>
                <select
                    prop:value=move || if external() { "external" } else { "builtin" }
                    on:change=move |ev| {
                        let kind = if event_target_value(&ev) == "external" {
                            BotKind::External
                        } else {
                            BotKind::Builtin
                        };
                        s.update(|x| x.bot = kind)
                    }
                >
                    <option value="builtin">"Built-in bot"</option>
                    <option value="external">"External bot"</option>
                </select>
            </label>
            <Show
                when=external
                fallback=move || {
                    view! {
                        <fieldset class="sc-automation__group">
                            <legend>"Built-in bot"</legend>
                            {area("Greeting", |x| x.greeting.clone(), |x, v| x.greeting = v)}
                            {area("Away message", |x| x.away_message.clone(), |x, v| x.away_message = v)}
                            {text("Time zone", |x| x.time_zone.clone(), |x, v| x.time_zone = v)}
                            <label class="sc-automation__field">
                                <span>"Opening hours (one a line: mon 09:00 17:00)"</span>
                                <textarea
                                    rows="3"
                                    prop:value=move || hours.get()
                                    on:input=move |ev| hours.set(event_target_value(&ev))
                                ></textarea>
                            </label>
                            <label class="sc-automation__field">
                                <span>"Keyword rules (one a line: order, delivery => answer)"</span>
                                <textarea
                                    rows="4"
                                    prop:value=move || rules.get()
                                    on:input=move |ev| rules.set(event_target_value(&ev))
                                ></textarea>
                            </label>
                            {text("Hand-over phrase", |x| x.handover_phrase.clone(), |x, v| x.handover_phrase = v)}
                            {area("Hand-over message", |x| x.handover_message.clone(), |x, v| x.handover_message = v)}
                        </fieldset>
                    }
                }
            >
                <fieldset class="sc-automation__group">
                    <legend>"External bot"</legend>
                    {text("Bot URL", |x| x.external_url.clone(), |x, v| x.external_url = v)}
                    <p class="sc-automation__hint">
                        {move || if has_credentials.get() {
                            "The bot has a signing secret and token."
                        } else {
                            "Make the bot's signing secret and token before switching it on."
                        }}
                    </p>
                    <button
                        type="button"
                        class="sc-button"
                        on:click=move |_| {
                            make_credentials.dispatch(());
                        }
                    >
                        "Make new bot credentials"
                    </button>
                    {move || shown.get().map(|c| view! {
                        <div class="sc-automation__secret" role="status">
                            <p>"Copy these now; they are not shown again."</p>
                            <p>"Signing secret: " <code>{c.secret}</code></p>
                            <p>"API token: " <code>{c.token}</code></p>
                        </div>
                    })}
                </fieldset>
            </Show>
            <fieldset class="sc-automation__group">
                <legend>"Satisfaction survey"</legend>
                <label class="sc-automation__switch">
                    <input
                        type="checkbox"
                        prop:checked=move || s.with(|x| x.survey)
                        on:change=move |ev| s.update(|x| x.survey = event_target_checked(&ev))
                    />
                    <span>"Ask for 1–5 when a private conversation closes"</span>
                </label>
                {area("Survey question", |x| x.survey_question.clone(), |x, v| x.survey_question = v)}
                {area("Survey thanks", |x| x.survey_thanks.clone(), |x, v| x.survey_thanks = v)}
            </fieldset>
            <div class="sc-automation__actions">
                <button type="submit" class="sc-button">"Save"</button>
                {move || note.get().map(|n| match n {
                    Ok(m) => view! { <span class="sc-automation__ok" role="status">{m}</span> }.into_any(),
                    Err(m) => view! { <span class="sc-automation__error" role="alert">{m}</span> }.into_any(),
                })}
            </div>
        </form>
    }
}
