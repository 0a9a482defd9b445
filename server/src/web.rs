//! Serving the built widget: hashed assets cached for a year, everything else revalidated,
//! and any other path answered with the `index.html` of the bundle that shows it
//! (`shared::bundles`: the agent's in the widget directory, the admin's in its `admin/`),
//! so that bundle's router takes over. Every answer carries the SPA's
//! Content-Security-Policy (no inline script: the bundles' loaders are files, see
//! `xtask`'s `externalize_loader`) and refuses to be framed by other sites.

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Request, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use shared::bundles::{ADMIN_DIR, Bundle, bundle_for};
use std::path::Path;
use tower::ServiceExt;
use tower_http::services::{ServeDir, ServeFile};

pub fn router(widget_dir: &Path) -> Router {
    let index = widget_dir.join("index.html");
    if !index.is_file() {
        tracing::warn!(
            dir = %widget_dir.display(),
            "the widget is not built here; run `cargo xtask demo` or `trunk build`"
        );
        return Router::new().fallback(not_built);
    }
    let admin = widget_dir.join(ADMIN_DIR).join("index.html");
    if !admin.is_file() {
        tracing::warn!(
            dir = %widget_dir.display(),
            "the admin bundle is not built here (admin/index.html); SocialConnect Home and \
             onboarding's pages will answer 404"
        );
    }
    let (agent, admin) = (ServeFile::new(index), ServeFile::new(admin));
    let page = tower::service_fn(move |req: Request<Body>| {
        let file = match bundle_for(req.uri().path()) {
            Bundle::Agent => agent.clone(),
            Bundle::Admin => admin.clone(),
        };
        file.oneshot(req)
    });
    let serve = ServeDir::new(widget_dir).fallback(page);
    Router::new()
        .fallback_service(serve)
        .layer(middleware::from_fn(headers))
}

/// The SPA's policy: scripts only from this origin (WebAssembly compiled from them), no
/// inline script or style, no plugins, and framed only by this origin's own pages.
/// Pictures and videos may come from other hosts (profile images and media not yet
/// copied, an image address an agent previews before sending it): they run no code.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; \
     script-src 'self' 'wasm-unsafe-eval'; \
     style-src 'self'; \
     img-src 'self' https: http: data: blob:; \
     media-src 'self' https: http: blob:; \
     connect-src 'self'; \
     object-src 'none'; \
     base-uri 'self'; \
     form-action 'self'; \
     frame-ancestors 'self'";

async fn not_built() -> impl IntoResponse {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Html(
            "<!doctype html><title>SocialConnect</title><p>The widget is not built. Run \
             <code>cargo xtask demo</code>, or <code>trunk build</code> and point \
             <code>SOCIALCONNECT_WIDGET_DIR</code> at its output.</p>",
        ),
    )
}

/// Trunk names built assets `name-<16+ hex digits>.ext` (and `_bg.wasm`): their content
/// never changes under that name.
pub fn is_hashed_asset(path: &str) -> bool {
    let file = path.rsplit('/').next().unwrap_or(path);
    let stem = file.split('.').next().unwrap_or(file);
    let stem = stem.strip_suffix("_bg").unwrap_or(stem);
    stem.rsplit_once('-')
        .is_some_and(|(_, hash)| hash.len() >= 16 && hash.chars().all(|c| c.is_ascii_hexdigit()))
}

async fn headers(req: Request<Body>, next: Next) -> Response {
    let hashed = is_hashed_asset(req.uri().path());
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    // For browsers that predate `frame-ancestors`.
    h.insert(
        header::X_FRAME_OPTIONS,
        HeaderValue::from_static("SAMEORIGIN"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if res.status().is_success() {
        let value = if hashed {
            "public, max-age=31536000, immutable"
        } else {
            "no-cache"
        };
        res.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static(value));
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn page(app: &Router, path: &str) -> (StatusCode, String) {
        let res = app
            .clone()
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = res.status();
        let body = axum::body::to_bytes(res.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn each_page_gets_its_bundle_and_assets_are_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("admin")).unwrap();
        std::fs::write(dir.path().join("index.html"), "agent").unwrap();
        std::fs::write(dir.path().join("widget-0123456789abcdef.js"), "agent js").unwrap();
        std::fs::write(dir.path().join("admin/index.html"), "admin").unwrap();
        std::fs::write(
            dir.path().join("admin/admin-0123456789abcdef.js"),
            "admin js",
        )
        .unwrap();
        let app = router(dir.path());
        let pages: [(&str, &[&str]); 2] = [
            (
                "agent",
                &[
                    "/",
                    "/login",
                    "/workspace",
                    "/widget?conversation=3",
                    "/nowhere",
                ],
            ),
            (
                "admin",
                &[
                    "/home",
                    "/socialconnect",
                    "/socialconnect/thank-you",
                    "/support/sign-ups",
                ],
            ),
        ];
        for (bundle, paths) in pages {
            for path in paths {
                assert_eq!(
                    page(&app, path).await,
                    (StatusCode::OK, bundle.into()),
                    "{path}"
                );
            }
        }
        assert_eq!(
            page(&app, "/widget-0123456789abcdef.js").await.1,
            "agent js"
        );
        assert_eq!(
            page(&app, "/admin/admin-0123456789abcdef.js").await.1,
            "admin js"
        );
    }

    #[tokio::test]
    async fn without_the_admin_bundle_its_pages_are_not_found_and_the_agents_still_work() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("index.html"), "agent").unwrap();
        let app = router(dir.path());
        assert_eq!(page(&app, "/home").await.0, StatusCode::NOT_FOUND);
        assert_eq!(
            page(&app, "/workspace").await,
            (StatusCode::OK, "agent".into())
        );
    }

    #[tokio::test]
    async fn pages_and_assets_carry_the_policy_and_refuse_other_sites_frames() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("index.html"), "agent").unwrap();
        std::fs::write(dir.path().join("loader-0123456789abcdef.js"), "js").unwrap();
        let app = router(dir.path());
        for path in ["/", "/workspace", "/loader-0123456789abcdef.js", "/nowhere"] {
            let res = app
                .clone()
                .oneshot(Request::get(path).body(Body::empty()).unwrap())
                .await
                .unwrap();
            let h = res.headers();
            let csp = h[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
            let directive = |name: &str| {
                csp.split(';')
                    .map(str::trim)
                    .find(|d| d.starts_with(name))
                    .unwrap_or_default()
                    .to_owned()
            };
            assert_eq!(
                directive("script-src"),
                "script-src 'self' 'wasm-unsafe-eval'",
                "{path}"
            );
            assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
            assert_eq!(directive("frame-ancestors"), "frame-ancestors 'self'");
            assert_eq!(directive("object-src"), "object-src 'none'");
            assert_eq!(h[header::X_FRAME_OPTIONS], "SAMEORIGIN", "{path}");
            assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff", "{path}");
        }
    }

    #[test]
    fn recognises_trunk_hashed_names() {
        assert!(is_hashed_asset("/widget-6d7a0c1f2e3b4a59.js"));
        assert!(is_hashed_asset("/widget-6d7a0c1f2e3b4a59_bg.wasm"));
        assert!(is_hashed_asset("/style-0123456789abcdef01.css"));
        assert!(!is_hashed_asset("/index.html"));
        assert!(!is_hashed_asset("/workspace"));
        assert!(!is_hashed_asset("/socialconnect-home"));
        assert!(!is_hashed_asset("/logo-small.svg"));
    }
}
