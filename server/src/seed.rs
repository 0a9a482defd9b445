//! Accounts and users made at start: `SOCIALCONNECT_BOOTSTRAP_ADMIN` and the `--demo` brand.

use crate::auth::create_user;
use crate::config::{BootstrapAdmin, ServeArgs};
use crate::crypto::TokenCipher;
use crate::store::prelude::*;
use shared::Role;

/// Creates the bootstrap account (SocialConnect enabled) and admin when missing; an
/// existing user keeps its password.
pub async fn bootstrap_admin(store: &dyn Store, b: &BootstrapAdmin) -> anyhow::Result<()> {
    let account = store
        .ensure_account(
            &b.account_number,
            &format!("Account {}", b.account_number),
            true,
        )
        .await?;
    if store
        .credentials(Some(account.id), &b.email)
        .await?
        .is_none()
    {
        create_user(
            store,
            Some(account.id),
            &b.email,
            "Admin",
            Role::Admin,
            &b.password,
        )
        .await?;
        tracing::info!(account = %b.account_number, email = %b.email, "bootstrap admin created");
    }
    Ok(())
}

/// One demo sign-in, printed at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoLogin {
    pub role: Role,
    pub account_number: &'static str,
    pub email: &'static str,
    pub password: &'static str,
}

pub const DEMO_ACCOUNT: &str = "1000";

pub const DEMO_LOGINS: [DemoLogin; 3] = [
    DemoLogin {
        role: Role::Admin,
        account_number: DEMO_ACCOUNT,
        email: "admin@demo.example",
        password: "demo-admin",
    },
    DemoLogin {
        role: Role::Agent,
        account_number: DEMO_ACCOUNT,
        email: "agent@demo.example",
        password: "demo-agent",
    },
    DemoLogin {
        role: Role::Support,
        account_number: "",
        email: "support@socialconnect.example",
        password: "demo-support",
    },
];

/// Seeds the demo brand and its people; safe to run on every start.
pub async fn demo(store: &dyn Store) -> anyhow::Result<()> {
    let account = store
        .ensure_account(DEMO_ACCOUNT, "Acme Outdoor (demo)", true)
        .await?;
    for login in &DEMO_LOGINS {
        let account_id = (login.role != Role::Support).then_some(account.id);
        if store.credentials(account_id, login.email).await?.is_none() {
            let name = match login.role {
                Role::Admin => "Dana Admin",
                Role::Agent => "Alex Agent",
                Role::Support => "Sam Support",
            };
            create_user(
                store,
                account_id,
                login.email,
                name,
                login.role,
                login.password,
            )
            .await?;
        }
    }
    Ok(())
}

/// Starts the sandbox networks for the demo, points `settings` at them, seeds the brand's
/// page and account and a few consumers there, and links both to the demo brand through
/// the real calls (the Twitter/X webhook once the server is up).
pub async fn demo_networks(
    settings: &mut ServeArgs,
    store: &dyn Store,
    cipher: &TokenCipher,
    http: &reqwest::Client,
    public_url: &str,
) -> anyhow::Result<sandbox::Sandbox> {
    let networks = sandbox::Sandbox::start(sandbox::SandboxOptions {
        listen: "127.0.0.1:0".parse()?,
        callback: public_url.to_owned(),
        credentials: None,
    })
    .await?;
    let c = &networks.credentials;
    settings.facebook.facebook_app_id = Some(c.facebook_app_id.clone());
    settings.facebook.facebook_app_secret = Some(c.facebook_app_secret.clone());
    settings.facebook.facebook_verify_token = Some(c.facebook_verify_token.clone());
    settings.facebook.facebook_graph_url = networks.facebook.graph_url();
    settings.facebook.facebook_www_url = networks.facebook.www_url();
    settings.twitter.twitter_consumer_key = Some(c.twitter_consumer_key.clone());
    settings.twitter.twitter_consumer_secret = Some(c.twitter_consumer_secret.clone());
    settings.twitter.twitter_api_url = networks.twitter.api_url();
    settings.twitter.twitter_upload_url = networks.twitter.upload_url();
    settings.liveengage.liveengage_domain_url = networks.liveengage.domain_url();
    // Its agent workspace frames the Social Widget and gives it the widget SDK.
    settings.liveengage.liveengage_sdk_url = networks
        .liveengage
        .sdk_url()
        .parse()
        .map_err(|e: String| anyhow::anyhow!(e))?;
    let workspace = networks.liveengage.workspace_origin();
    if !settings.frame_ancestors.0.contains(&workspace) {
        settings.frame_ancestors.0.push(workspace);
    }
    // The sandbox serves its media over http on this machine.
    settings.media_http_hosts = networks
        .media_http_hosts()
        .parse()
        .map_err(|e: String| anyhow::anyhow!(e))?;

    let page = networks.facebook.add_page("Acme Outdoor", "AcmeOutdoor");
    networks.facebook.add_consumer("Ann Lee", true);
    networks.facebook.add_consumer("Bruno Diaz", false);
    let brand = networks.twitter.add_brand("AcmeOutdoor", "Acme Outdoor");
    networks.twitter.add_consumer("ann_lee", "Ann Lee");
    // Stored now; its webhook is registered once the server answers X's CRC (at start).
    crate::link::link_twitter(
        store,
        cipher,
        http,
        &settings.twitter,
        None,
        crate::link::TwitterAccount {
            account_number: DEMO_ACCOUNT,
            user_id: &brand.id,
            screen_name: &brand.screen_name,
            token: &brand.access_token,
            token_secret: &brand.access_token_secret,
            skill: "social",
            by: "demo",
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("linking the demo Twitter/X account: {e}"))?;
    crate::link::link_facebook(
        store,
        cipher,
        http,
        &settings.facebook,
        crate::link::FacebookPage {
            account_number: DEMO_ACCOUNT,
            page_id: &page.id,
            page_name: &page.username,
            page_token: &page.access_token,
            skill: "social",
            by: "demo",
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("linking the demo page: {e}"))?;
    // Conversations mirrored into the sandbox's LiveEngage, where a person plays its agent.
    crate::link::link_liveengage(
        store,
        cipher,
        http,
        &settings.liveengage,
        crate::link::LiveEngageApp {
            account_number: DEMO_ACCOUNT,
            le_account_id: &c.liveengage_account_id,
            client_id: &c.liveengage_client_id,
            client_secret: &c.liveengage_client_secret,
            skill_map: None,
            by: "demo",
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("connecting the demo brand to LiveEngage: {e}"))?;
    // Single sign-on through the sandbox's identity provider, beside passwords.
    if let Some(account) = store.account_by_number(DEMO_ACCOUNT).await? {
        let sso = crate::store::SsoSettings {
            issuer: networks.oidc.issuer(),
            client_id: c.oidc_client_id.clone(),
            client_secret_sealed: cipher.seal(&c.oidc_client_secret),
            password_sign_in: true,
        };
        store.set_sso(account.id, Some(&sso)).await?;
    }
    Ok(networks)
}

/// The lines `--demo` prints so a person can sign in and play the consumer.
pub fn demo_banner(url: &str, console: Option<&str>) -> String {
    let mut out = format!("\nSocialConnect demo is running at {url}\n");
    if let Some(sandbox) = console {
        out.push_str(&format!(
            "Play the consumer on the simulated networks at {sandbox}/console\n"
        ));
        out.push_str(&format!(
            "Play the LiveEngage agent (the Social Widget inside) at {sandbox}{}\n",
            sandbox::liveengage::agent::WORKSPACE_PATH
        ));
    }
    out.push_str("\nSign in with:\n");
    for l in &DEMO_LOGINS {
        let account = if l.account_number.is_empty() {
            "(leave empty)"
        } else {
            l.account_number
        };
        out.push_str(&format!(
            "  {:<8} account number {:<14} email {:<30} password {}\n",
            l.role.as_str(),
            account,
            l.email,
            l.password
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SqliteStore;

    #[tokio::test]
    async fn demo_and_bootstrap_are_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).await.unwrap();
        demo(&store).await.unwrap();
        demo(&store).await.unwrap();
        let acct = store
            .account_by_number(DEMO_ACCOUNT)
            .await
            .unwrap()
            .unwrap();
        let agent = store
            .credentials(Some(acct.id), "agent@demo.example")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(agent.user.role, Role::Agent);
        assert!(
            store
                .credentials(None, "support@socialconnect.example")
                .await
                .unwrap()
                .is_some()
        );

        let b: BootstrapAdmin = "2000:boss@brand.example:s3cret".parse().unwrap();
        bootstrap_admin(&store, &b).await.unwrap();
        bootstrap_admin(&store, &b).await.unwrap();
        let acct = store.account_by_number("2000").await.unwrap().unwrap();
        assert!(acct.socialconnect_enabled);
        let admin = store
            .credentials(Some(acct.id), "boss@brand.example")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(admin.user.role, Role::Admin);
    }

    #[test]
    fn banner_names_every_sign_in() {
        let b = demo_banner("http://127.0.0.1:8080", Some("http://127.0.0.1:9"));
        assert!(b.contains("http://127.0.0.1:8080"));
        assert!(b.contains("http://127.0.0.1:9/console"));
        assert!(b.contains("http://127.0.0.1:9/liveengage/agent/"));
        for l in &DEMO_LOGINS {
            assert!(b.contains(l.email) && b.contains(l.password));
        }
    }
}
