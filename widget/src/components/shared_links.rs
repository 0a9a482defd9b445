//! Links a consumer shared with a line (Messenger's `fallback` attachments): shown as
//! links, never fetched by the server nor previewed here.
//!
//! Each shows its title and the host a browser would open, so the agent sees where it
//! leads before clicking; it opens in a new tab with no referrer, no opener and no
//! endorsement (`rel="noopener noreferrer nofollow"`). Only http(s) URLs become links;
//! anything else is shown as text.

use leptos::prelude::*;
use shared::inbound::SharedLink;

/// The links of one line.
#[component]
pub fn SharedLinks(
    /// The line's shared links, as the transcript gives them.
    links: Vec<SharedLink>,
) -> impl IntoView {
    links
        .into_iter()
        .map(|link| {
            let title = link.title.clone().filter(|t| !t.trim().is_empty());
            match link.web_host() {
                Some(host) => view! {
                    <a
                        class="sc-line__link"
                        href=link.url.clone()
                        target="_blank"
                        rel="noopener noreferrer nofollow"
                    >
                        <span class="sc-line__link-title">
                            {title.unwrap_or_else(|| link.url.clone())}
                        </span>
                        <span class="sc-line__link-host">{host}</span>
                    </a>
                }
                .into_any(),
                None => view! {
                    <p class="sc-line__link sc-line__link--text">
                        {match title {
                            Some(t) => format!("{t}: {}", link.url),
                            None => link.url.clone(),
                        }}
                    </p>
                }
                .into_any(),
            }
        })
        .collect_view()
}
