//! Navigation inside one bundle of the SPA (`shared::bundles`): the address as a signal,
//! links that change it without a page load, the browser's Back and Forward, and the
//! other bundle's pages loaded in full. A bundle has a handful of pages, each known by its
//! path, so this is all the router it needs (a general router cost more transfer size
//! than all the pages it served).

use leptos::prelude::*;
use shared::bundles::{Bundle, bundle_for};
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;

/// The current address, within this document.
#[derive(Clone, Debug, PartialEq)]
struct Address {
    path: String,
    /// With its `?`, or empty.
    search: String,
}

impl Address {
    fn current() -> Self {
        let l = window().location();
        Address {
            path: l.pathname().unwrap_or_default(),
            search: l.search().unwrap_or_default(),
        }
    }
}

/// What [`provide`] gives the app and [`use_nav`] its pages.
#[derive(Clone, Copy)]
pub struct Nav {
    here: Bundle,
    address: RwSignal<Address>,
    /// The path alone: what picks the page, so a new query does not rebuild it.
    pub path: Memo<String>,
}

/// Starts navigation for the bundle `here`: follows the browser's history and takes over
/// clicks on links to this bundle's pages.
pub fn provide(here: Bundle) -> Nav {
    let address = RwSignal::new(Address::current());
    let path = Memo::new(move |_| address.with(|a| a.path.clone()));
    let nav = Nav {
        here,
        address,
        path,
    };
    provide_context(nav);
    let on_pop = Closure::<dyn FnMut()>::new(move || address.set(Address::current()));
    window().set_onpopstate(Some(on_pop.as_ref().unchecked_ref()));
    let on_click =
        Closure::<dyn FnMut(web_sys::MouseEvent)>::new(move |ev: web_sys::MouseEvent| {
            if let Some(to) = followed_link(&ev) {
                ev.prevent_default();
                nav.push(&to);
            }
        });
    let _ = document().add_event_listener_with_callback("click", on_click.as_ref().unchecked_ref());
    // Both live as long as the page: one app per document.
    on_pop.forget();
    on_click.forget();
    nav
}

pub fn use_nav() -> Nav {
    expect_context()
}

/// The address (path, query, fragment) a click on a link should take in this document, or
/// `None` when the browser should handle the click: modifier keys or another button (a new
/// tab or window), a link with a target, a download or `rel="external"`, another origin,
/// or only a fragment on this page.
fn followed_link(ev: &web_sys::MouseEvent) -> Option<String> {
    if ev.default_prevented()
        || ev.button() != 0
        || ev.meta_key()
        || ev.ctrl_key()
        || ev.shift_key()
        || ev.alt_key()
    {
        return None;
    }
    let link = ev
        .target()?
        .dyn_into::<web_sys::Element>()
        .ok()?
        .closest("a[href]")
        .ok()??;
    let external = link
        .get_attribute("rel")
        .is_some_and(|rel| rel.split_ascii_whitespace().any(|r| r == "external"));
    let targeted = link
        .get_attribute("target")
        .is_some_and(|t| !t.is_empty() && t != "_self");
    if external || targeted || link.has_attribute("download") {
        return None;
    }
    let location = window().location();
    let url =
        web_sys::Url::new_with_base(&link.get_attribute("href")?, &location.href().ok()?).ok()?;
    if url.origin() != location.origin().ok()? {
        return None;
    }
    let here = Address::current();
    if url.pathname() == here.path && url.search() == here.search && !url.hash().is_empty() {
        return None;
    }
    Some(in_site(&url))
}

/// The part of `url` that names a place on this site: path, query and fragment.
fn in_site(url: &web_sys::Url) -> String {
    format!("{}{}{}", url.pathname(), url.search(), url.hash())
}

impl Nav {
    /// The sign-in page's address that comes back here (path and query) afterwards: a
    /// page opened by its address, in LiveEngage's frame too, is where the person lands.
    pub fn sign_in_and_back(self) -> String {
        let here = self
            .address
            .with_untracked(|a| format!("{}{}", a.path, a.search));
        format!(
            "{}?next={}",
            crate::SIGN_IN_PATH,
            shared::onboarding::encode_component(&here)
        )
    }

    /// The query parameter `key` of the current address (tracked).
    pub fn query(self, key: &str) -> Option<String> {
        self.address.with(|a| query_param(&a.search, key))
    }

    /// The same, without tracking.
    pub fn query_untracked(self, key: &str) -> Option<String> {
        self.address.with_untracked(|a| query_param(&a.search, key))
    }

    /// Goes to `to` (an address on this site), adding it to the history.
    pub fn push(self, to: &str) {
        self.go(to, false);
    }

    /// Goes to `to` in place of the current address (Back skips it).
    pub fn replace(self, to: &str) {
        self.go(to, true);
    }

    fn go(self, to: &str, replace: bool) {
        let location = window().location();
        let Some(url) = location
            .href()
            .ok()
            .and_then(|base| web_sys::Url::new_with_base(to, &base).ok())
        else {
            return;
        };
        let target = in_site(&url);
        let same_origin = location.origin().ok().as_deref() == Some(url.origin().as_str());
        if !same_origin || bundle_for(&url.pathname()) != self.here {
            // The other bundle's page (or another site): a page load.
            let _ = if replace {
                location.replace(&url.href())
            } else {
                location.assign(&url.href())
            };
            return;
        }
        if let Ok(history) = window().history() {
            let _ = if replace {
                history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&target))
            } else {
                history.push_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&target))
            };
        }
        self.address.set(Address::current());
        window().scroll_to_with_x_and_y(0.0, 0.0);
    }

    /// A page only some may see: `page` when `allowed`, nothing while that is not known
    /// yet, and otherwise a redirect to `elsewhere`.
    pub fn protect(
        self,
        allowed: Option<bool>,
        elsewhere: String,
        page: impl FnOnce() -> AnyView,
    ) -> AnyView {
        match allowed {
            Some(true) => page(),
            Some(false) => {
                // Not from inside the view being built: once it is done.
                leptos::task::spawn_local(async move { self.replace(&elsewhere) });
                ().into_any()
            }
            None => ().into_any(),
        }
    }
}

fn query_param(search: &str, key: &str) -> Option<String> {
    web_sys::UrlSearchParams::new_with_str(search)
        .ok()?
        .get(key)
}

/// A link in a navigation bar: marked `aria-current="page"` while its page is shown.
#[component]
pub fn NavLink(href: &'static str, children: Children) -> impl IntoView {
    let nav = use_nav();
    view! {
        <a href=href aria-current=move || (nav.path.get() == href).then_some("page")>
            {children()}
        </a>
    }
}
