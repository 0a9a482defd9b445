//! The mirror: each conversation of a brand connected to LiveEngage gets one LiveEngage
//! conversation, opened on its first consumer line (on the LiveEngage skill Home maps its
//! skill to, else none: LiveEngage's routing decides), and every consumer line published
//! there in order, its tag as a signifier (`[Public/Comment] …`), images copied from the
//! network as LiveEngage files, other media and shared links as links. Closing ours
//! closes theirs.
//!
//! The queue is the conversation's lines themselves: each line published is marked so, and
//! those not marked wait, in the transcript's order; what waits survives restarts, and
//! nothing is enqueued that could be lost between storing a line and enqueuing it. A conversation's work is claimed by one
//! instance at a time (with a lease, renewed while it runs). A call LiveEngage does not
//! take (an outage, a rate limit) is retried with back-off (LivePerson's advice: at least a
//! second after a 429, 5, 10, 15 s after a 5xx), the conversation's later lines waiting
//! behind it. Each line is marked published right after LiveEngage took it: a crash in
//! between publishes that line a second time.

use super::session::Session;
use crate::AppState;
use crate::connectors::liveengage::{LeFailure, Profile, Uploaded};
use crate::store::{LeLine, LeMedia, LeState, LeWork, StoreError};
use shared::liveengage::line_text;
use std::time::Duration;

/// Lines published per turn on a conversation (the next turn takes the rest at once).
const BATCH: i64 = 50;
/// How long an instance holds a conversation's mirror (renewed every third while working).
const LEASE: Duration = Duration::from_secs(60);
/// How long a line waits for its media to be copied before it goes with links instead.
const MEDIA_WAIT_MS: i64 = 30_000;
/// How soon a line waiting for its media is looked at again.
const MEDIA_POLL: Duration = Duration::from_secs(2);
/// How soon mirroring is tried again when it cannot go on as it is (credentials refused, a
/// secret that cannot be read): an admin has to act.
const STUCK_RETRY: Duration = Duration::from_secs(300);
/// Files LiveEngage takes: JPG, PNG or GIF, up to 3 MB.
const MAX_FILE_BYTES: i64 = 3 * 1024 * 1024;

/// Runs the mirror until the server stops.
pub fn spawn(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            while !state.stopping.is_stopping() {
                let now = crate::claims::now_ms();
                let due = match state.store.le_due(now, 20).await {
                    Ok(due) => due,
                    Err(e) => {
                        tracing::warn!(error = %e, "LiveEngage mirror: reading what is due failed");
                        break;
                    }
                };
                if due.is_empty() {
                    break;
                }
                for id in due {
                    if state.stopping.is_stopping() {
                        break;
                    }
                    turn(&state, id).await;
                }
            }
            let wake = async {
                tokio::select! {
                    _ = state.liveengage.woken() => {}
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            };
            if !state.stopping.idle(wake).await {
                break;
            }
        }
    })
}

/// What a turn did.
enum Progress {
    /// Everything due is done.
    Done,
    /// Look again after this (a line waits for its media).
    Later(Duration),
}

/// Why a turn stopped short.
#[derive(Debug)]
enum Failure {
    /// Try again with back-off.
    Transient {
        message: String,
        retry_after: Option<Duration>,
    },
    /// It cannot go on as it is: try again much later.
    Stuck(String),
}

impl From<LeFailure> for Failure {
    fn from(e: LeFailure) -> Self {
        match e {
            LeFailure::Transient {
                message,
                retry_after,
            } => Failure::Transient {
                message,
                retry_after,
            },
            // Refused again right after a fresh token: LiveEngage may be settling.
            LeFailure::AppToken | LeFailure::ConsumerToken => Failure::Transient {
                message: e.to_string(),
                retry_after: None,
            },
            LeFailure::Refused { .. } => Failure::Stuck(e.to_string()),
        }
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Failure::Transient {
            message: format!("storage: {e}"),
            retry_after: None,
        }
    }
}

/// The wait before the next try after `attempts` failed ones: at least a second after a
/// rate limit (or what LiveEngage asked), else 5 s more per attempt, up to a minute.
fn backoff(attempts: i64, retry_after: Option<Duration>) -> Duration {
    match retry_after {
        Some(d) => d.max(Duration::from_secs(1)),
        None => Duration::from_secs(5 * attempts.clamp(1, 12) as u64),
    }
}

/// Claims a conversation's mirror, works it, and records how it went.
async fn turn(state: &AppState, id: i64) {
    let owner = state.instance.as_str();
    let store = &state.store;
    let now = crate::claims::now_ms();
    match store
        .le_claim(id, owner, now, now + LEASE.as_millis() as i64)
        .await
    {
        Ok(true) => {}
        Ok(false) => return,
        Err(e) => {
            tracing::warn!(conversation = id, error = %e, "LiveEngage mirror: claiming failed");
            return;
        }
    }
    let w = match store.le_work(id, BATCH).await {
        Ok(Some(w)) => w,
        // Gone, or its brand disconnected from LiveEngage meanwhile.
        Ok(None) => {
            let _ = store.le_release(id, owner, true).await;
            return;
        }
        Err(e) => {
            tracing::warn!(conversation = id, error = %e, "LiveEngage mirror: reading its work failed");
            let _ = store.le_release(id, owner, false).await;
            return;
        }
    };
    let attempts = w.mirror.attempts;
    let outcome = crate::claims::renewing(work(state, &w), LEASE / 3, || async {
        let now = crate::claims::now_ms();
        if let Err(e) = store
            .le_claim(id, owner, now, now + LEASE.as_millis() as i64)
            .await
        {
            tracing::warn!(conversation = id, error = %e, "LiveEngage mirror: renewing the claim failed");
        }
    })
    .await;
    let now = crate::claims::now_ms();
    let recorded = match outcome {
        Ok(Progress::Done) => store.le_release(id, owner, true).await,
        Ok(Progress::Later(wait)) => {
            store
                .le_retry(
                    id,
                    owner,
                    attempts,
                    now + wait.as_millis() as i64,
                    "waiting for media",
                )
                .await
        }
        Err(Failure::Transient {
            message,
            retry_after,
        }) => {
            let wait = backoff(attempts + 1, retry_after);
            tracing::info!(conversation = id, attempt = attempts + 1, ?wait, %message, "LiveEngage mirror will try again");
            store
                .le_retry(
                    id,
                    owner,
                    attempts + 1,
                    now + wait.as_millis() as i64,
                    &message,
                )
                .await
        }
        Err(Failure::Stuck(message)) => {
            tracing::warn!(conversation = id, %message, "LiveEngage mirror cannot go on; trying again later");
            store
                .le_retry(
                    id,
                    owner,
                    attempts + 1,
                    now + STUCK_RETRY.as_millis() as i64,
                    &message,
                )
                .await
        }
    };
    if let Err(e) = recorded {
        tracing::warn!(conversation = id, error = %e, "LiveEngage mirror: recording a turn failed");
    }
}

/// Whether a line may go now: its media are copied (or failed), or it waited long enough.
fn ready(line: &LeLine, now_ms: i64) -> bool {
    line.media.iter().all(|m| m.status != "pending") || now_ms - line.received_at_ms > MEDIA_WAIT_MS
}

/// LiveEngage's file type for a copied image it takes.
fn file_type(m: &LeMedia) -> Option<&'static str> {
    if m.status != "stored" || m.stored_path.is_none() || m.bytes.is_none_or(|b| b > MAX_FILE_BYTES)
    {
        return None;
    }
    match m.mime.as_deref() {
        Some("image/jpeg") => Some("JPG"),
        Some("image/png") => Some("PNG"),
        Some("image/gif") => Some("GIF"),
        _ => None,
    }
}

/// A media item shown as a link: its kind and the network's address.
fn link_of(m: &LeMedia) -> String {
    format!(
        "{}: {}",
        m.kind,
        m.source_url.as_deref().unwrap_or("(not available)")
    )
}

/// A line made ready for LiveEngage: its text (with its signifier and links), and the
/// images to share as files.
struct Rendered {
    text: Option<String>,
    files: Vec<(Vec<u8>, &'static str, String)>,
    caption: String,
}

async fn work(state: &AppState, w: &LeWork) -> Result<Progress, Failure> {
    let id = w.conversation_id;
    let session = Session::new(state, &w.link).map_err(Failure::Stuck)?;
    let mut m = Mirror {
        state,
        session: &session,
        work: w,
        consumer: None,
        le_id: w.mirror.le_conversation_id.clone(),
        le_state: w.mirror.state,
    };
    if m.le_state == LeState::Closing {
        m.close().await?;
    }
    let now = crate::claims::now_ms();
    for line in &w.lines {
        if !ready(line, now) {
            return Ok(Progress::Later(MEDIA_POLL));
        }
        m.publish(line).await?;
        state
            .store
            .le_published(id, line.id, crate::claims::now_ms())
            .await?;
    }
    // Ours closed: theirs closes once every line there is published.
    if !w.open && m.le_state == LeState::Open && (w.lines.len() as i64) < BATCH {
        m.close().await?;
    }
    Ok(Progress::Done)
}

/// Runs a call with the app and consumer tokens (`$t`, a pair of `&str`), getting a token
/// again once when LiveEngage refuses it.
macro_rules! with_tokens {
    ($mirror:expr, $t:ident => $call:expr) => {{
        let (mut fresh_app, mut fresh_consumer) = (false, false);
        loop {
            let result = match $mirror.tokens(fresh_app, fresh_consumer).await {
                Ok((app, consumer)) => {
                    let $t = (app.as_str(), consumer.as_str());
                    $call.await
                }
                Err(e) => Err(e),
            };
            match result {
                Err(LeFailure::AppToken) if !fresh_app => fresh_app = true,
                Err(LeFailure::ConsumerToken) if !fresh_consumer => fresh_consumer = true,
                other => break other,
            }
        }
    }};
}

/// One turn on one conversation.
struct Mirror<'a> {
    state: &'a AppState,
    session: &'a Session<'a>,
    work: &'a LeWork,
    /// The consumer token, once opened or fetched this turn.
    consumer: Option<String>,
    le_id: Option<String>,
    le_state: LeState,
}

impl Mirror<'_> {
    /// The app token and the consumer's token, fresh when asked.
    async fn tokens(
        &mut self,
        fresh_app: bool,
        fresh_consumer: bool,
    ) -> Result<(String, String), LeFailure> {
        let app = self.session.app_token(fresh_app).await?;
        if !fresh_consumer {
            if let Some(c) = &self.consumer {
                return Ok((app, c.clone()));
            }
            if let Some(c) = self
                .work
                .mirror
                .consumer_token_sealed
                .as_deref()
                .and_then(|s| self.state.cipher.open(s).ok())
            {
                self.consumer = Some(c.clone());
                return Ok((app, c));
            }
        }
        let idp = self.session.host("idp").await?;
        // One LiveEngage consumer per conversation of ours: stable whatever the network
        // later tells us about the person, and naming nobody by their network id.
        let ext = format!(
            "socialconnect-{}-{}",
            self.work.account_id, self.work.conversation_id
        );
        let token = self.session.api().consumer_token(&idp, &app, &ext).await?;
        let sealed = self.state.cipher.seal(&token);
        if let Err(e) = self
            .state
            .store
            .le_set_consumer_token(self.work.conversation_id, &sealed)
            .await
        {
            // Kept for this turn; the next one asks the IdP again.
            tracing::warn!(conversation = self.work.conversation_id, error = %e, "storing a LiveEngage consumer token failed");
        }
        self.consumer = Some(token.clone());
        Ok((app, token))
    }

    /// Opens a LiveEngage conversation for ours.
    async fn open(&mut self) -> Result<(), Failure> {
        let w = self.work;
        let session = self.session;
        let host = session.host("asyncMessagingEnt").await?;
        let api = session.api();
        let name = w.consumer_name.as_deref().unwrap_or("").trim();
        let (first, last) = match name.split_once(' ') {
            Some((f, l)) => (Some(f), Some(l.trim())),
            None => ((!name.is_empty()).then_some(name), None),
        };
        let profile = Profile {
            social_id: &w.consumer_network_id,
            first_name: first,
            last_name: last,
        };
        let skill = w.skill.as_deref().and_then(|s| {
            w.link
                .skill_map
                .iter()
                .find(|(name, _)| name == s)
                .map(|(_, id)| id.as_str())
        });
        let le_id = with_tokens!(self, t => api.create_conversation(&host, t, &profile, skill))?;
        self.state
            .store
            .le_opened(
                w.conversation_id,
                w.account_id,
                &le_id,
                crate::claims::now_ms(),
            )
            .await?;
        tracing::info!(conversation = w.conversation_id, le_conversation = %le_id, "LiveEngage conversation opened");
        self.le_id = Some(le_id);
        self.le_state = LeState::Open;
        Ok(())
    }

    /// The line's text and files.
    async fn render(&self, line: &LeLine) -> Rendered {
        let mut links = Vec::new();
        let mut files = Vec::new();
        for m in &line.media {
            match (file_type(m), m.stored_path.as_deref()) {
                (Some(ft), Some(path)) => match self.state.blobs.read(path).await {
                    Ok(bytes) => files.push((bytes, ft, link_of(m))),
                    Err(e) => {
                        tracing::warn!(line = line.id, error = %e, "reading a media copy for LiveEngage");
                        links.push(link_of(m));
                    }
                },
                _ => links.push(link_of(m)),
            }
        }
        links.extend(line.links.iter().cloned());
        let text = (files.is_empty() || !line.text.trim().is_empty() || !links.is_empty())
            .then(|| line_text(line.tag, &line.text, &links));
        Rendered {
            text,
            files,
            caption: format!("[{}]", line.tag.as_str()),
        }
    }

    /// Publishes the parts of a line in the current LiveEngage conversation.
    async fn send(&mut self, le_id: &str, r: &Rendered) -> Result<(), LeFailure> {
        let session = self.session;
        let api = session.api();
        let host = session.host("asyncMessagingEnt").await?;
        if let Some(text) = &r.text {
            with_tokens!(self, t => api.publish_text(&host, t, le_id, text))?;
        }
        for (bytes, ft, link) in &r.files {
            let swift = session.host("swift").await?;
            let uploaded: Result<Uploaded, LeFailure> =
                with_tokens!(self, t => api.upload(&host, &swift, t, bytes.clone(), ft));
            match uploaded {
                Ok(file) => {
                    with_tokens!(self, t => api.publish_file(&host, t, le_id, &file, ft, &r.caption))?
                }
                // Not taken as a file: it goes as a link.
                Err(LeFailure::Refused { message, .. }) => {
                    tracing::info!(%message, "LiveEngage did not take a file; sent as a link");
                    let text = format!("{} {link}", r.caption);
                    with_tokens!(self, t => api.publish_text(&host, t, le_id, &text))?
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Publishes one consumer line: in the current LiveEngage conversation, or a new one.
    async fn publish(&mut self, line: &LeLine) -> Result<(), Failure> {
        let rendered = self.render(line).await;
        for first_try in [true, false] {
            if self.le_state != LeState::Open {
                self.open().await?;
            }
            let le_id = self.le_id.clone().unwrap_or_default();
            match self.send(&le_id, &rendered).await {
                Ok(()) => return Ok(()),
                // Most likely closed in LiveEngage without our hearing of it: the line
                // opens a new conversation.
                Err(LeFailure::Refused { message, .. }) if first_try => {
                    tracing::info!(conversation = self.work.conversation_id, le_conversation = %le_id, %message, "LiveEngage refused a line; opening a new conversation for it");
                    self.state
                        .store
                        .le_closed(self.work.conversation_id, &le_id)
                        .await?;
                    self.le_state = LeState::None;
                    self.le_id = None;
                }
                Err(LeFailure::Refused { message, .. }) => {
                    tracing::warn!(line = line.id, %message, "LiveEngage refused a line twice; it is not mirrored");
                    return Ok(());
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Closes the current LiveEngage conversation (finishing a close asked before).
    async fn close(&mut self) -> Result<(), Failure> {
        let id = self.work.conversation_id;
        let Some(le_id) = self.le_id.clone() else {
            self.le_state = LeState::None;
            return Ok(());
        };
        // Its close notification is then ours, and closes nothing here.
        self.state.store.le_closing(id, &le_id).await?;
        let session = self.session;
        let api = session.api();
        let host = session.host("asyncMessagingEnt").await?;
        match with_tokens!(self, t => api.close(&host, t, &le_id)) {
            // Refused: closed already (by its agent, say) or gone.
            Ok(()) | Err(LeFailure::Refused { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        self.state.store.le_closed(id, &le_id).await?;
        tracing::info!(conversation = id, le_conversation = %le_id, "LiveEngage conversation closed");
        self.le_id = None;
        self.le_state = LeState::None;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn media(status: &str, mime: &str, bytes: i64) -> LeMedia {
        LeMedia {
            kind: "image".into(),
            mime: Some(mime.into()),
            bytes: Some(bytes),
            source_url: Some("https://scontent.fbcdn.net/x.jpg".into()),
            stored_path: Some("media/x".into()),
            status: status.into(),
        }
    }

    #[test]
    fn only_copied_images_liveengage_takes_go_as_files() {
        assert_eq!(file_type(&media("stored", "image/jpeg", 10)), Some("JPG"));
        assert_eq!(file_type(&media("stored", "image/png", 10)), Some("PNG"));
        assert_eq!(file_type(&media("stored", "image/gif", 10)), Some("GIF"));
        assert_eq!(file_type(&media("stored", "image/webp", 10)), None);
        assert_eq!(file_type(&media("pending", "image/jpeg", 10)), None);
        assert_eq!(file_type(&media("stored", "image/jpeg", 4 << 20)), None);
        assert_eq!(
            link_of(&media("failed", "video/mp4", 1)),
            "image: https://scontent.fbcdn.net/x.jpg"
        );
    }

    #[test]
    fn a_line_waits_for_its_media_but_not_for_ever() {
        let mut line = LeLine {
            id: 1,
            tag: shared::Tag::Private,
            text: "hi".into(),
            received_at_ms: 1_000,
            media: vec![media("pending", "image/jpeg", 1)],
            links: Vec::new(),
        };
        assert!(!ready(&line, 2_000));
        assert!(ready(&line, 1_000 + MEDIA_WAIT_MS + 1));
        line.media[0].status = "failed".into();
        assert!(ready(&line, 2_000));
    }

    #[test]
    fn backoff_follows_livepersons_advice() {
        assert_eq!(backoff(1, None), Duration::from_secs(5));
        assert_eq!(backoff(2, None), Duration::from_secs(10));
        assert_eq!(backoff(3, None), Duration::from_secs(15));
        assert_eq!(backoff(50, None), Duration::from_secs(60));
        assert_eq!(
            backoff(1, Some(Duration::from_millis(10))),
            Duration::from_secs(1)
        );
        assert_eq!(
            backoff(1, Some(Duration::from_secs(3))),
            Duration::from_secs(3)
        );
    }
}
