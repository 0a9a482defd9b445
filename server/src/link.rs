//! Linking a page or account: subscribe its webhooks at the network, seal its token, map
//! its channel to a skill. `socialconnect link` and SocialConnect Home both end here.

use crate::config::FacebookArgs;
use crate::connectors::facebook::Graph;
use crate::crypto::TokenCipher;
use crate::error::{AppError, AppResult};
use crate::store::{LinkedAccount, NewLink, Store};
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
