//! The SPA ships as two bundles so that no one downloads the other's pages: the agent's
//! (start page, sign-in, workspace, Social Widget) and the admin's (SocialConnect Home,
//! the marketing and Thank You pages, support's sign-up requests). The server answers a
//! page's path with its bundle's `index.html`, and each bundle hands a path that belongs to
//! the other to the browser as a full page load; both ask this one function.

/// One of the SPA's bundles.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bundle {
    /// Start page, sign-in, workspace, Social Widget, and any unknown path (its "page not
    /// found").
    Agent,
    /// SocialConnect Home, onboarding's pages and support's pages.
    Admin,
}

/// The admin bundle's directory inside the built widget (`dist/admin/`).
pub const ADMIN_DIR: &str = "admin";

/// Where the admin bundle's files are served: its directory, as a URL path.
pub const ADMIN_ASSETS: &str = "/admin/";

/// The first path segments the admin bundle's pages live under (the set-password page
/// too: visited once per person, it need not weigh on the agent's bundle).
const ADMIN_SECTIONS: [&str; 4] = ["home", "socialconnect", "support", "set-password"];

/// The bundle that shows `path` (a URL path, without query or fragment).
pub fn bundle_for(path: &str) -> Bundle {
    let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
    if ADMIN_SECTIONS.contains(&first) {
        Bundle::Admin
    } else {
        Bundle::Agent
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onboarding::{MARKETING_PATH, SUPPORT_PATH, THANK_YOU_PATH};

    #[test]
    fn admin_pages_are_the_admin_bundles_and_everything_else_the_agents() {
        for path in [
            "/home",
            "/home/",
            MARKETING_PATH,
            THANK_YOU_PATH,
            SUPPORT_PATH,
            crate::api::SET_PASSWORD_PATH,
        ] {
            assert_eq!(bundle_for(path), Bundle::Admin, "{path}");
        }
        for path in [
            "/",
            "",
            "/login",
            "/workspace",
            "/widget",
            "/homepage",
            "/nowhere",
        ] {
            assert_eq!(bundle_for(path), Bundle::Agent, "{path}");
        }
    }

    #[test]
    fn the_admin_assets_are_served_from_its_directory() {
        assert_eq!(ADMIN_ASSETS, format!("/{ADMIN_DIR}/"));
    }

    #[test]
    fn a_section_matches_whole_segments_only() {
        assert_eq!(bundle_for("/socialconnectx"), Bundle::Agent);
        assert_eq!(bundle_for("/supporters"), Bundle::Agent);
        assert_eq!(bundle_for("/support/anything"), Bundle::Admin);
    }
}
