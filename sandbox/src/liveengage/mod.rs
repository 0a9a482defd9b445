//! The simulated LiveEngage (LivePerson's Conversational Cloud), as a connector sees it:
//! the Connector API (the Domain API, Sentinel's app tokens, the IdP's consumer tokens, the
//! messaging CONVERSATION and SEND endpoints, Swift's file storage) and its signed webhooks
//! back; and the agent's side of each conversation (write, close), which tests and the
//! sandbox's agent page play.
//!
//! Layout: [`api`] serves the Connector API; [`agent`] the agent workspace page that hosts
//! the brand's widget, and the widget SDK script; this module holds the state, the accounts
//! (one "installed connector app" per account: client id and secret), the agent's actions,
//! the reads tests assert on, and webhook delivery.
//!
//! Hosts: the Domain API is at `{url}/liveengage/domain`; the hosts it names are
//! `{host}/liveengage/{service}` (the sandbox's host and port, no scheme, as LivePerson's
//! `baseURI` is a bare host), for `sentinel`, `idp`, `asyncMessagingEnt` and `swift`.
//!
//! Webhooks go to the app's endpoint (`{callback}/webhooks/liveengage` unless a test sets
//! another), signed `x-liveperson-signature: sha1=<base64 HMAC-SHA1(client secret, body)>`
//! (`sha256=` for an account set so), with `x-liveperson-account-id` and
//! `x-liveperson-client-id`. Deliveries of one conversation go one after the other, in the
//! order the events happened, each retried until accepted (200 or 201) like LivePerson's
//! retry based on time to live; so a delivery the product answered late arrives again.

pub mod agent;
pub mod api;

use crate::common::{Fault, Shared, now_millis, random_alnum, random_digits, random_hex};
use axum::Router;
use axum::routing::{get, post, put};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::mpsc;

/// How long an app token (AppJWT) is valid: one hour.
pub const APP_TOKEN_TTL_MS: u64 = 3_600_000;
/// The services the Domain API knows.
pub const SERVICES: [&str; 4] = ["sentinel", "idp", "asyncMessagingEnt", "swift"];

/// Fault-table endpoints, under network `"liveengage"` (see [`crate::common::Faults`]);
/// `"webhook"` holds back (`Fault::DropWebhook`) or delays webhooks.
pub mod endpoints {
    pub const DOMAIN: &str = "GET /api/account/{accountId}/service/{service}/baseURI.json";
    pub const APP_TOKEN: &str = "POST /sentinel/api/account/{accountId}/app/token";
    pub const CONSUMER_TOKEN: &str = "POST /api/account/{accountId}/consumer";
    pub const CONVERSATION: &str = "POST /api/account/{accountId}/messaging/consumer/conversation";
    pub const SEND: &str = "POST /api/account/{accountId}/messaging/consumer/conversation/send";
    pub const UPLOAD: &str = "PUT /{relativePath}";
    pub const WEBHOOK: &str = "webhook";
}

/// A LiveEngage account with the connector app installed in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Account {
    /// The LivePerson site id.
    pub id: String,
    pub client_id: String,
    pub client_secret: String,
}

/// Who wrote a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Role {
    #[serde(rename = "CONSUMER")]
    Consumer,
    #[serde(rename = "ASSIGNED_AGENT")]
    Agent,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Consumer => "CONSUMER",
            Role::Agent => "ASSIGNED_AGENT",
        }
    }
}

/// A file shared in a conversation (`hosted/file`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostedFile {
    pub relative_path: String,
    /// `JPG`, `JPEG`, `PNG` or `GIF`.
    pub file_type: String,
    pub caption: Option<String>,
}

/// One line of a conversation, as the agent sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Line {
    pub sequence: u64,
    pub role: Role,
    /// The text of a `text/plain` line.
    pub text: Option<String>,
    pub file: Option<HostedFile>,
    /// Milliseconds since the epoch.
    pub at: u64,
}

/// A messaging conversation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Conversation {
    pub id: String,
    pub account_id: String,
    /// LivePerson's id for the consumer.
    pub consumer_id: String,
    /// The connector's id for the consumer (`ext_consumer_id`).
    pub ext_consumer_id: String,
    pub skill_id: Option<String>,
    pub open: bool,
    /// `userprofile.SetUserProfile`'s `authenticatedData.lp_sdes`.
    pub sdes: Value,
    pub lines: Vec<Line>,
    /// Set once an agent wrote.
    pub agent_id: Option<String>,
    pub started: u64,
}

#[derive(Debug, Clone)]
pub(crate) struct AccountRec {
    pub account: Account,
    pub webhook_url: Option<String>,
    pub sha256: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct AppToken {
    pub account_id: String,
    pub expires: u64,
}

#[derive(Debug, Clone)]
pub(crate) struct ConsumerRec {
    pub id: String,
    pub account_id: String,
    pub ext_id: String,
}

/// An upload URL handed out by `ms.GenerateURLForUploadFile`.
#[derive(Debug, Clone)]
pub(crate) struct UploadSlot {
    pub sig: String,
    pub expires_secs: u64,
    pub file_type: String,
}

#[derive(Default)]
pub(crate) struct LeState {
    pub accounts: Vec<AccountRec>,
    pub app_tokens: HashMap<String, AppToken>,
    /// Consumer token → consumer id.
    pub consumer_tokens: HashMap<String, String>,
    pub consumers: Vec<ConsumerRec>,
    pub conversations: Vec<Conversation>,
    pub slots: HashMap<String, UploadSlot>,
    /// Stored files by relative path: (file type, bytes).
    pub files: HashMap<String, (String, Vec<u8>)>,
    /// Every webhook body sent, by (conversation, sequence), for redelivery.
    pub sent: HashMap<(String, u64), String>,
    /// The widget the agent workspace hosts, when not the product's `/widget`.
    pub widget_url: Option<String>,
    /// Where people reach the agent workspace and its SDK, when not the sandbox's URL
    /// (its HTTPS origin, see `Sandbox::serve_https`).
    pub workspace_base: Option<String>,
}

impl LeState {
    pub fn account(&self, id: &str) -> Option<&AccountRec> {
        self.accounts.iter().find(|a| a.account.id == id)
    }
    pub fn conversation_mut(&mut self, id: &str) -> Option<&mut Conversation> {
        self.conversations.iter_mut().find(|c| c.id == id)
    }
}

/// One webhook to deliver, in its conversation's turn.
struct Outgoing {
    account_id: String,
    body: String,
}

#[derive(Clone)]
pub struct LiveEngage {
    shared: Shared,
    state: Arc<Mutex<LeState>>,
    /// One sender per conversation; its task delivers that conversation's webhooks in order.
    queues: Arc<Mutex<HashMap<String, mpsc::UnboundedSender<Outgoing>>>>,
}

impl LiveEngage {
    /// LiveEngage with one account, `account`, whose connector app is installed.
    pub fn new(shared: Shared, account: Account) -> Self {
        let le = LiveEngage {
            shared,
            state: Arc::default(),
            queues: Arc::default(),
        };
        le.add_account(account);
        le
    }

    /// Routes below `/liveengage`.
    pub fn router(&self) -> Router {
        Router::new()
            .route(
                "/domain/api/account/{account}/service/{service}/baseURI.json",
                get(api::domain),
            )
            .route(
                "/sentinel/sentinel/api/account/{account}/app/token",
                post(api::app_token),
            )
            .route(
                "/idp/api/account/{account}/consumer",
                post(api::consumer_token),
            )
            .route(
                "/asyncMessagingEnt/api/account/{account}/messaging/consumer/conversation",
                post(api::create_conversation),
            )
            .route(
                "/asyncMessagingEnt/api/account/{account}/messaging/consumer/conversation/send",
                post(api::send),
            )
            .route("/swift/{*path}", put(api::upload).get(api::download))
            .route("/agent", get(agent::to_page))
            .route("/agent/", get(agent::page))
            .route("/agent/workspace.js", get(agent::workspace_js))
            .route("/agent/workspace.css", get(agent::workspace_css))
            .route("/webagent/client-SDK.js", get(agent::sdk_js))
            .route("/agent/api/conversations", get(api::agent_list))
            .route(
                "/agent/api/conversations/{id}/messages",
                post(api::agent_write),
            )
            .route(
                "/agent/api/conversations/{id}/close",
                post(api::agent_close),
            )
            .layer(axum::extract::DefaultBodyLimit::max(4 * 1024 * 1024))
            .with_state(self.clone())
    }

    /// `SOCIALCONNECT_LIVEENGAGE_DOMAIN_URL`: the Domain API's base.
    pub fn domain_url(&self) -> String {
        format!("{}/liveengage/domain", self.shared.url)
    }

    /// The bare host (no scheme) the Domain API names for `service`.
    pub fn host(&self, service: &str) -> String {
        let host = self
            .shared
            .url
            .trim_start_matches("http://")
            .trim_start_matches("https://");
        format!("{host}/liveengage/{service}")
    }

    /// The agent workspace page, hosting the widget (see [`agent`]).
    pub fn workspace_url(&self) -> String {
        format!("{}{}", self.workspace_origin(), agent::WORKSPACE_PATH)
    }

    /// `SOCIALCONNECT_LIVEENGAGE_SDK_URL`: the agent workspace widget SDK script.
    pub fn sdk_url(&self) -> String {
        format!("{}{}", self.workspace_origin(), agent::SDK_PATH)
    }

    /// The origin of the agent workspace page (the sandbox's, or its HTTPS one once
    /// [`LiveEngage::serve_workspace_at`] named it): what the product's
    /// `SOCIALCONNECT_FRAME_ANCESTORS` must list for the page to frame its widget.
    pub fn workspace_origin(&self) -> String {
        let base = self.lock().workspace_base.clone();
        base.unwrap_or_else(|| self.shared.url.to_string())
            .trim_end_matches('/')
            .to_owned()
    }

    /// People reach the agent workspace and its SDK at `origin` (the same routes served
    /// there, e.g. over HTTPS, as LiveEngage's workspace is).
    pub fn serve_workspace_at(&self, origin: &str) {
        self.lock().workspace_base = Some(origin.to_owned());
    }

    /// The widget the agent workspace hosts in its iframe: set with
    /// [`LiveEngage::set_widget_url`], else the product's `{callback}/widget`.
    pub fn widget_url(&self) -> String {
        self.lock()
            .widget_url
            .clone()
            .unwrap_or_else(|| format!("{}/widget", self.shared.callback))
    }

    /// Hosts another widget (the widget settings of LiveEngage's agent workspace).
    pub fn set_widget_url(&self, url: &str) {
        self.lock().widget_url = Some(url.to_owned());
    }

    /// The first account (the one the sandbox starts with).
    pub fn account(&self) -> Account {
        self.lock().accounts[0].account.clone()
    }

    /// Another account with the connector app installed.
    pub fn add_account(&self, account: Account) {
        self.lock().accounts.push(AccountRec {
            account,
            webhook_url: None,
            sha256: false,
        });
    }

    /// Where the app's webhooks go (default `{callback}/webhooks/liveengage`).
    pub fn set_webhook_url(&self, account_id: &str, url: &str) {
        if let Some(a) = self
            .lock()
            .accounts
            .iter_mut()
            .find(|a| a.account.id == account_id)
        {
            a.webhook_url = Some(url.to_owned());
        }
    }

    /// Signs the account's webhooks with SHA-256 instead of SHA-1 (LivePerson does on
    /// request).
    pub fn sign_with_sha256(&self, account_id: &str, on: bool) {
        if let Some(a) = self
            .lock()
            .accounts
            .iter_mut()
            .find(|a| a.account.id == account_id)
        {
            a.sha256 = on;
        }
    }

    /// Fault injection (shared with the other networks); endpoints in [`endpoints`].
    pub fn faults(&self) -> &crate::common::Faults {
        &self.shared.faults
    }

    /// Every API call received (all networks).
    pub fn calls(&self) -> &crate::common::CallLog {
        &self.shared.calls
    }

    /// Webhook delivery attempts (all networks).
    pub fn webhooks(&self) -> &crate::common::Webhooks {
        &self.shared.webhooks
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, LeState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn shared(&self) -> &Shared {
        &self.shared
    }

    /// Every app token issued so far expires now (as if the hour had passed).
    pub fn expire_app_tokens(&self) {
        for t in self.lock().app_tokens.values_mut() {
            t.expires = 0;
        }
    }

    // ----- reads for assertions and the agent page ---------------------------------------

    /// Every conversation of every account, oldest first.
    pub fn conversations(&self) -> Vec<Conversation> {
        self.lock().conversations.clone()
    }

    pub fn conversation(&self, id: &str) -> Option<Conversation> {
        self.lock()
            .conversations
            .iter()
            .find(|c| c.id == id)
            .cloned()
    }

    /// A stored file's type and bytes, by its relative path.
    pub fn file(&self, relative_path: &str) -> Option<(String, Vec<u8>)> {
        self.lock().files.get(relative_path).cloned()
    }

    /// Waits (polling) until a conversation satisfies `pred`, up to `timeout`.
    pub async fn wait_for(
        &self,
        timeout: Duration,
        pred: impl Fn(&Conversation) -> bool,
    ) -> Option<Conversation> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(c) = self.conversations().into_iter().find(|c| pred(c)) {
                return Some(c);
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The bodies of the LiveEngage webhooks the product accepted (200 or 201), parsed,
    /// in order.
    pub fn delivered_webhooks(&self) -> Vec<Value> {
        self.shared
            .webhooks
            .deliveries()
            .into_iter()
            .filter(|d| d.network == "liveengage" && matches!(d.status, Some(200 | 201)))
            .filter_map(|d| serde_json::from_str(&d.body).ok())
            .collect()
    }

    // ----- the agent's side --------------------------------------------------------------

    /// The agent writes `text` in an open conversation: the line gets the conversation's
    /// next sequence and goes to the app's webhook as an `ms.MessagingEventNotification`
    /// from the `ASSIGNED_AGENT` (the first time, after a conversation change naming the
    /// agent). Returns the sequence.
    pub fn agent_says(&self, conversation_id: &str, text: &str) -> Result<u64, String> {
        let mut st = self.lock();
        let c = st
            .conversation_mut(conversation_id)
            .ok_or_else(|| format!("no conversation {conversation_id}"))?;
        if !c.open {
            return Err("the conversation is closed".into());
        }
        if text.trim().is_empty() {
            return Err("write something".into());
        }
        let mut notes = Vec::new();
        if c.agent_id.is_none() {
            c.agent_id = Some(agent_id(&c.account_id));
            notes.push(change_notification(c));
        }
        let line = push_line(c, Role::Agent, Some(text.to_owned()), None);
        let account = c.account_id.clone();
        let id = c.id.clone();
        let agent = c.agent_id.clone().unwrap_or_default();
        let content = json!({"type": "ContentEvent", "contentType": "text/plain",
            "message": text});
        notes.push(messaging_notification(&id, &line, &agent, content));
        drop(st);
        for body in notes {
            self.notify(&account, &id, Some(line.sequence), body);
        }
        Ok(line.sequence)
    }

    /// The agent closes the conversation: the app hears of it as a conversation change
    /// with state `CLOSE`.
    pub fn agent_closes(&self, conversation_id: &str) -> Result<(), String> {
        let (account, body) = {
            let mut st = self.lock();
            let c = st
                .conversation_mut(conversation_id)
                .ok_or_else(|| format!("no conversation {conversation_id}"))?;
            if !c.open {
                return Err("the conversation is closed already".into());
            }
            c.open = false;
            (c.account_id.clone(), change_notification(c))
        };
        self.notify(&account, conversation_id, None, body);
        Ok(())
    }

    /// Sends the webhook of the line `sequence` again, exactly as first sent (LivePerson
    /// retries a delivery whose answer it did not get in time).
    pub fn deliver_again(&self, conversation_id: &str, sequence: u64) -> Result<(), String> {
        let (account, body) = {
            let st = self.lock();
            let body = st
                .sent
                .get(&(conversation_id.to_owned(), sequence))
                .cloned()
                .ok_or_else(|| format!("no webhook for {conversation_id}#{sequence}"))?;
            let account = st
                .conversations
                .iter()
                .find(|c| c.id == conversation_id)
                .map(|c| c.account_id.clone())
                .unwrap_or_default();
            (account, body)
        };
        self.enqueue(&account, conversation_id, body);
        Ok(())
    }

    /// The headers LiveEngage signs a webhook body with, for the account `account_id`.
    pub fn signature_headers(&self, account_id: &str, body: &[u8]) -> Vec<(&'static str, String)> {
        let st = self.lock();
        let Some(a) = st.account(account_id) else {
            return Vec::new();
        };
        signature_headers(&a.account, a.sha256, body)
    }

    // ----- webhooks ------------------------------------------------------------------

    /// Queues a notification of `conversation_id`; one with a `sequence` is kept for
    /// [`LiveEngage::deliver_again`].
    pub(crate) fn notify(
        &self,
        account_id: &str,
        conversation_id: &str,
        sequence: Option<u64>,
        body: Value,
    ) {
        let body = body.to_string();
        if let Some(seq) = sequence {
            self.lock()
                .sent
                .insert((conversation_id.to_owned(), seq), body.clone());
        }
        self.enqueue(account_id, conversation_id, body);
    }

    fn enqueue(&self, account_id: &str, conversation_id: &str, body: String) {
        let outgoing = Outgoing {
            account_id: account_id.to_owned(),
            body,
        };
        let mut queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        let tx = queues
            .entry(conversation_id.to_owned())
            .or_insert_with(|| {
                let (tx, rx) = mpsc::unbounded_channel();
                tokio::spawn(self.clone().deliver_in_order(rx));
                tx
            })
            .clone();
        drop(queues);
        let _ = tx.send(outgoing);
    }

    /// Delivers one conversation's webhooks one after the other, each until accepted or
    /// out of attempts.
    async fn deliver_in_order(self, mut rx: mpsc::UnboundedReceiver<Outgoing>) {
        while let Some(o) = rx.recv().await {
            let mut delay = Duration::ZERO;
            let mut dropped = false;
            for fault in self.shared.faults.take("liveengage", endpoints::WEBHOOK) {
                match fault {
                    Fault::DropWebhook => dropped = true,
                    Fault::Latency(d) => delay += d,
                    _ => {}
                }
            }
            if dropped {
                continue;
            }
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            let (url, headers) = {
                let st = self.lock();
                let Some(a) = st.account(&o.account_id) else {
                    continue;
                };
                let url = a
                    .webhook_url
                    .clone()
                    .unwrap_or_else(|| format!("{}/webhooks/liveengage", self.shared.callback));
                (
                    url,
                    signature_headers(&a.account, a.sha256, o.body.as_bytes()),
                )
            };
            let _ = self
                .shared
                .webhooks
                .send("liveengage", url, o.body, headers)
                .await;
        }
    }
}

impl Account {
    /// An account with a random site id and connector app credentials.
    pub fn random() -> Self {
        Account {
            id: random_digits(8),
            client_id: format!(
                "{}-{}-{}-{}-{}",
                random_hex(4),
                random_hex(2),
                random_hex(2),
                random_hex(2),
                random_hex(6)
            ),
            client_secret: random_alnum(26),
        }
    }
}

/// `x-liveperson-account-id`, `x-liveperson-client-id` and `x-liveperson-signature`
/// (`sha1=` or `sha256=` + base64 HMAC of the raw body with the client secret).
pub fn signature_headers(
    account: &Account,
    sha256: bool,
    body: &[u8],
) -> Vec<(&'static str, String)> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let key = account.client_secret.as_bytes();
    let signature = if sha256 {
        format!(
            "sha256={}",
            b64.encode(crate::common::hmac_sha256(key, body))
        )
    } else {
        let mut mac = Hmac::<sha1::Sha1>::new_from_slice(key).expect("any key length");
        mac.update(body);
        format!("sha1={}", b64.encode(mac.finalize().into_bytes()))
    };
    vec![
        ("x-liveperson-account-id", account.id.clone()),
        ("x-liveperson-client-id", account.client_id.clone()),
        ("x-liveperson-signature", signature),
    ]
}

/// The id of an account's agent (one agent answers in the sandbox).
fn agent_id(account_id: &str) -> String {
    format!("{account_id}.agent-1")
}

/// Appends a line with the conversation's next sequence.
pub(crate) fn push_line(
    c: &mut Conversation,
    role: Role,
    text: Option<String>,
    file: Option<HostedFile>,
) -> Line {
    let line = Line {
        sequence: c.lines.len() as u64,
        role,
        text,
        file,
        at: now_millis(),
    };
    c.lines.push(line.clone());
    line
}

/// `ms.MessagingEventNotification` for one line.
pub(crate) fn messaging_notification(
    conversation_id: &str,
    line: &Line,
    originator: &str,
    event: Value,
) -> Value {
    json!({
        "kind": "notification",
        "type": "ms.MessagingEventNotification",
        "body": {"changes": [{
            "sequence": line.sequence,
            "originatorId": originator,
            "originatorMetadata": {"id": originator, "role": line.role.as_str()},
            "serverTimestamp": line.at,
            "event": event,
            "dialogId": conversation_id,
            "conversationId": conversation_id,
        }]},
    })
}

/// `cqm.ExConversationChangeNotification` with the conversation's whole state.
pub(crate) fn change_notification(c: &Conversation) -> Value {
    let mut participants = vec![json!({"id": c.consumer_id, "role": "CONSUMER"})];
    if let Some(agent) = &c.agent_id {
        participants.insert(0, json!({"id": agent, "role": "ASSIGNED_AGENT"}));
    }
    json!({
        "kind": "notification",
        "type": "cqm.ExConversationChangeNotification",
        "body": {"changes": [{
            "type": "UPSERT",
            "result": {
                "convId": c.id,
                "conversationDetails": {
                    "participants": participants,
                    "brandId": c.account_id,
                    "skillId": c.skill_id.clone().unwrap_or_else(|| "-1".into()),
                    "state": if c.open { "OPEN" } else { "CLOSE" },
                    "startTs": c.started,
                    "metaDataLastUpdateTs": now_millis(),
                },
            },
        }]},
    })
}

/// A conversation id, shaped like LivePerson's (a UUID).
pub(crate) fn new_conversation_id() -> String {
    format!(
        "{}-{}-{}-{}-{}",
        random_hex(4),
        random_hex(2),
        random_hex(2),
        random_hex(2),
        random_hex(6)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_base64_hmacs_of_the_raw_body() {
        let account = Account {
            id: "1".into(),
            client_id: "c".into(),
            client_secret: "s".into(),
        };
        let sha1 = signature_headers(&account, false, b"{}");
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut mac = Hmac::<sha1::Sha1>::new_from_slice(b"s").unwrap();
        mac.update(b"{}");
        assert_eq!(
            sha1[2].1,
            format!("sha1={}", b64.encode(mac.finalize().into_bytes()))
        );
        let sha256 = signature_headers(&account, true, b"{}");
        assert!(sha256[2].1.starts_with("sha256=") && sha256[2].1.len() == 7 + 44);
        assert_eq!(sha1[0], ("x-liveperson-account-id", "1".into()));
        assert_eq!(sha1[1], ("x-liveperson-client-id", "c".into()));
    }

    #[test]
    fn sequences_count_every_line_of_a_conversation() {
        let mut c = Conversation {
            id: "x".into(),
            account_id: "1".into(),
            consumer_id: "k".into(),
            ext_consumer_id: "e".into(),
            skill_id: None,
            open: true,
            sdes: Value::Null,
            lines: Vec::new(),
            agent_id: None,
            started: 0,
        };
        assert_eq!(
            push_line(&mut c, Role::Consumer, Some("a".into()), None).sequence,
            0
        );
        assert_eq!(
            push_line(&mut c, Role::Agent, Some("b".into()), None).sequence,
            1
        );
    }
}
