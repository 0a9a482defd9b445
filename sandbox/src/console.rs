//! The consumer console: a page where a person plays the consumer on both networks and
//! sees the brand's replies where the network would show them.

use crate::facebook::Facebook;
use crate::twitter::Twitter;
use axum::Router;
use axum::response::Html;
use axum::routing::get;

pub fn router(facebook: Facebook, twitter: Twitter) -> Router {
    let _ = (facebook, twitter);
    Router::new().route("/console", get(index))
}

async fn index() -> Html<&'static str> {
    Html(
        "<!doctype html><meta charset=utf-8><title>SocialConnect sandbox</title>\
         <h1>SocialConnect sandbox</h1>\
         <ul><li><a href=\"/facebook/console\">Facebook</a></li>\
         <li><a href=\"/twitter/console\">Twitter/X</a></li></ul>",
    )
}
