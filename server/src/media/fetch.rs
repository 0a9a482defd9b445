//! The background fetcher: copies each inbound media item from the network's URL (these
//! expire) under `DATA_DIR/media/`, checks what the bytes are, and makes the derivatives.
//! The ingest wakes it; failed downloads are tried again with a growing delay, a bounded
//! number of times.

use super::decode::{self, Encoded};
use super::{MediaHandle, media_dir};
use crate::AppState;
use crate::connectors::twitter::OAuth1;
use crate::connectors::{Credentials, http_client};
use crate::store::{MediaCopy, MediaDue, MediaStatus};
use shared::inbound::MediaKind;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tracing::Instrument;

/// Largest picture, GIF, audio clip or file copied (Messenger's attachment limit).
pub const MAX_BYTES: u64 = 25 * 1024 * 1024;
/// Largest video copied. X allows videos up to 512 MB; larger ones stay at the network.
pub const MAX_VIDEO_BYTES: u64 = 100 * 1024 * 1024;
/// Tries before giving up on a download that keeps failing.
pub const MAX_ATTEMPTS: i64 = 5;
const FIRST_RETRY_MS: i64 = 30_000;
/// A copy interrupted by a crash is taken up again after this.
const LEASE_MS: i64 = 15 * 60 * 1000;

impl MediaHandle {
    pub fn wake(&self) {
        self.0.notify_one();
    }
}

/// Copies what is due until the server stops.
pub fn spawn_fetcher(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let http = http_client();
        loop {
            let now = now_ms();
            match state.store.media_due(now, now + LEASE_MS, 10).await {
                Ok(due) => {
                    for d in due {
                        let span = tracing::info_span!("media", id = d.id);
                        copy_one(&state, &http, d).instrument(span).await;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "media: reading what is due failed"),
            }
            let wake = async {
                tokio::select! {
                    _ = state.media.0.notified() => {
                        // Every webhook wakes this: a burst is looked at once per pass,
                        // not once per webhook.
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    _ = tokio::time::sleep(Duration::from_secs(30)) => {}
                }
            };
            if !state.stopping.idle(wake).await {
                break;
            }
        }
    })
}

fn now_ms() -> i64 {
    crate::auth::now_secs() * 1000
}

/// Why a copy was not made.
#[derive(Debug)]
enum Failure {
    /// Worth trying again later (timeouts, 5xx, rate limits).
    Transient(String),
    /// The network will not give it (gone, forbidden).
    Gone(String),
    /// The bytes are refused; what was learned of them is kept.
    Rejected {
        reason: String,
        mime: Option<String>,
        bytes: Option<i64>,
    },
}

fn rejected(reason: impl Into<String>) -> Failure {
    Failure::Rejected {
        reason: reason.into(),
        mime: None,
        bytes: None,
    }
}

async fn copy_one(state: &AppState, http: &reqwest::Client, due: MediaDue) {
    let dir = media_dir(&state.settings.store.data_dir);
    let signed = |url: &str| dm_media_authorization(state, &due, url);
    let auth = signed(&due.source_url).and_then(|media| {
        let poster = due.poster_url.as_deref().map(signed).transpose()?;
        Ok([media, poster.flatten()])
    });
    let outcome = match auth {
        Ok(auth) => match copy(http, &dir, &due, &auth).await {
            Ok(copy) => publish(&state.blobs, &copy).await.map(|()| copy),
            failed => failed,
        },
        Err(e) => Err(Failure::Gone(e.to_string())),
    };
    let store = &state.store;
    let recorded = match outcome {
        Ok(copy) => {
            tracing::debug!(mime = %copy.mime, bytes = copy.bytes, "media copied");
            store.media_stored(due.id, &copy).await
        }
        Err(Failure::Transient(e)) if due.attempts + 1 < MAX_ATTEMPTS => {
            let delay = FIRST_RETRY_MS << due.attempts.clamp(0, 10);
            tracing::info!(error = %e, attempt = due.attempts + 1, "media download failed; will retry");
            store.media_retry(due.id, now_ms() + delay, &e).await
        }
        Err(Failure::Transient(e) | Failure::Gone(e)) => {
            tracing::info!(error = %e, "media download failed; giving up");
            store
                .media_refused(due.id, MediaStatus::Failed, &e, None, None)
                .await
        }
        Err(Failure::Rejected {
            reason,
            mime,
            bytes,
        }) => {
            tracing::warn!(%reason, "media refused");
            store
                .media_refused(
                    due.id,
                    MediaStatus::Rejected,
                    &reason,
                    mime.as_deref(),
                    bytes,
                )
                .await
        }
    };
    match recorded {
        Ok(()) => state
            .live
            .conversations_changed(due.linked.account_id, &[due.conversation_id]),
        Err(e) => tracing::warn!(error = %e, "media: recording the outcome failed"),
    }
}

/// The copy and its derivatives, made under the data dir, go where files live.
async fn publish(blobs: &crate::blobs::Blobs, copy: &MediaCopy) -> Result<(), Failure> {
    let paths = [
        Some(&copy.stored_path),
        copy.thumb_path.as_ref(),
        copy.still_path.as_ref(),
        copy.poster_path.as_ref(),
    ];
    for path in paths.into_iter().flatten() {
        blobs
            .publish(path)
            .await
            .map_err(|e| Failure::Transient(format!("storing the copy: {e:#}")))?;
    }
    Ok(())
}

/// X serves the media of Direct Messages only to a GET signed with OAuth 1.0a by a
/// participant's access token ("Retrieving media" in X's Direct Message guides: the
/// `media_url` on `ton.twitter.com` "must be accessed by signing a request with the user's
/// access token"). The header is made only for X's own hosts, never for another address,
/// so the account's token signs nothing else.
fn dm_media_authorization(
    state: &AppState,
    due: &MediaDue,
    source: &str,
) -> Result<Option<String>, crate::connectors::NetworkError> {
    let Ok(url) = reqwest::Url::parse(source) else {
        return Ok(None);
    };
    let api = state.settings.twitter.twitter_api_url.trim_end_matches('/');
    let dm_media = url.host_str() == Some("ton.twitter.com")
        || source
            .strip_prefix(api)
            .is_some_and(|rest| rest.starts_with("/1.1/ton/"));
    if !dm_media || due.linked.channel != shared::Channel::Twitter {
        return Ok(None);
    }
    let Credentials::Twitter {
        consumer_key,
        consumer_secret,
        token,
        token_secret,
    } = Credentials::open(&state.settings, &state.cipher, &due.linked)?
    else {
        return Ok(None);
    };
    let query: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let params: Vec<(&str, &str)> = query
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let mut base = url.clone();
    base.set_query(None);
    base.set_fragment(None);
    let signer = OAuth1 {
        consumer_key: &consumer_key,
        consumer_secret: &consumer_secret,
        token: &token,
        token_secret: &token_secret,
    };
    Ok(Some(signer.header("GET", base.as_str(), &params)))
}

async fn copy(
    http: &reqwest::Client,
    dir: &Path,
    due: &MediaDue,
    // `Authorization` headers for the media and its poster, where X needs them.
    [authorization, poster_authorization]: &[Option<String>; 2],
) -> Result<MediaCopy, Failure> {
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(|e| Failure::Transient(format!("creating the media dir: {e}")))?;
    let (cap, time) = match due.kind {
        MediaKind::Video => (MAX_VIDEO_BYTES, Duration::from_secs(300)),
        _ => (MAX_BYTES, Duration::from_secs(60)),
    };
    let part = dir.join(format!("{}.part", due.id));
    let got = download(
        http,
        &due.source_url,
        authorization.as_deref(),
        cap,
        time,
        &part,
    )
    .await;
    let (size, head) = match got {
        Ok(ok) => ok,
        Err(e) => {
            let _ = tokio::fs::remove_file(&part).await;
            return Err(e);
        }
    };
    let made = check_and_derive(dir, due, &part, size, &head).await;
    let _ = tokio::fs::remove_file(&part).await;
    let (mime, derived) = made?;

    let name = |suffix: &str| format!("{}{suffix}", due.id);
    let write = |file: String, bytes: Vec<u8>| async move {
        let path = dir.join(&file);
        tokio::fs::write(&path, bytes)
            .await
            .map_err(|e| Failure::Transient(format!("writing {}: {e}", path.display())))?;
        Ok::<_, Failure>(format!("media/{file}"))
    };
    let mut copy = MediaCopy {
        mime,
        bytes: i64::try_from(size).unwrap_or(i64::MAX),
        stored_path: String::new(),
        thumb_path: None,
        still_path: None,
        poster_path: None,
    };
    if let Some(d) = derived {
        let thumb = name(&format!("-thumb.{}", d.thumbnail.extension()));
        copy.thumb_path = Some(write(thumb, d.thumbnail.bytes).await?);
        if let Some(still) = d.still {
            copy.still_path = Some(write(name("-still.png"), still.bytes).await?);
        }
    }
    if let Some(url) = &due.poster_url {
        match poster(http, dir, due.id, url, poster_authorization.as_deref()).await {
            Ok(p) => {
                let file = name(&format!("-poster.{}", p.extension()));
                copy.poster_path = Some(write(file, p.bytes).await?);
            }
            // A video without its poster is still worth keeping.
            Err(e) => tracing::info!(error = %e, "no poster for this media"),
        }
    }
    copy.stored_path = format!("media/{}", due.id);
    Ok(copy)
}

/// Checks the downloaded file's type against what the network said it is, moves it to
/// its place and, for images, makes the derivatives.
async fn check_and_derive(
    dir: &Path,
    due: &MediaDue,
    part: &Path,
    size: u64,
    head: &[u8],
) -> Result<(String, Option<decode::Derived>), Failure> {
    let bytes = i64::try_from(size).ok();
    let sniffed = decode::sniff(head);
    let Some(mime) = accepted(due.kind, sniffed) else {
        return Err(Failure::Rejected {
            reason: format!(
                "expected {} but the bytes are {}",
                due.kind.as_str(),
                sniffed.unwrap_or("of an unknown type")
            ),
            mime: sniffed.map(str::to_owned),
            bytes,
        });
    };
    let derived = if decode::image_format(mime).is_some() {
        let data = tokio::fs::read(part)
            .await
            .map_err(|e| Failure::Transient(format!("reading the download back: {e}")))?;
        let mime_owned = mime.to_owned();
        let span = tracing::Span::current();
        let result = tokio::task::spawn_blocking(move || {
            span.in_scope(|| decode::derive(&data, &mime_owned))
        })
        .await
        .map_err(|e| Failure::Transient(format!("decoding stopped: {e}")))?;
        Some(result.map_err(|reason| Failure::Rejected {
            reason,
            mime: Some(mime.to_owned()),
            bytes,
        })?)
    } else {
        None
    };
    let target: PathBuf = dir.join(due.id.to_string());
    tokio::fs::rename(part, &target)
        .await
        .map_err(|e| Failure::Transient(format!("moving the copy in place: {e}")))?;
    Ok((mime.to_owned(), derived))
}

/// The MIME type to record when the sniffed type fits the kind the network named.
fn accepted(kind: MediaKind, sniffed: Option<&'static str>) -> Option<&'static str> {
    let image = |m: &str| decode::image_format(m).is_some();
    match (kind, sniffed) {
        (MediaKind::Image | MediaKind::Sticker, Some(m)) if image(m) => Some(m),
        // X sends animated GIFs as MP4.
        (MediaKind::Gif, Some(m)) if image(m) || m == "video/mp4" => Some(m),
        (MediaKind::Video, Some(m)) if m.starts_with("video/") => Some(m),
        (MediaKind::Audio, Some(m)) if m.starts_with("audio/") => Some(m),
        // Messenger's voice clips are MP4 audio.
        (MediaKind::Audio, Some("video/mp4")) => Some("audio/mp4"),
        (MediaKind::File, Some(m)) => Some(m),
        (MediaKind::File, None) => Some("application/octet-stream"),
        _ => None,
    }
}

/// Streams `url` into `to`, refusing more than `cap` bytes or more than `time`; returns
/// the size and the first bytes (for sniffing).
async fn download(
    http: &reqwest::Client,
    url: &str,
    authorization: Option<&str>,
    cap: u64,
    time: Duration,
    to: &Path,
) -> Result<(u64, Vec<u8>), Failure> {
    let parsed = reqwest::Url::parse(url).map_err(|_| Failure::Gone("not a URL".into()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(Failure::Gone(format!(
            "{} URLs are not fetched",
            parsed.scheme()
        )));
    }
    let transient = |e: reqwest::Error| Failure::Transient(e.without_url().to_string());
    let mut request = http.get(parsed).timeout(time);
    if let Some(auth) = authorization {
        request = request.header(reqwest::header::AUTHORIZATION, auth);
    }
    let mut res = request.send().await.map_err(transient)?;
    let status = res.status();
    if !status.is_success() {
        let why = format!("the network answered {status}");
        return Err(
            if status.is_server_error() || status.as_u16() == 429 || status.as_u16() == 408 {
                Failure::Transient(why)
            } else {
                Failure::Gone(why)
            },
        );
    }
    let too_large = || Failure::Rejected {
        reason: format!("larger than the {} MB copied", cap / (1024 * 1024)),
        mime: None,
        bytes: None,
    };
    if res.content_length().is_some_and(|n| n > cap) {
        return Err(too_large());
    }
    let mut file = tokio::fs::File::create(to)
        .await
        .map_err(|e| Failure::Transient(format!("creating {}: {e}", to.display())))?;
    let (mut size, mut head) = (0u64, Vec::with_capacity(64));
    while let Some(chunk) = res.chunk().await.map_err(transient)? {
        size += chunk.len() as u64;
        if size > cap {
            return Err(too_large());
        }
        if head.len() < 64 {
            let take = (64 - head.len()).min(chunk.len());
            head.extend_from_slice(&chunk[..take]);
        }
        file.write_all(&chunk)
            .await
            .map_err(|e| Failure::Transient(format!("writing the download: {e}")))?;
    }
    file.flush()
        .await
        .map_err(|e| Failure::Transient(format!("writing the download: {e}")))?;
    if size == 0 {
        return Err(rejected("the network sent no bytes"));
    }
    Ok((size, head))
}

/// The network's still for a video, fetched and re-encoded by us within bounds.
async fn poster(
    http: &reqwest::Client,
    dir: &Path,
    id: i64,
    url: &str,
    authorization: Option<&str>,
) -> Result<Encoded, String> {
    let part = dir.join(format!("{id}-poster.part"));
    let got = download(
        http,
        url,
        authorization,
        MAX_BYTES,
        Duration::from_secs(60),
        &part,
    )
    .await;
    let data = match got {
        Ok(_) => tokio::fs::read(&part).await.map_err(|e| e.to_string()),
        Err(e) => Err(format!("{e:?}")),
    };
    let _ = tokio::fs::remove_file(&part).await;
    let data = data?;
    let mime = decode::sniff(&data)
        .filter(|m| decode::image_format(m).is_some())
        .ok_or("the poster is not an image")?;
    let format = decode::image_format(mime).ok_or("the poster is not an image")?;
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || {
        span.in_scope(|| {
            let img = decode::decode_bounded(&data, format)?;
            decode::fit_within(&img, decode::POSTER_BOX)
        })
    })
    .await
    .map_err(|e| e.to_string())?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bytes_must_fit_the_kind_the_network_named() {
        use MediaKind::*;
        assert_eq!(accepted(Image, Some("image/png")), Some("image/png"));
        assert_eq!(accepted(Image, Some("application/pdf")), None);
        assert_eq!(accepted(Image, None), None);
        assert_eq!(accepted(Sticker, Some("image/webp")), Some("image/webp"));
        assert_eq!(accepted(Gif, Some("image/gif")), Some("image/gif"));
        assert_eq!(accepted(Gif, Some("video/mp4")), Some("video/mp4"));
        assert_eq!(
            accepted(Video, Some("video/quicktime")),
            Some("video/quicktime")
        );
        assert_eq!(accepted(Video, Some("image/jpeg")), None);
        assert_eq!(accepted(Audio, Some("video/mp4")), Some("audio/mp4"));
        assert_eq!(accepted(Audio, Some("audio/ogg")), Some("audio/ogg"));
        assert_eq!(
            accepted(File, Some("application/pdf")),
            Some("application/pdf")
        );
        assert_eq!(accepted(File, None), Some("application/octet-stream"));
    }
}
