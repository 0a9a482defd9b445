//! The consumer console (`/facebook/console`): pick a page and a consumer, post on the
//! page, comment and reply, write in Messenger with an image, GIF or video, and see the
//! page's replies where Facebook shows them (comments under the post, Messenger in the
//! thread). Server-rendered; every consumer-supplied string is HTML-escaped.

use super::{Attachment, Consumer, Facebook, MediaKind, Page, esc};
use axum::Form;
use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use std::collections::HashMap;

type Params = HashMap<String, String>;

fn pick(fb: &Facebook, q: &Params) -> (Option<Page>, Option<Consumer>) {
    let pages = fb.pages();
    let consumers = fb.consumers();
    let page = q
        .get("page")
        .and_then(|id| pages.iter().find(|p| &p.id == id))
        .or(pages.first())
        .cloned();
    let consumer = q
        .get("consumer")
        .and_then(|id| consumers.iter().find(|c| &c.id == id))
        .or(consumers.first())
        .cloned();
    (page, consumer)
}

fn back(q: &Params) -> Response {
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    Redirect::to(&format!(
        "/facebook/console?page={}&consumer={}",
        enc(q.get("page").map(String::as_str).unwrap_or("")),
        enc(q.get("consumer").map(String::as_str).unwrap_or(""))
    ))
    .into_response()
}

fn media_html(a: &Attachment) -> String {
    let url = esc(&a.url);
    match a.kind.as_str() {
        "image" => format!("<img src=\"{url}\" alt=\"image\" width=64>"),
        "video" => format!("<video src=\"{url}\" controls width=160></video>"),
        "audio" => format!("<audio src=\"{url}\" controls></audio>"),
        "fallback" if a.url.starts_with("https://") || a.url.starts_with("http://") => format!(
            "<a href=\"{url}\" rel=\"noopener noreferrer nofollow\">{}</a>",
            esc(a.title.as_deref().unwrap_or(&a.url))
        ),
        "fallback" => esc(&a.url),
        _ => format!("<a href=\"{url}\">attachment</a>"),
    }
}

fn media_select() -> &'static str {
    "<label>Media <select name=media aria-label=\"Media\"><option value=\"\">no media</option>\
     <option value=image>image</option><option value=gif>GIF</option>\
     <option value=video>video</option></select></label>"
}

fn hidden(page: &Page, consumer: &Consumer) -> String {
    format!(
        "<input type=hidden name=page value=\"{}\"><input type=hidden name=consumer value=\"{}\">",
        esc(&page.id),
        esc(&consumer.id)
    )
}

pub(crate) async fn page(State(fb): State<Facebook>, Query(q): Query<Params>) -> Html<String> {
    let (page, consumer) = pick(&fb, &q);
    let mut html = String::from(
        "<!doctype html><html lang=en><meta charset=utf-8><title>Facebook — consumer console</title>\
         <style>body{font-family:sans-serif;max-width:60em;margin:auto}.page{background:#e7f0ff}\
         .c{margin-left:1.5em;border-left:2px solid #ccc;padding-left:.5em}</style>\
         <h1>Facebook — consumer console</h1>",
    );
    let (Some(page), Some(consumer)) = (page, consumer) else {
        html.push_str("<p>Seed a page and a consumer first.</p></html>");
        return Html(html);
    };
    // Choosers.
    html.push_str("<form method=get action=\"/facebook/console\"><label>Page <select name=page>");
    for p in fb.pages() {
        html.push_str(&format!(
            "<option value=\"{}\"{}>{}</option>",
            esc(&p.id),
            if p.id == page.id { " selected" } else { "" },
            esc(&p.name)
        ));
    }
    html.push_str("</select></label> <label>Consumer <select name=consumer>");
    for c in fb.consumers() {
        html.push_str(&format!(
            "<option value=\"{}\"{}>{}</option>",
            esc(&c.id),
            if c.id == consumer.id { " selected" } else { "" },
            esc(&c.name)
        ));
    }
    html.push_str("</select></label> <button>Switch</button></form>");
    let h = hidden(&page, &consumer);

    // Timeline: the brand publishes (consumers then comment on its post), the consumer
    // posts.
    html.push_str(&format!(
        "<h2>{name} — page timeline</h2>\
         <form method=post action=\"/facebook/console/brand-post\">{h}\
         <label>Post as {name} <textarea name=text required></textarea></label> \
         <button>Publish as the brand</button></form>\
         <form method=post action=\"/facebook/console/post\">{h}\
         <label>Post as {consumer} <textarea name=text required></textarea></label> {media} \
         <button>Post</button></form>",
        name = esc(&page.name),
        consumer = esc(&consumer.name),
        media = media_select()
    ));
    for post in fb.posts(&page).iter().rev().filter(|p| !p.removed) {
        let class = if post.from.is_page { " class=page" } else { "" };
        html.push_str(&format!(
            "<article{class}><p><b>{}</b>: {}</p>",
            esc(&post.from.name),
            esc(&post.message)
        ));
        if let Some(m) = &post.media {
            html.push_str(&media_html(m));
        }
        if post.from.id == consumer.id {
            html.push_str(&own_controls(&h, &post.id));
        }
        let comments = fb.comments(&post.id);
        for top in comments
            .iter()
            .filter(|c| c.parent_id == post.id && !c.removed)
        {
            html.push_str(&comment_html(&h, top, &consumer));
            for reply in comments
                .iter()
                .filter(|c| c.parent_id == top.id && !c.removed)
            {
                html.push_str(&format!(
                    "<div class=c>{}</div>",
                    comment_html(&h, reply, &consumer)
                ));
            }
            html.push_str(&format!(
                "<div class=c><form method=post action=\"/facebook/console/comment\">{h}\
                 <input type=hidden name=parent value=\"{}\"><label>Reply <input name=text aria-label=\"Reply\" required></label> \
                 <button>Reply</button></form></div>",
                esc(&top.id)
            ));
        }
        html.push_str(&format!(
            "<form method=post action=\"/facebook/console/comment\">{h}\
             <input type=hidden name=parent value=\"{}\"><label>Comment <input name=text aria-label=\"Comment\" required></label> \
             <button>Comment</button></form></article><hr>",
            esc(&post.id)
        ));
    }

    // Messenger.
    html.push_str(&format!(
        "<h2>Messenger — {} and {}</h2><ol>",
        esc(&consumer.name),
        esc(&page.name)
    ));
    for m in fb.inbox(&page, &consumer) {
        let who = if m.from_page {
            esc(&page.name)
        } else {
            "You".to_owned()
        };
        let class = if m.from_page { " class=page" } else { "" };
        let note = if m.private_reply_to.is_some() {
            " <small>(private reply to your comment)</small>"
        } else {
            ""
        };
        html.push_str(&format!(
            "<li{class}><b>{who}</b>{note}: {}",
            esc(m.text.as_deref().unwrap_or(""))
        ));
        for a in &m.attachments {
            html.push_str(&media_html(a));
        }
        html.push_str("</li>");
    }
    html.push_str(&format!(
        "</ol><form method=post action=\"/facebook/console/message\">{h}\
         <label>Message <input name=text aria-label=\"Message\"></label> {} <label>Link to share <input name=link type=url \
         aria-label=\"Link to share\"></label> <button>Send</button></form></html>",
        media_select()
    ));
    Html(html)
}

fn own_controls(h: &str, id: &str) -> String {
    format!(
        "<form method=post action=\"/facebook/console/edit\">{h}<input type=hidden name=id value=\"{id}\">\
         <label>New text <input name=text aria-label=\"New text\" required></label> <button>Edit</button></form>\
         <form method=post action=\"/facebook/console/remove\">{h}<input type=hidden name=id value=\"{id}\">\
         <button>Remove</button></form>",
        id = esc(id)
    )
}

fn comment_html(h: &str, c: &super::Comment, consumer: &Consumer) -> String {
    let class = if c.from.is_page { " class=page" } else { "" };
    let mut s = format!(
        "<div class=c><p{class}><b>{}</b>: {}</p>",
        esc(&c.from.name),
        esc(&c.message)
    );
    if let Some(url) = &c.attachment_url {
        s.push_str(&format!(
            "<img src=\"{}\" alt=\"attachment\" width=64>",
            esc(url)
        ));
    }
    if c.from.id == consumer.id {
        s.push_str(&own_controls(h, &c.id));
    }
    s.push_str("</div>");
    s
}

fn chosen(fb: &Facebook, q: &Params) -> Option<(Page, Consumer)> {
    let (p, c) = pick(fb, q);
    Some((p?, c?))
}

fn kind(q: &Params) -> Option<MediaKind> {
    q.get("media").and_then(|m| MediaKind::parse(m))
}

pub(crate) async fn post(State(fb): State<Facebook>, Form(q): Form<Params>) -> Response {
    if let Some((p, c)) = chosen(&fb, &q) {
        fb.consumer_post(
            &p,
            &c,
            q.get("text").map(String::as_str).unwrap_or(""),
            kind(&q),
        );
    }
    back(&q)
}

pub(crate) async fn brand_post(State(fb): State<Facebook>, Form(q): Form<Params>) -> Response {
    if let Some((p, _)) = chosen(&fb, &q) {
        fb.brand_post(&p, q.get("text").map(String::as_str).unwrap_or(""));
    }
    back(&q)
}

pub(crate) async fn comment(State(fb): State<Facebook>, Form(q): Form<Params>) -> Response {
    if let Some((p, c)) = chosen(&fb, &q) {
        let parent = q.get("parent").map(String::as_str).unwrap_or("");
        fb.consumer_comment(
            &p,
            parent,
            &c,
            q.get("text").map(String::as_str).unwrap_or(""),
        );
    }
    back(&q)
}

pub(crate) async fn message(State(fb): State<Facebook>, Form(q): Form<Params>) -> Response {
    if let Some((p, c)) = chosen(&fb, &q) {
        let text = q.get("text").map(String::as_str).unwrap_or("");
        let media: Vec<MediaKind> = kind(&q).into_iter().collect();
        let link = q.get("link").map(|l| l.trim()).filter(|l| !l.is_empty());
        if let Some(link) = link {
            // Messenger titles a shared link with its page's title; the sandbox reads no
            // pages, so the link names itself.
            fb.consumer_shares_link(&p, &c, text, link, link);
        } else if !text.is_empty() || !media.is_empty() {
            fb.consumer_message(&p, &c, text, &media);
        }
    }
    back(&q)
}

/// Edits only the chosen consumer's own post or comment.
pub(crate) async fn edit(State(fb): State<Facebook>, Form(q): Form<Params>) -> Response {
    if let Some((p, c)) = chosen(&fb, &q) {
        let id = q.get("id").map(String::as_str).unwrap_or("");
        if fb.is_authored_by(id, &c.id) {
            fb.consumer_edit(&p, id, q.get("text").map(String::as_str).unwrap_or(""));
        }
    }
    back(&q)
}

pub(crate) async fn remove(State(fb): State<Facebook>, Form(q): Form<Params>) -> Response {
    if let Some((p, c)) = chosen(&fb, &q) {
        let id = q.get("id").map(String::as_str).unwrap_or("");
        if fb.is_authored_by(id, &c.id) {
            fb.consumer_remove(&p, id);
        }
    }
    back(&q)
}
