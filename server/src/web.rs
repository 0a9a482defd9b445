//! Serving the built widget: hashed assets cached for a year, everything else revalidated,
//! and any other path answered with the `index.html` of the bundle that shows it
//! (`shared::bundles`: the agent's in the widget directory, the admin's in its `admin/`),
//! so that bundle's router takes over. Every answer carries the SPA's
//! Content-Security-Policy (no inline script: the bundles' loaders are files, see
//! `xtask`'s `externalize_loader`) and refuses to be framed by other sites — except the
//! Social Widget page (`/widget`), which the origins in `SOCIALCONNECT_FRAME_ANCESTORS`
//! (LiveEngage's agent workspace) may frame and which may load LiveEngage's widget SDK
//! (`SOCIALCONNECT_LIVEENGAGE_SDK_URL`).

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, Request, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use shared::bundles::{ADMIN_DIR, Bundle, bundle_for};
use std::path::Path;
use tower::ServiceExt;
use tower_http::services::{ServeDir, ServeFile};

/// What the Social Widget page's policy allows beyond every other page's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WidgetFraming {
    /// The LiveEngage SDK script's origin, allowed in `script-src`.
    pub sdk_origin: Option<String>,
    /// Origins (already checked, see `config::OriginList`) that may frame the page.
    pub ancestors: Vec<String>,
}

impl WidgetFraming {
    pub fn from_settings(settings: &crate::config::ServeArgs) -> Self {
        WidgetFraming {
            sdk_origin: Some(settings.liveengage.liveengage_sdk_url.origin()),
            ancestors: settings.frame_ancestors.0.clone(),
        }
    }

    /// The Social Widget page's Content-Security-Policy: the SPA's, with the SDK's origin
    /// in `script-src` and the allowed origins in `frame-ancestors`.
    pub fn policy(&self) -> String {
        let mut script = "script-src 'self' 'wasm-unsafe-eval'".to_owned();
        if let Some(o) = &self.sdk_origin {
            script.push(' ');
            script.push_str(o);
        }
        let mut ancestors = "frame-ancestors 'self'".to_owned();
        for o in &self.ancestors {
            ancestors.push(' ');
            ancestors.push_str(o);
        }
        CONTENT_SECURITY_POLICY
            .replace("script-src 'self' 'wasm-unsafe-eval'", &script)
            .replace("frame-ancestors 'self'", &ancestors)
    }
}

/// The headers that differ between the Social Widget page and every other answer.
#[derive(Clone)]
struct Policies {
    widget_csp: HeaderValue,
    /// Whether other origins may frame the widget page (then no `X-Frame-Options`, which
    /// cannot name them and would refuse them in browsers that read it).
    widget_framed: bool,
}

/// Whether `path` is the Social Widget page (not one of its assets).
pub fn is_widget_page(path: &str) -> bool {
    matches!(path, "/widget" | "/widget/")
}

pub fn router(widget_dir: &Path, framing: &WidgetFraming) -> Router {
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
    let policies = Policies {
        // Checked origins and a URL's origin: always a valid header value.
        widget_csp: HeaderValue::from_str(&framing.policy())
            .unwrap_or_else(|_| HeaderValue::from_static(CONTENT_SECURITY_POLICY)),
        widget_framed: !framing.ancestors.is_empty(),
    };
    Router::new()
        .fallback_service(serve)
        .layer(middleware::from_fn_with_state(policies, headers))
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

async fn headers(State(p): State<Policies>, req: Request<Body>, next: Next) -> Response {
    let hashed = is_hashed_asset(req.uri().path());
    let widget = is_widget_page(req.uri().path());
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    let csp = if widget {
        p.widget_csp.clone()
    } else {
        HeaderValue::from_static(CONTENT_SECURITY_POLICY)
    };
    h.insert(header::CONTENT_SECURITY_POLICY, csp);
    // For browsers that predate `frame-ancestors`.
    if !(widget && p.widget_framed) {
        h.insert(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("SAMEORIGIN"),
        );
    }
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
        let app = router(dir.path(), &WidgetFraming::default());
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
        let app = router(dir.path(), &WidgetFraming::default());
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
        let app = router(dir.path(), &WidgetFraming::default());
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

    async fn policy_of(app: &Router, path: &str) -> (String, Option<String>) {
        let res = app
            .clone()
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let h = res.headers();
        (
            h[header::CONTENT_SECURITY_POLICY]
                .to_str()
                .unwrap()
                .to_owned(),
            h.get(header::X_FRAME_OPTIONS)
                .map(|v| v.to_str().unwrap().to_owned()),
        )
    }

    fn directive(csp: &str, name: &str) -> String {
        csp.split(';')
            .map(str::trim)
            .find(|d| d.starts_with(name))
            .unwrap_or_default()
            .to_owned()
    }

    #[tokio::test]
    async fn only_the_widget_page_loads_the_sdk_and_may_be_framed_by_the_listed_origins() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("index.html"), "agent").unwrap();
        std::fs::write(dir.path().join("widget-0123456789abcdef.js"), "js").unwrap();
        let framing = WidgetFraming {
            sdk_origin: Some("https://lpcdn.lpsnmedia.net".into()),
            ancestors: vec![
                "https://z1.le.liveperson.net".into(),
                "http://127.0.0.1:8090".into(),
            ],
        };
        let app = router(dir.path(), &framing);
        for path in ["/widget", "/widget?conversation=3", "/widget/"] {
            let (csp, xfo) = policy_of(&app, path).await;
            assert_eq!(
                directive(&csp, "script-src"),
                "script-src 'self' 'wasm-unsafe-eval' https://lpcdn.lpsnmedia.net",
                "{path}"
            );
            assert_eq!(
                directive(&csp, "frame-ancestors"),
                "frame-ancestors 'self' https://z1.le.liveperson.net http://127.0.0.1:8090",
                "{path}"
            );
            assert_eq!(xfo, None, "{path}: X-Frame-Options would refuse the host");
            // The rest of the policy is the SPA's.
            assert_eq!(directive(&csp, "object-src"), "object-src 'none'");
            assert_eq!(directive(&csp, "connect-src"), "connect-src 'self'");
            assert!(!csp.contains("unsafe-inline"), "{csp}");
        }
        for path in [
            "/",
            "/workspace",
            "/login",
            "/widgets",
            "/widget-0123456789abcdef.js",
            "/home",
        ] {
            let (csp, xfo) = policy_of(&app, path).await;
            assert_eq!(csp, CONTENT_SECURITY_POLICY, "{path}");
            assert_eq!(xfo.as_deref(), Some("SAMEORIGIN"), "{path}");
        }
    }

    #[tokio::test]
    async fn with_no_origin_listed_the_widget_page_is_framed_by_its_own_only() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("index.html"), "agent").unwrap();
        let framing = WidgetFraming {
            sdk_origin: Some("https://lpcdn.lpsnmedia.net".into()),
            ancestors: Vec::new(),
        };
        let app = router(dir.path(), &framing);
        let (csp, xfo) = policy_of(&app, "/widget").await;
        assert_eq!(directive(&csp, "frame-ancestors"), "frame-ancestors 'self'");
        assert_eq!(xfo.as_deref(), Some("SAMEORIGIN"));
        assert!(directive(&csp, "script-src").ends_with(" https://lpcdn.lpsnmedia.net"));
    }

    #[test]
    fn the_settings_name_the_sdks_origin_and_the_listed_ancestors() {
        let mut settings = crate::config::ServeArgs::for_tests("data".into());
        assert_eq!(
            WidgetFraming::from_settings(&settings),
            WidgetFraming {
                sdk_origin: Some("https://lpcdn.lpsnmedia.net".into()),
                ancestors: Vec::new(),
            }
        );
        settings.liveengage.liveengage_sdk_url =
            "http://127.0.0.1:9/liveengage/webagent/client-SDK.js"
                .parse()
                .unwrap();
        settings.frame_ancestors = "http://127.0.0.1:9".parse().unwrap();
        let framing = WidgetFraming::from_settings(&settings);
        assert_eq!(
            directive(&framing.policy(), "script-src"),
            "script-src 'self' 'wasm-unsafe-eval' http://127.0.0.1:9"
        );
        assert_eq!(
            directive(&framing.policy(), "frame-ancestors"),
            "frame-ancestors 'self' http://127.0.0.1:9"
        );
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
