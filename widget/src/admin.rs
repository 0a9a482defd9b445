//! Mounts the admin's bundle of the SocialConnect SPA (`admin.html`).

fn main() {
    #[cfg(debug_assertions)]
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(widget::AdminApp);
}
