//! Linking a page or account: subscribe its webhooks at the network, seal its token, map
//! its channel to a skill; and connecting a brand account to LiveEngage. `socialconnect
//! link` and SocialConnect Home both end here.

use crate::config::{FacebookArgs, LiveEngageArgs, TwitterArgs};
use crate::connectors::NetworkError;
use crate::connectors::facebook::Graph;
use crate::connectors::twitter::{OAuth1, XApi};
use crate::crypto::TokenCipher;
use crate::error::{AppError, AppResult};
use crate::store::prelude::*;
use crate::store::{LeLink, LinkStatus, LinkedAccount, NewLink};
use shared::{Channel, ErrorCode};

pub struct FacebookPage<'a> {
    pub account_number: &'a str,
    pub page_id: &'a str,
    pub page_name: &'a str,
    pub page_token: &'a str,
    pub skill: &'a str,
    /// Who linked it, for the accounts table.
    pub by: &'a str,
}

pub async fn link_facebook(
    store: &dyn Store,
    cipher: &TokenCipher,
    http: &reqwest::Client,
    facebook: &FacebookArgs,
    page: FacebookPage<'_>,
) -> AppResult<LinkedAccount> {
    let Some(app_secret) = facebook.facebook_app_secret.as_deref() else {
        return Err(AppError::bad_request(
            "Facebook is off: set SOCIALCONNECT_FACEBOOK_APP_ID and _APP_SECRET to link pages",
        ));
    };
    let account = store
        .account_by_number(page.account_number)
        .await?
        .ok_or_else(|| AppError::not_found("brand account"))?;
    Graph {
        http,
        base: &facebook.facebook_graph_url,
        app_secret,
    }
    .subscribe_page(page.page_id, page.page_token)
    .await
    .map_err(|e| {
        AppError::new(
            ErrorCode::BadRequest,
            format!("subscribing the page failed: {e}"),
        )
    })?;
    let skill_id = store.ensure_skill(account.id, page.skill).await?;
    let linked = store
        .link(NewLink {
            account_id: account.id,
            channel: Channel::Facebook,
            network_id: page.page_id,
            name: page.page_name,
            token_sealed: cipher.seal(page.page_token),
            token_secret_sealed: None,
            skill_id: Some(skill_id),
            created_by: page.by,
        })
        .await?;
    tracing::info!(
        linked = linked.id,
        page = page.page_id,
        "Facebook page linked"
    );
    Ok(linked)
}

pub struct TwitterAccount<'a> {
    pub account_number: &'a str,
    pub user_id: &'a str,
    pub screen_name: &'a str,
    pub token: &'a str,
    pub token_secret: &'a str,
    pub skill: &'a str,
    pub by: &'a str,
}

/// Links a Twitter/X account: stores it (tokens sealed), then registers the app's webhook
/// at `{public_url}/webhooks/twitter` and subscribes the account's events. X validates the
/// webhook with a CRC against the running server, so when that cannot be done now the
/// account is kept with status `webhooks_failing` and the returned warning says why; the
/// server retries at every start ([`connect_twitter_accounts`]).
pub async fn link_twitter(
    store: &dyn Store,
    cipher: &TokenCipher,
    http: &reqwest::Client,
    twitter: &TwitterArgs,
    public_url: Option<&str>,
    acct: TwitterAccount<'_>,
) -> AppResult<(LinkedAccount, Option<String>)> {
    if twitter.twitter_consumer_key.is_none() || twitter.twitter_consumer_secret.is_none() {
        return Err(AppError::bad_request(
            "Twitter/X is off: set SOCIALCONNECT_TWITTER_CONSUMER_KEY and _CONSUMER_SECRET",
        ));
    }
    let account = store
        .account_by_number(acct.account_number)
        .await?
        .ok_or_else(|| AppError::not_found("brand account"))?;
    let skill_id = store.ensure_skill(account.id, acct.skill).await?;
    let mut linked = store
        .link(NewLink {
            account_id: account.id,
            channel: Channel::Twitter,
            network_id: acct.user_id,
            name: acct.screen_name,
            token_sealed: cipher.seal(acct.token),
            token_secret_sealed: Some(cipher.seal(acct.token_secret)),
            skill_id: Some(skill_id),
            created_by: acct.by,
        })
        .await?;
    let outcome = match public_url {
        Some(url) => connect_twitter(
            http,
            twitter,
            url,
            acct.user_id,
            acct.token,
            acct.token_secret,
        )
        .await
        .map_err(|e| e.to_string()),
        None => Err("no public URL is set (SOCIALCONNECT_PUBLIC_URL)".to_owned()),
    };
    let warning = match outcome {
        Ok(()) => None,
        Err(why) => {
            store
                .set_linked_status(linked.id, LinkStatus::WebhooksFailing)
                .await?;
            linked.status = LinkStatus::WebhooksFailing;
            Some(format!(
                "the account is linked, but its webhook is not registered yet ({why}); \
                 the server registers it when it starts"
            ))
        }
    };
    tracing::info!(
        linked = linked.id,
        user = acct.user_id,
        "Twitter/X account linked"
    );
    Ok((linked, warning))
}

/// Registers (or re-validates) the app's webhook and subscribes one account to it.
pub async fn connect_twitter(
    http: &reqwest::Client,
    twitter: &TwitterArgs,
    public_url: &str,
    user_id: &str,
    token: &str,
    token_secret: &str,
) -> Result<(), NetworkError> {
    let (Some(consumer_key), Some(consumer_secret)) = (
        twitter.twitter_consumer_key.as_deref(),
        twitter.twitter_consumer_secret.as_deref(),
    ) else {
        return Err(NetworkError {
            network: "X",
            status: 0,
            code: None,
            message: "Twitter/X is not configured".into(),
        });
    };
    let api = XApi {
        http,
        base: &twitter.twitter_api_url,
        consumer_key,
        consumer_secret,
    };
    let bearer = api.bearer_token().await?;
    let webhook = api
        .ensure_webhook(
            &bearer,
            &format!("{}/webhooks/twitter", public_url.trim_end_matches('/')),
        )
        .await?;
    let user = OAuth1 {
        consumer_key,
        consumer_secret,
        token,
        token_secret,
    };
    api.subscribe_account(&user, user_id, &webhook).await
}

/// At server start: (re)connect every linked Twitter/X account's webhook subscriptions,
/// marking each `linked` or `webhooks_failing`.
pub async fn connect_twitter_accounts(
    store: &dyn Store,
    cipher: &TokenCipher,
    http: &reqwest::Client,
    twitter: &TwitterArgs,
    public_url: &str,
) -> AppResult<()> {
    for linked in store.linked_accounts(Channel::Twitter).await? {
        if matches!(
            linked.status,
            LinkStatus::Unlinked | LinkStatus::TokenInvalid
        ) {
            continue;
        }
        let tokens = cipher.open(&linked.token_sealed).and_then(|t| {
            let secret = linked
                .token_secret_sealed
                .as_deref()
                .ok_or_else(|| anyhow::anyhow!("no token secret stored"))?;
            Ok((t, cipher.open(secret)?))
        });
        let status = match tokens {
            Ok((token, secret)) => {
                match connect_twitter(
                    http,
                    twitter,
                    public_url,
                    &linked.network_id,
                    &token,
                    &secret,
                )
                .await
                {
                    Ok(()) => LinkStatus::Linked,
                    Err(e) => {
                        tracing::warn!(linked = linked.id, error = %e, "Twitter/X webhook not connected");
                        LinkStatus::WebhooksFailing
                    }
                }
            }
            Err(e) => {
                tracing::error!(linked = linked.id, error = %e, "cannot open the stored Twitter/X tokens");
                LinkStatus::TokenInvalid
            }
        };
        if status != linked.status {
            store.set_linked_status(linked.id, status).await?;
        }
    }
    Ok(())
}

/// A brand account's LiveEngage account and the connector app installed there.
pub struct LiveEngageApp<'a> {
    pub account_number: &'a str,
    pub le_account_id: &'a str,
    pub client_id: &'a str,
    pub client_secret: &'a str,
    /// Our skills' LiveEngage skill ids (`None`: keep what is stored).
    pub skill_map: Option<Vec<(String, String)>>,
    pub by: &'a str,
}

/// A connector app's client id: letters, digits and dashes (LivePerson's are UUIDs).
fn client_id_ok(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// Connects a brand account to its LiveEngage account: asks LiveEngage for an app token
/// with the app's credentials (so only credentials that work are kept), then stores them,
/// the secret sealed. From then on the brand's conversations are mirrored there.
pub async fn link_liveengage(
    store: &dyn Store,
    cipher: &TokenCipher,
    http: &reqwest::Client,
    liveengage: &LiveEngageArgs,
    app: LiveEngageApp<'_>,
) -> AppResult<LeLink> {
    use crate::connectors::liveengage::{Api, account_id_ok};
    let (le_account, client_id) = (app.le_account_id.trim(), app.client_id.trim());
    if !account_id_ok(le_account) {
        return Err(AppError::bad_request(
            "the LiveEngage account id is letters and digits (your site id)",
        ));
    }
    if !client_id_ok(client_id) {
        return Err(AppError::bad_request(
            "the client id is the connector app's, from its installation",
        ));
    }
    if app.client_secret.trim().is_empty() {
        return Err(AppError::bad_request(
            "give the connector app's client secret",
        ));
    }
    let account = store
        .account_by_number(app.account_number)
        .await?
        .ok_or_else(|| AppError::not_found("brand account"))?;
    let api = Api {
        http,
        domain: &liveengage.liveengage_domain_url,
        account: le_account,
    };
    let refused = |e: crate::connectors::liveengage::LeFailure| {
        AppError::bad_request(format!("LiveEngage did not accept the app: {e}"))
    };
    let sentinel = api.base_uri("sentinel").await.map_err(refused)?;
    api.app_token(&sentinel, client_id, app.client_secret.trim())
        .await
        .map_err(refused)?;
    let before = store.le_link(account.id).await?;
    let link = LeLink {
        account_id: account.id,
        le_account_id: le_account.to_owned(),
        client_id: client_id.to_owned(),
        client_secret_sealed: cipher.seal(app.client_secret.trim()),
        skill_map: app
            .skill_map
            .or_else(|| before.map(|b| b.skill_map))
            .unwrap_or_default(),
        created_at: crate::auth::now_secs(),
        created_by: app.by.to_owned(),
    };
    store.set_le_link(account.id, Some(&link)).await?;
    tracing::info!(account = account.id, le_account, "LiveEngage connected");
    Ok(link)
}
