//! How X delivers GIFs and videos: never the file that was uploaded, but MP4 renditions
//! (a GIF becomes one MP4 of bit rate 0, a video several MP4s of different bit rates), an
//! HLS playlist beside them, and a JPEG preview still (PLATFORMS.md, "Media in posts and
//! DMs"). Their addresses mirror X's: `tweet_video/…` and `ext_tw_video/…` on the video
//! host for posts, `dm_gif/…` and `dm_video/…` for Direct Messages (served without a
//! signature, as `video.twimg.com` serves them), and `tweet_video_thumb/…`,
//! `ext_tw_video_thumb/…`, `dm_gif_preview/…`, `dm_video_preview/…` for the stills.
//!
//! The sandbox does not transcode: a GIF's MP4 is [`GIF_MP4`], every preview is
//! [`PREVIEW_JPEG`] (see `sandbox/fixtures/README.md`), and a video's renditions are the
//! MP4 that was uploaded.

use super::{Media, State, Twitter, rules};
use crate::common::Call;
use axum::extract::{Path, State as AxumState};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// A real, playable 2-second 160×120 H.264 MP4: what the sandbox serves as X's MP4 of
/// any animated GIF.
pub const GIF_MP4: &[u8] = include_bytes!("../../fixtures/x-gif.mp4");
/// A real 160×120 baseline JPEG: the preview still of every GIF and video.
pub const PREVIEW_JPEG: &[u8] = include_bytes!("../../fixtures/x-preview.jpg");

/// The bit rates X encodes a video at (a GIF's one MP4 has 0), in the order its variants
/// list them: the best neither first nor last.
const VIDEO_RATES: [u64; 3] = [832_000, 2_176_000, 256_000];

/// The files X serves for one GIF or video.
pub(crate) struct Renditions {
    /// `(bit rate, URL)` of each MP4.
    pub mp4: Vec<(u64, String)>,
    /// The HLS playlist (`application/x-mpegURL`).
    pub hls: String,
    /// The JPEG still shown before it plays.
    pub preview: String,
}

/// Whether the media is a GIF or a video (X's `type`), and where its files live.
fn folders(m: &Media) -> Option<(&'static str, &'static str)> {
    let dm = m.category.starts_with("dm_");
    Some(match (rules::key_prefix(&m.media_type).1, dm) {
        ("animated_gif", false) => ("tweet_video", "tweet_video_thumb"),
        ("animated_gif", true) => ("dm_gif", "dm_gif_preview"),
        ("video", false) => ("ext_tw_video", "ext_tw_video_thumb"),
        ("video", true) => ("dm_video", "dm_video_preview"),
        _ => return None,
    })
}

fn rates(m: &Media) -> &'static [u64] {
    if rules::key_prefix(&m.media_type).1 == "animated_gif" {
        &[0]
    } else {
        &VIDEO_RATES
    }
}

impl Twitter {
    /// The renditions of a GIF or video; `None` for a photo.
    pub(crate) fn renditions(&self, m: &Media) -> Option<Renditions> {
        let (files, stills) = folders(m)?;
        let base = format!("{}/twitter/media", self.shared.url);
        let key = m.key();
        Some(Renditions {
            mp4: rates(m)
                .iter()
                .map(|r| (*r, format!("{base}/{files}/{key}/{r}.mp4?tag=12")))
                .collect(),
            hls: format!("{base}/{files}/{key}/pl.m3u8?tag=12"),
            preview: format!("{base}/{stills}/{key}/preview.jpg"),
        })
    }

    /// v2 `variants` (`rate_key` `bit_rate`) or v1.1 `video_info.variants` (`bitrate`):
    /// the HLS playlist after the first MP4, as X mixes them.
    pub(crate) fn variants(r: &Renditions, rate_key: &str) -> Value {
        let mut out: Vec<Value> = r
            .mp4
            .iter()
            .map(|(rate, url)| json!({rate_key: rate, "content_type": "video/mp4", "url": url}))
            .collect();
        let hls = json!({"content_type": "application/x-mpegURL", "url": r.hls});
        out.insert(1.min(out.len()), hls);
        json!(out)
    }

    /// The URL of the best MP4 of a GIF or video, or the photo's own URL: what the
    /// console and tests show.
    pub(crate) fn shown_url(&self, m: &Media) -> String {
        match self.renditions(m) {
            Some(r) => r
                .mp4
                .iter()
                .max_by_key(|(rate, _)| *rate)
                .map(|(_, url)| url.clone())
                .unwrap_or(r.hls),
            None => self.media_url(&m.key()),
        }
    }
}

/// `GET /twitter/media/{*path}`: a photo or avatar at `{key}`, a GIF's or video's files at
/// `{folder}/{key}/{file}`. Every request is recorded in the call log, so tests see what
/// was fetched.
pub(crate) async fn serve(AxumState(tw): AxumState<Twitter>, Path(path): Path<String>) -> Response {
    let res = {
        let st = tw.lock();
        file(&tw, &st, &path)
    };
    tw.shared.calls.record(Call {
        network: "twitter",
        method: "GET".into(),
        path: format!("/media/{path}"),
        query: String::new(),
        body: Value::Null,
        status: res.status().as_u16(),
    });
    res
}

fn file(tw: &Twitter, st: &State, path: &str) -> Response {
    let not_found = || StatusCode::NOT_FOUND.into_response();
    let segs: Vec<&str> = path.split('/').collect();
    let by_key = |key: &str| st.media.values().find(|m| m.key() == key);
    match segs.as_slice() {
        [key] if key.starts_with("avatar_") => {
            // A 1×1 GIF.
            const GIF: &[u8] = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;";
            ([(header::CONTENT_TYPE, "image/gif")], GIF).into_response()
        }
        // Photos are served as uploaded; X never serves a GIF or video file as such.
        [key] => match by_key(key) {
            Some(m) if folders(m).is_none() => {
                ([(header::CONTENT_TYPE, m.media_type.clone())], m.bytes()).into_response()
            }
            _ => not_found(),
        },
        [folder, key, name] => {
            let Some(m) = by_key(key) else {
                return not_found();
            };
            let Some((files, stills)) = folders(m) else {
                return not_found();
            };
            if *folder == stills && *name == "preview.jpg" {
                return ([(header::CONTENT_TYPE, "image/jpeg")], PREVIEW_JPEG).into_response();
            }
            if *folder != files {
                return not_found();
            }
            if *name == "pl.m3u8" {
                return (
                    [(header::CONTENT_TYPE, "application/x-mpegURL")],
                    playlist(tw, m),
                )
                    .into_response();
            }
            let rate = name.strip_suffix(".mp4").and_then(|r| r.parse().ok());
            match rate {
                Some(rate) if rates(m).contains(&rate) => {
                    ([(header::CONTENT_TYPE, "video/mp4")], mp4(m)).into_response()
                }
                _ => not_found(),
            }
        }
        _ => not_found(),
    }
}

/// A GIF's MP4 is the fixture; a video's renditions are what was uploaded (an MP4).
fn mp4(m: &Media) -> Vec<u8> {
    if rules::key_prefix(&m.media_type).1 == "animated_gif" {
        GIF_MP4.to_vec()
    } else {
        m.bytes()
    }
}

/// A media playlist naming the best MP4 (X's playlists name fMP4 segments; the sandbox
/// does not segment, and nothing of ours should ever fetch this).
fn playlist(tw: &Twitter, m: &Media) -> String {
    format!(
        "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:2\n#EXT-X-PLAYLIST-TYPE:VOD\n\
         #EXTINF:2.0,\n{}\n#EXT-X-ENDLIST\n",
        tw.shown_url(m)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fixtures_are_what_they_claim() {
        // ISO BMFF: a `ftyp` box first, then the movie with an H.264 (`avc1`) track.
        assert_eq!(&GIF_MP4[4..8], b"ftyp");
        assert_eq!(rules::sniff(GIF_MP4), Some("video/mp4"));
        assert!(GIF_MP4.windows(4).any(|w| w == b"avc1"));
        assert!(GIF_MP4.windows(4).any(|w| w == b"moov"));
        assert_eq!(rules::sniff(PREVIEW_JPEG), Some("image/jpeg"));
        assert!(PREVIEW_JPEG.ends_with(&[0xFF, 0xD9]));
        assert!(GIF_MP4.len() + PREVIEW_JPEG.len() < 20 * 1024);
    }
}
