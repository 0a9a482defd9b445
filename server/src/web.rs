//! Serving the built widget: hashed assets cached for a year, everything else revalidated,
//! and unknown paths answered with `index.html` so the SPA's router takes over.

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Request, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use std::path::Path;
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
    let serve = ServeDir::new(widget_dir).fallback(ServeFile::new(index));
    Router::new()
        .fallback_service(serve)
        .layer(middleware::from_fn(cache_headers))
}

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

async fn cache_headers(req: Request<Body>, next: Next) -> Response {
    let hashed = is_hashed_asset(req.uri().path());
    let mut res = next.run(req).await;
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
