//! The background fetcher: copies each inbound media item from the network's URL (these
//! expire) under `DATA_DIR/media/`, checks what the bytes are, and makes the derivatives.
//! The ingest wakes it; failed downloads are tried again with a growing delay, a bounded
//! number of times.
//!
//! A webhook names the URL, so it is fetched as safely as an agent's image URL
//! (`uploads::fetch`): only over https from the network's own media hosts
//! ([`FACEBOOK_MEDIA_HOSTS`], [`X_MEDIA_HOSTS`]), every address vetted, every redirect
//! checked again. Plain http, and loopback or private addresses, only for the
//! hosts `--media-http-hosts` names (the sandbox). A URL refused so is never asked and
//! the item is `rejected`, saying why.

use super::decode::{self, Encoded};
use super::{MediaHandle, media_dir};
use crate::AppState;
use crate::connectors::Credentials;
use crate::connectors::twitter::OAuth1;
use crate::store::{MediaCopy, MediaDue, MediaStatus};
use crate::uploads::fetch::{GetError, SafeClient};
use crate::uploads::policy::HostRule;
use shared::Channel;
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

/// Where Facebook serves attachments and pictures: Meta's CDN (PLATFORMS.md, e.g.
/// `scontent-*.xx.fbcdn.net`, `lookaside.fbsbx.com`).
pub const FACEBOOK_MEDIA_HOSTS: &[&str] = &["*.fbcdn.net", "*.fbsbx.com"];
/// Where X serves media: images and previews, MP4s, and Direct Messages' media
/// (PLATFORMS.md).
pub const X_MEDIA_HOSTS: &[&str] = &["pbs.twimg.com", "video.twimg.com", "ton.twitter.com"];

/// The names a network's media may come from, with the hosts the settings add.
pub fn media_hosts(settings: &crate::config::ServeArgs, channel: Channel) -> HostRule {
    HostRule {
        https_hosts: Some(
            match channel {
                Channel::Facebook => FACEBOOK_MEDIA_HOSTS,
                Channel::Twitter => X_MEDIA_HOSTS,
            }
            .to_vec(),
        ),
        named: settings.media_http_hosts.clone(),
    }
}

/// Whether the network's own URL for a media item may be offered to the agent's browser
/// before (or instead of) our copy: the same names the fetcher asks.
pub fn offerable(settings: &crate::config::ServeArgs, channel: Channel, url: &str) -> bool {
    reqwest::Url::parse(url).is_ok_and(|u| media_hosts(settings, channel).refusal(&u).is_none())
}

impl MediaHandle {
    pub fn wake(&self) {
        self.0.notify_one();
    }
}

/// Copies what is due until the server stops.
pub fn spawn_fetcher(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let now = now_ms();
            match state.store.media_due(now, now + LEASE_MS, 10).await {
                Ok(due) => {
                    for d in due {
                        let span = tracing::info_span!("media", id = d.id);
                        copy_one(&state, d).instrument(span).await;
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

async fn copy_one(state: &AppState, due: MediaDue) {
    let dir = media_dir(&state.settings.store.data_dir);
    let outcome = match Source::for_due(state, &due) {
        Ok(source) => match copy(&source, &dir, &due).await {
            Ok(copy) => publish(&state.blobs, &copy).await.map(|()| copy),
            failed => failed,
        },
        Err(e) => Err(Failure::Gone(e.to_string())),
    };
    let store = &state.store;
    let counted = match &outcome {
        Ok(_) => "copied",
        Err(Failure::Transient(_)) if due.attempts + 1 < MAX_ATTEMPTS => "retried",
        Err(Failure::Transient(_) | Failure::Gone(_)) => "gone",
        Err(Failure::Rejected { .. }) => "rejected",
    };
    metrics::counter!("socialconnect_media_fetches_total", "outcome" => counted).increment(1);
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

/// Where an item's bytes are asked: by the safe fetcher under the network's media hosts,
/// signed for X's Direct Message media.
struct Source {
    client: SafeClient,
    rule: HostRule,
    dm_signer: Option<DmSigner>,
}

/// X serves the media of Direct Messages only to a GET signed with OAuth 1.0a by a
/// participant's access token ("Retrieving media" in X's Direct Message guides: the
/// `media_url` on `ton.twitter.com` "must be accessed by signing a request with the user's
/// access token"). The header is made only for X's own DM media URLs — asked by every hop
/// of a redirect again — never for another address, so the account's token signs nothing
/// else.
struct DmSigner {
    /// The X API base, whose `/1.1/ton/` serves the same media (the sandbox's).
    api: String,
    consumer_key: String,
    consumer_secret: String,
    token: String,
    token_secret: String,
}

impl Source {
    fn for_due(
        state: &AppState,
        due: &MediaDue,
    ) -> Result<Source, crate::connectors::NetworkError> {
        let channel = due.linked.channel;
        let mut dm_signer = None;
        let dm_media = |u: &str| {
            reqwest::Url::parse(u).is_ok_and(|u| DmSigner::is_dm_media(&state.settings, &u))
        };
        let needs_signing =
            dm_media(&due.source_url) || due.poster_url.as_deref().is_some_and(dm_media);
        if channel == Channel::Twitter
            && needs_signing
            && let Credentials::Twitter {
                consumer_key,
                consumer_secret,
                token,
                token_secret,
            } = Credentials::open(&state.settings, &state.cipher, &due.linked)?
        {
            dm_signer = Some(DmSigner {
                api: state.settings.twitter.twitter_api_url.clone(),
                consumer_key,
                consumer_secret,
                token,
                token_secret,
            });
        }
        Ok(Source {
            // Loopback and private addresses only for the hosts the settings name.
            client: state.fetchers.media.clone(),
            rule: media_hosts(&state.settings, channel),
            dm_signer,
        })
    }

    /// The `Authorization` header for one hop, where X needs one.
    fn authorization(&self, hop: &reqwest::Url) -> Option<String> {
        let s = self.dm_signer.as_ref()?;
        if !s.covers(hop) {
            return None;
        }
        let query: Vec<(String, String)> = hop.query_pairs().into_owned().collect();
        let params: Vec<(&str, &str)> = query
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let mut base = hop.clone();
        base.set_query(None);
        base.set_fragment(None);
        let signer = OAuth1 {
            consumer_key: &s.consumer_key,
            consumer_secret: &s.consumer_secret,
            token: &s.token,
            token_secret: &s.token_secret,
        };
        Some(signer.header("GET", base.as_str(), &params))
    }
}

impl DmSigner {
    fn is_dm_media(settings: &crate::config::ServeArgs, url: &reqwest::Url) -> bool {
        Self::dm_media(&settings.twitter.twitter_api_url, url)
    }

    fn covers(&self, url: &reqwest::Url) -> bool {
        Self::dm_media(&self.api, url)
    }

    fn dm_media(api: &str, url: &reqwest::Url) -> bool {
        let api = api.trim_end_matches('/');
        (url.scheme() == "https" && url.host_str() == Some("ton.twitter.com"))
            || url
                .as_str()
                .strip_prefix(api)
                .is_some_and(|rest| rest.starts_with("/1.1/ton/"))
    }
}

async fn copy(source: &Source, dir: &Path, due: &MediaDue) -> Result<MediaCopy, Failure> {
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(|e| Failure::Transient(format!("creating the media dir: {e}")))?;
    let (cap, time) = match due.kind {
        MediaKind::Video => (MAX_VIDEO_BYTES, Duration::from_secs(300)),
        _ => (MAX_BYTES, Duration::from_secs(60)),
    };
    let part = dir.join(format!("{}.part", due.id));
    let got = download(source, &due.source_url, cap, time, &part).await;
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
        match poster(source, dir, due.id, url).await {
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
    source: &Source,
    url: &str,
    cap: u64,
    time: Duration,
    to: &Path,
) -> Result<(u64, Vec<u8>), Failure> {
    let parsed = reqwest::Url::parse(url).map_err(|_| Failure::Gone("not a URL".into()))?;
    let transient = |e: reqwest::Error| Failure::Transient(e.without_url().to_string());
    let authorize = |hop: &reqwest::Url| source.authorization(hop);
    let mut res = source
        .client
        .get(&parsed, &source.rule, &authorize, Some(time))
        .await
        .map_err(|e| match e {
            // Never asked: the reason is kept, and the network's URL is not offered.
            GetError::Refused(why) => rejected(format!("not fetched: {why}")),
            GetError::Failed(why) => Failure::Transient(why),
        })?;
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
async fn poster(source: &Source, dir: &Path, id: i64, url: &str) -> Result<Encoded, String> {
    let part = dir.join(format!("{id}-poster.part"));
    let got = download(source, url, MAX_BYTES, Duration::from_secs(60), &part).await;
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
            let img = decode::decode_for(&data, format, decode::POSTER_BOX)?;
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
