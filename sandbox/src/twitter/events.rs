//! Webhook deliveries: the CRC, X Activity API envelopes and Account Activity payloads.
//!
//! Sources: X docs `x-api/webhooks/introduction` (CRC: `response_token` = `sha256=` +
//! base64 HMAC-SHA256 of `crc_token` keyed by the consumer secret; every POST signed in
//! `x-twitter-webhooks-signature` the same way over the raw body), `x-api/activity/
//! event-payloads` (envelope `{"data":{event_uuid, filter, event_type, tag, payload,
//! includes}}`) and `enterprise/account-activity-api/guides/account-activity-data-objects`
//! (`for_user_id`, `tweet_create_events`, `direct_message_events`, `user_event`).

use super::{Dm, Format, State, Tweet, Twitter, iso, rules};
use crate::common::{Fault, hmac_sha256, now_millis, random_digits};
use base64::Engine;
use serde_json::{Value, json};

/// Event types that need the user's authorisation of the app.
pub fn is_private(event_type: &str) -> bool {
    matches!(event_type, "dm.received" | "dm.sent" | "oauth.revoke")
}

pub const EVENT_TYPES: &[&str] = &[
    "post.create",
    "post.delete",
    "post.mention.create",
    "post.reply.create",
    "dm.received",
    "dm.sent",
    "oauth.revoke",
    "profile.update.bio",
    "profile.update.profile_picture",
    "profile.update.banner_picture",
    "profile.update.screenname",
    "profile.update.geo",
    "profile.update.url",
    "profile.update.verified_badge",
    "follow.follow",
    "follow.unfollow",
];

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

impl Twitter {
    pub(crate) fn crc_response(&self, token: &str) -> String {
        format!(
            "sha256={}",
            b64(&hmac_sha256(
                self.consumer_secret.as_bytes(),
                token.as_bytes()
            ))
        )
    }

    /// Runs the CRC against `url`: a 200 with the right `response_token` passes.
    pub(crate) async fn crc(&self, url: &str) -> Result<(), String> {
        let token = crate::common::random_alnum(32);
        let sep = if url.contains('?') { '&' } else { '?' };
        let res = self
            .http
            .get(format!("{url}{sep}crc_token={token}"))
            .send()
            .await
            .map_err(|e| format!("CRC request failed: {e}"))?;
        if res.status().as_u16() != 200 {
            return Err(format!("CRC answered {}", res.status().as_u16()));
        }
        let body: Value = res
            .json()
            .await
            .map_err(|_| "CRC response is not JSON".to_owned())?;
        let got = body["response_token"].as_str().unwrap_or_default();
        if crate::common::same(got, &self.crc_response(&token)) {
            Ok(())
        } else {
            Err("CRC response_token does not match".to_owned())
        }
    }

    /// Sends one signed delivery, honouring the `"webhook"` faults.
    fn send_signed(&self, url: String, body: String) {
        let faults = self.shared.faults.take("twitter", "webhook");
        if faults.contains(&Fault::DropWebhook) {
            return;
        }
        let delay = faults.iter().find_map(|f| match f {
            Fault::Latency(d) => Some(*d),
            _ => None,
        });
        let sig = format!(
            "sha256={}",
            b64(&hmac_sha256(
                self.consumer_secret.as_bytes(),
                body.as_bytes()
            ))
        );
        let headers = vec![("x-twitter-webhooks-signature", sig)];
        let webhooks = self.shared.webhooks.clone();
        match delay {
            Some(d) => {
                tokio::spawn(async move {
                    tokio::time::sleep(d).await;
                    let _ = webhooks.send("twitter", url, body, headers).await;
                });
            }
            None => {
                webhooks.send("twitter", url, body, headers);
            }
        }
    }

    pub(super) fn webhook_url(st: &State, id: Option<&str>) -> Option<String> {
        st.webhooks
            .iter()
            .filter(|w| w.valid)
            .find(|w| id.is_none_or(|id| w.id == id))
            .map(|w| w.url.clone())
    }

    /// Delivers an XAA event for `user_id` to every matching subscription.
    fn deliver_xaa(
        &self,
        st: &State,
        user_id: &str,
        event_type: &str,
        payload: &Value,
        includes: &Value,
    ) {
        if Self::format_of(st, user_id) != Format::Xaa {
            return;
        }
        for sub in st
            .xaa_subs
            .iter()
            .filter(|s| s.user_id == user_id && s.event_type == event_type)
        {
            let Some(url) = Self::webhook_url(st, sub.webhook_id.as_deref()) else {
                continue;
            };
            let body = json!({"data": {
                "event_uuid": random_digits(19),
                "filter": {"user_id": user_id},
                "event_type": event_type,
                "tag": sub.tag,
                "payload": payload,
                "includes": includes,
            }});
            self.send_signed(url, body.to_string());
        }
    }

    /// Delivers an AAA payload for `user_id` to every webhook it is subscribed on.
    fn deliver_aaa(&self, st: &State, user_id: &str, mut body: Value) {
        if Self::format_of(st, user_id) != Format::Aaa {
            return;
        }
        body["for_user_id"] = json!(user_id);
        for (wid, _) in st.aaa_subs.iter().filter(|(_, u)| u == user_id) {
            if let Some(url) = Self::webhook_url(st, Some(wid)) {
                self.send_signed(url, body.to_string());
            }
        }
    }

    /// Fires the events a new post causes.
    pub(crate) fn emit_tweet(&self, t: &Tweet) {
        let st = self.lock();
        let Some(author) = st.users.get(&t.author_id) else {
            return;
        };
        let payload = self.v2_post(&st, t);
        let includes = self.v2_includes(&st, t);
        let aaa = json!({"tweet_create_events": [self.v1_tweet(&st, t)]});
        // The author's own post.
        self.deliver_xaa(&st, &author.id, "post.create", &payload, &includes);
        self.deliver_aaa(&st, &author.id, aaa.clone());
        // Posts of protected accounts are not delivered to others (PLATFORMS.md).
        if author.protected {
            return;
        }
        let mentioned: Vec<String> = rules::mentions(&t.text)
            .into_iter()
            .filter_map(|(_, _, h)| {
                st.users
                    .values()
                    .find(|u| u.username.eq_ignore_ascii_case(&h))
                    .map(|u| u.id.clone())
            })
            .filter(|id| *id != author.id)
            .collect();
        let mut told: Vec<String> = Vec::new();
        for id in &mentioned {
            self.deliver_xaa(&st, id, "post.mention.create", &payload, &includes);
        }
        if let Some(parent_author) = t.in_reply_to_user.as_ref().filter(|u| **u != author.id) {
            self.deliver_xaa(&st, parent_author, "post.reply.create", &payload, &includes);
            told.push(parent_author.clone());
            self.deliver_aaa(&st, parent_author, aaa.clone());
        }
        for id in mentioned {
            if !told.contains(&id) {
                self.deliver_aaa(&st, &id, aaa.clone());
                told.push(id);
            }
        }
    }

    /// Fires `dm.sent` for the sender and `dm.received` for the recipient.
    pub(crate) fn emit_dm(&self, d: &Dm) {
        let st = self.lock();
        let event = self.dm_event(&st, d);
        let mut xaa_users = serde_json::Map::new();
        let mut aaa_users = serde_json::Map::new();
        let mut inc_users = Vec::new();
        for id in [&d.sender_id, &d.recipient_id] {
            if let Some(u) = st.users.get(id) {
                let v2 = self.v2_user_counted(&st, u, None);
                xaa_users.insert(id.clone(), json!({ "data": v2 }));
                inc_users.push(v2);
                aaa_users.insert(id.clone(), self.v1_user(&st, u));
            }
        }
        let payload = json!({"direct_message_events": [event], "users": xaa_users});
        let includes = json!({ "users": inc_users });
        let aaa = json!({
            "direct_message_events": [event],
            "apps": {self.app_id.clone(): {"id": self.app_id, "name": "SocialConnect", "url": ""}},
            "users": aaa_users,
        });
        self.deliver_xaa(&st, &d.sender_id, "dm.sent", &payload, &includes);
        self.deliver_aaa(&st, &d.sender_id, aaa.clone());
        self.deliver_xaa(&st, &d.recipient_id, "dm.received", &payload, &includes);
        self.deliver_aaa(&st, &d.recipient_id, aaa);
    }

    /// Fires `oauth.revoke` / AAA `user_event`.
    pub(crate) fn emit_revoke(&self, user_id: &str) {
        let st = self.lock();
        let at = iso(now_millis());
        let payload = json!({"user_id": user_id, "client_app_id": self.app_id, "revoked_at": at});
        self.deliver_xaa(&st, user_id, "oauth.revoke", &payload, &json!({}));
        let aaa = json!({"user_event": {"revoke": {
            "date_time": at,
            "target": {"app_id": self.app_id},
            "source": {"user_id": user_id},
        }}});
        self.deliver_aaa(&st, user_id, aaa);
    }
}
