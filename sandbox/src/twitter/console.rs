//! The consumer console at `/twitter/console`: pick a consumer, post at the brand, reply
//! in a thread, DM the brand with an image, GIF or video, and see the brand's answers.
//! Server-rendered; every user-supplied string is HTML-escaped.

use super::api::esc;
use super::{Consumer, MediaFile, Twitter};
use axum::extract::{Multipart, Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use std::collections::HashMap;

fn find(tw: &Twitter, id: &str) -> Option<Consumer> {
    tw.consumers().into_iter().find(|c| c.id == id)
}

pub(crate) async fn page(
    State(tw): State<Twitter>,
    Query(q): Query<HashMap<String, String>>,
) -> Html<String> {
    let consumers = tw.consumers();
    let brands = tw.brands();
    let current = q
        .get("as")
        .and_then(|id| find(&tw, id))
        .or_else(|| consumers.first().cloned());
    let mut h = String::from(
        "<!doctype html><html lang=en><meta charset=utf-8><title>X sandbox — consumer console</title>\
         <style>body{font-family:sans-serif;max-width:48rem;margin:1rem auto}article{border:1px solid #ccc;padding:.5rem;margin:.5rem 0}\
         .brand{background:#eef6ff}.reply{margin-left:2rem}</style><h1>X sandbox — consumer console</h1>",
    );
    if let Some(err) = q.get("error") {
        h.push_str(&format!("<p role=alert>{}</p>", esc(err)));
    }
    h.push_str("<form method=get action=\"/twitter/console\"><label>Consumer <select name=as>");
    for c in &consumers {
        let sel = if current.as_ref() == Some(c) {
            " selected"
        } else {
            ""
        };
        h.push_str(&format!(
            "<option value=\"{}\"{sel}>{} (@{})</option>",
            esc(&c.id),
            esc(&c.name),
            esc(&c.screen_name)
        ));
    }
    h.push_str("</select></label> <button type=submit>Switch</button></form>");
    let Some(me) = current else {
        h.push_str("<p>No consumers yet.</p>");
        return Html(h);
    };
    let me_id = esc(&me.id);
    let brand_hint = brands
        .first()
        .map(|(_, n)| format!("@{n} "))
        .unwrap_or_default();
    h.push_str(&format!(
        "<h2>Post</h2><form method=post action=\"/twitter/console/tweet\" enctype=multipart/form-data>\
         <input type=hidden name=consumer value=\"{me_id}\">\
         <label>Post text <textarea name=text aria-label=\"Post text\" rows=3 cols=60>{}</textarea></label><br>\
         <label>Post media <input type=file name=media aria-label=\"Post media\" accept=\"image/*,video/mp4\"></label> \
         <button type=submit>Post</button></form>",
        esc(&brand_hint)
    ));
    h.push_str("<h2>Timeline</h2>");
    let timeline = tw.timeline(&me.id);
    let mut roots: Vec<String> = Vec::new();
    for t in &timeline {
        if !roots.contains(&t.conversation_id) {
            roots.push(t.conversation_id.clone());
        }
    }
    for root in roots.iter().rev() {
        h.push_str("<section>");
        for t in tw.thread(root) {
            let class = if brands.iter().any(|(id, _)| *id == t.author_id) {
                "brand"
            } else {
                ""
            };
            let indent = if t.in_reply_to_tweet_id.is_some() {
                " reply"
            } else {
                ""
            };
            h.push_str(&format!(
                "<article class=\"{class}{indent}\" data-id=\"{}\"><b>@{}</b> {}",
                esc(&t.id),
                esc(&t.author_screen_name),
                esc(&t.text)
            ));
            for url in &t.media_urls {
                h.push_str(&format!(" <a href=\"{}\">[media]</a>", esc(url)));
            }
            h.push_str(&format!(
                "<form method=post action=\"/twitter/console/reply\" enctype=multipart/form-data>\
                 <input type=hidden name=consumer value=\"{me_id}\"><input type=hidden name=in_reply_to value=\"{}\">\
                 <label>Reply text <input name=text aria-label=\"Reply text\" size=40></label> <button type=submit>Reply</button></form></article>",
                esc(&t.id)
            ));
        }
        h.push_str("</section>");
    }
    for (bid, bname) in &brands {
        h.push_str(&format!("<h2>Direct Messages with @{}</h2>", esc(bname)));
        for d in tw.dm_conversation(&me.id, bid) {
            let who = if d.sender_id == me.id {
                format!("@{}", me.screen_name)
            } else {
                format!("@{bname}")
            };
            h.push_str(&format!(
                "<article class=\"{}\"><b>{}</b> {}",
                if d.sender_id == *bid { "brand" } else { "" },
                esc(&who),
                esc(&d.text)
            ));
            if let Some(url) = &d.media_url {
                h.push_str(&format!(" <a href=\"{}\">[media]</a>", esc(url)));
            }
            h.push_str("</article>");
        }
        h.push_str(&format!(
            "<form method=post action=\"/twitter/console/dm\" enctype=multipart/form-data>\
             <input type=hidden name=consumer value=\"{me_id}\"><input type=hidden name=brand value=\"{}\">\
             <label>Message text <input name=text aria-label=\"Message text\" size=40></label> \
             <label>Message media <input type=file name=media aria-label=\"Message media\" accept=\"image/*,video/mp4\"></label> \
             <button type=submit>Send DM</button></form>",
            esc(bid)
        ));
    }
    Html(h)
}

async fn read_form(mut mp: Multipart) -> (HashMap<String, String>, Option<MediaFile>) {
    let mut fields = HashMap::new();
    let mut file = None;
    while let Ok(Some(f)) = mp.next_field().await {
        let name = f.name().unwrap_or_default().to_owned();
        let is_file = f.file_name().is_some();
        let mime = f.content_type().unwrap_or_default().to_owned();
        let data = f.bytes().await.unwrap_or_default();
        if is_file {
            if !data.is_empty() {
                let mime = super::rules::sniff(&data)
                    .map(str::to_owned)
                    .unwrap_or(mime);
                file = Some(MediaFile {
                    mime,
                    bytes: data.to_vec(),
                });
            }
        } else {
            fields.insert(name, String::from_utf8_lossy(&data).into_owned());
        }
    }
    (fields, file)
}

fn back(consumer: &str, error: Option<String>) -> Response {
    let mut to = format!("/twitter/console?as={}", super::oauth::encode(consumer));
    if let Some(e) = error {
        to.push_str(&format!("&error={}", super::oauth::encode(&e)));
    }
    Redirect::to(&to).into_response()
}

pub(crate) async fn tweet(State(tw): State<Twitter>, mp: Multipart) -> Response {
    let (f, file) = read_form(mp).await;
    let id = f.get("consumer").cloned().unwrap_or_default();
    let Some(c) = find(&tw, &id) else {
        return back(&id, Some("unknown consumer".into()));
    };
    tw.consumer_tweet(
        &c,
        f.get("text").map(String::as_str).unwrap_or_default(),
        file.into_iter().collect(),
    );
    back(&id, None)
}

pub(crate) async fn reply(State(tw): State<Twitter>, mp: Multipart) -> Response {
    let (f, file) = read_form(mp).await;
    let id = f.get("consumer").cloned().unwrap_or_default();
    let Some(c) = find(&tw, &id) else {
        return back(&id, Some("unknown consumer".into()));
    };
    let to = f.get("in_reply_to").cloned().unwrap_or_default();
    let text = f.get("text").cloned().unwrap_or_default();
    let res = tw.consumer_reply(&c, &to, &text, file.into_iter().collect());
    back(&id, res.err())
}

pub(crate) async fn dm(State(tw): State<Twitter>, mp: Multipart) -> Response {
    let (f, file) = read_form(mp).await;
    let id = f.get("consumer").cloned().unwrap_or_default();
    let Some(c) = find(&tw, &id) else {
        return back(&id, Some("unknown consumer".into()));
    };
    let brand = f.get("brand").cloned().unwrap_or_default();
    let text = f.get("text").cloned().unwrap_or_default();
    let res = tw.consumer_dm(&c, &brand, &text, file);
    back(&id, res.err())
}
