//! The browser test harness: the real server on `127.0.0.1:0` with a temporary data dir and
//! the built widget, a ChromeDriver of its own, and headless Chromium driven through
//! WebDriver. Controls are found by role and accessible name, as a person finds them; a
//! step that fails leaves a screenshot in `tests/screenshots/`.

use anyhow::{Context, Result, anyhow, bail};
use fantoccini::{Client, ClientBuilder, Locator, elements::Element};
use serde_json::json;
use server::store::prelude::*;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::oneshot;

/// The Facebook page [`Harness::start_with_webhooks`] links to the demo brand.
pub const E2E_PAGE: &str = "424242";
const E2E_FACEBOOK_SECRET: &str = "e2e-facebook-app-secret";

/// A Messenger message from `psid` to [`E2E_PAGE`], as Facebook's webhook carries it.
pub fn messenger(psid: &str, mid: &str, timestamp_ms: i64, text: &str) -> serde_json::Value {
    json!({"object":"page","entry":[{"id":E2E_PAGE,"time":timestamp_ms,"messaging":[{
        "sender":{"id":psid},"recipient":{"id":E2E_PAGE},"timestamp":timestamp_ms,
        "message":{"mid":mid,"text":text}}]}]})
}

/// A consumer's post on [`E2E_PAGE`]'s timeline, as the `feed` webhook carries it.
pub fn page_post(
    from: &str,
    name: &str,
    post: &str,
    at_secs: i64,
    text: &str,
) -> serde_json::Value {
    json!({"object":"page","entry":[{"id":E2E_PAGE,"time":at_secs,"changes":[{"field":"feed","value":
        {"from":{"id":from,"name":name},"item":"status","verb":"add",
         "post_id":format!("{E2E_PAGE}_{post}"),"message":text,"created_time":at_secs}}]}]})
}

/// How long a step waits for the page to show what it expects.
const PATIENCE: Duration = Duration::from_secs(20);

pub struct Harness {
    pub url: String,
    pub browser: Client,
    /// The Facebook app secret webhooks are signed with, when the server has one known
    /// to the test (see [`Harness::start_with_webhooks`]).
    facebook_secret: Option<String>,
    name: String,
    driver: Child,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<Result<()>>>,
    /// Shared with the browsers [`Harness::another_browser`] opens on the same server.
    _data: std::sync::Arc<tempfile::TempDir>,
}

fn widget_dir() -> Result<PathBuf> {
    let dir = std::env::var_os("SOCIALCONNECT_WIDGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../dist")));
    if !dir.join("index.html").is_file() {
        bail!(
            "no built widget at {}: run the browser tests with `cargo xtask test`, which builds it",
            dir.display()
        );
    }
    Ok(dir)
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

/// The harness's own HTTP client; it accepts [`write_test_certificate`]'s.
pub fn reqwest_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .danger_accept_invalid_certs(true)
        .build()
        .expect("HTTP client")
}

/// The viewport's height for a width: a phone's 740 CSS pixels for a narrow panel (the
/// issue's 360 × 740), else a laptop's 900.
pub fn height_for(width: u32) -> u32 {
    if width < 500 { 740 } else { 900 }
}

/// Writes a self-signed certificate for `localhost` and `127.0.0.1` into `dir` as
/// `cert.pem` and `key.pem`, and returns their paths: HTTPS for tests (the browsers
/// launched here and the harness's client accept it).
pub fn write_test_certificate(dir: &std::path::Path) -> Result<(PathBuf, PathBuf)> {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])?;
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, made.cert.pem())?;
    std::fs::write(&key, made.signing_key.serialize_pem())?;
    Ok((cert, key))
}

/// Starts a ChromeDriver of its own and, through it, a headless Chromium whose viewport is
/// `width` × [`height_for`] CSS pixels, with a profile (cookies) of its own. Third-party
/// cookies are blocked, as browsers move to by default; test certificates are accepted.
async fn launch_browser(width: u32) -> Result<(Child, Client)> {
    let height = height_for(width);
    let port = free_port()?;
    let chromedriver = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
    let driver = Command::new(&chromedriver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {chromedriver} (cargo xtask test installs it)"))?;

    let mut caps = serde_json::Map::new();
    // Headless windows are at least 500 px wide, so narrower viewports (the widget's
    // side panel) are emulated.
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update",
                "--no-first-run", "--disable-sync", "--hide-scrollbars",
                "--ignore-certificate-errors",
                format!("--window-size={},{height}", width.max(500)),
            ],
            // 1: block third-party cookies (Settings › Privacy › Third-party cookies).
            "prefs": {"profile.cookie_controls_mode": 1, "profile.block_third_party_cookies": true},
            "mobileEmulation": {
                "deviceMetrics": {"width": width, "height": height, "pixelRatio": 1.0, "touch": false}
            },
        }),
    );
    let mut last = None;
    let mut browser = None;
    for _ in 0..100 {
        match ClientBuilder::rustls()?
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(c) => {
                browser = Some(c);
                break;
            }
            Err(e) => {
                last = Some(e);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    let browser = browser.ok_or_else(|| anyhow!("ChromeDriver never answered: {last:?}"))?;
    Ok((driver, browser))
}

/// Waits until `f` holds (checking every 100 ms), for at most the harness' patience:
/// for what a test checks beside the browser (the sandbox networks' state).
pub async fn eventually(what: &str, mut f: impl FnMut() -> bool) -> Result<()> {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !f() {
        if tokio::time::Instant::now() > deadline {
            bail!("never: {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

impl Harness {
    /// Starts a demo server (its sign-ins seeded), ChromeDriver and a browser window of
    /// `width` × [`height_for`] CSS pixels.
    pub async fn start(name: &str, width: u32) -> Result<Harness> {
        // WebDriver's client and the server's HTTP client bring different rustls crypto
        // providers into this one process; pick one.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let data = tempfile::tempdir()?;
        let mut args = server::config::ServeArgs::for_tests(data.path().to_path_buf());
        args.demo = true;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        Self::start_on(name, width, data, args, None, listener).await
    }

    /// Like [`Harness::start`], but instead of the demo's simulated networks (whose app
    /// secret is random), the demo brand and sign-ins with the Facebook page [`E2E_PAGE`]
    /// linked directly and a known app secret, so the test can push signed webhooks with
    /// [`Harness::facebook_webhook`] as the network would.
    pub async fn start_with_webhooks(name: &str, width: u32) -> Result<Harness> {
        Self::start_with_webhooks_over(name, width, false).await
    }

    /// Like [`Harness::start_with_webhooks`], the server speaking HTTPS (HTTP/2 by ALPN)
    /// at `https://localhost:PORT` with a [`write_test_certificate`] certificate.
    pub async fn start_with_webhooks_https(name: &str, width: u32) -> Result<Harness> {
        Self::start_with_webhooks_over(name, width, true).await
    }

    async fn start_with_webhooks_over(name: &str, width: u32, https: bool) -> Result<Harness> {
        use server::store::{NewLink, SqliteStore};
        let _ = rustls::crypto::ring::default_provider().install_default();
        let data = tempfile::tempdir()?;
        let store = SqliteStore::open(data.path()).await?;
        // Sealed with the key the server then loads: a server refuses a key that opens
        // none of the database's tokens.
        let cipher = server::config::ServeArgs::for_tests(data.path().to_path_buf())
            .store
            .cipher()?;
        server::seed::demo(&store).await?;
        let account = store
            .account_by_number("1000")
            .await?
            .context("the demo account")?;
        let skill = store.ensure_skill(account.id, "social").await?;
        store
            .link(NewLink {
                account_id: account.id,
                channel: shared::Channel::Facebook,
                network_id: E2E_PAGE,
                name: "Acme Outdoor",
                token_sealed: cipher.seal("e2e-page-token"),
                token_secret_sealed: None,
                skill_id: Some(skill),
                created_by: "e2e",
            })
            .await?;
        drop(store);
        let mut args = server::config::ServeArgs::for_tests(data.path().to_path_buf());
        args.facebook.facebook_app_id = Some("e2e-app".into());
        args.facebook.facebook_app_secret = Some(E2E_FACEBOOK_SECRET.into());
        args.facebook.facebook_verify_token = Some("e2e-verify".into());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        if https {
            let (cert, key) = write_test_certificate(data.path())?;
            args.tls.tls_cert = Some(cert);
            args.tls.tls_key = Some(key);
            args.public_url = Some(format!(
                "https://localhost:{}",
                listener.local_addr()?.port()
            ));
        }
        Self::start_on(
            name,
            width,
            data,
            args,
            Some(E2E_FACEBOOK_SECRET.into()),
            listener,
        )
        .await
    }

    /// A server whose networks are a sandbox of the test's own: the demo sign-ins, with
    /// the sandbox's Facebook page and Twitter/X account linked to the demo brand through
    /// the real calls. The test plays the consumer through the returned sandbox.
    pub async fn start_with_sandbox(name: &str, width: u32) -> Result<(Harness, sandbox::Sandbox)> {
        Self::start_with_sandbox_serving(name, width, &[]).await
    }

    /// Like [`Harness::start_with_sandbox`], with extra files served beside the widget
    /// (same origin), e.g. a stand-in host page that embeds it: `(path, contents)`.
    pub async fn start_with_sandbox_serving(
        name: &str,
        width: u32,
        extra: &[(&str, &str)],
    ) -> Result<(Harness, sandbox::Sandbox)> {
        Self::start_sandboxed(name, width, extra, true, false).await
    }

    /// Like [`Harness::start_with_sandbox`], with the demo brand connected to the sandbox's
    /// LiveEngage too, and the server set up for its agent workspace on another site: the
    /// server at `https://localhost:PORT`, the workspace at `https://127.0.0.1:PORT` (both
    /// with a [`write_test_certificate`] certificate), the widget SDK from there, and that
    /// origin allowed to frame `/widget`.
    pub async fn start_with_liveengage(
        name: &str,
        width: u32,
    ) -> Result<(Harness, sandbox::Sandbox)> {
        Self::start_sandboxed(name, width, &[], true, true).await
    }

    /// Like [`Harness::start_with_sandbox`], but nothing linked: the test links through
    /// SocialConnect Home, seeding the pages and accounts it signs in with.
    pub async fn start_with_sandbox_unlinked(
        name: &str,
        width: u32,
    ) -> Result<(Harness, sandbox::Sandbox)> {
        Self::start_sandboxed(name, width, &[], false, false).await
    }

    async fn start_sandboxed(
        name: &str,
        width: u32,
        extra: &[(&str, &str)],
        link: bool,
        liveengage: bool,
    ) -> Result<(Harness, sandbox::Sandbox)> {
        use server::store::SqliteStore;
        let _ = rustls::crypto::ring::default_provider().install_default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let data = tempfile::tempdir()?;
        let mut args = server::config::ServeArgs::for_tests(data.path().to_path_buf());
        // With LiveEngage, two sites over HTTPS, as in production: the server at
        // `https://localhost:PORT`, the sandbox's agent workspace at `https://127.0.0.1:PORT`.
        let certificate = if liveengage {
            let (cert, key) = write_test_certificate(data.path())?;
            let url = format!("https://localhost:{}", listener.local_addr()?.port());
            args.tls.tls_cert = Some(cert.clone());
            args.tls.tls_key = Some(key.clone());
            args.public_url = Some(url);
            Some((cert, key))
        } else {
            None
        };
        let url = args
            .public_url
            .clone()
            .unwrap_or(format!("http://{}", listener.local_addr()?));
        let mut sb = sandbox::Sandbox::start(sandbox::SandboxOptions {
            listen: "127.0.0.1:0".parse()?,
            callback: url.clone(),
            credentials: None,
        })
        .await?;
        if let Some((cert, key)) = &certificate {
            sb.serve_https(cert, key).await?;
        }
        let c = &sb.credentials;
        args.facebook.facebook_app_id = Some(c.facebook_app_id.clone());
        args.facebook.facebook_app_secret = Some(c.facebook_app_secret.clone());
        args.facebook.facebook_verify_token = Some(c.facebook_verify_token.clone());
        args.facebook.facebook_graph_url = sb.facebook.graph_url();
        args.facebook.facebook_www_url = sb.facebook.www_url();
        args.twitter.twitter_consumer_key = Some(c.twitter_consumer_key.clone());
        args.twitter.twitter_consumer_secret = Some(c.twitter_consumer_secret.clone());
        args.twitter.twitter_api_url = sb.twitter.api_url();
        args.twitter.twitter_upload_url = sb.twitter.upload_url();
        args.liveengage.liveengage_domain_url = sb.liveengage.domain_url();
        // The sandbox serves the consumers' media over http on loopback.
        args.media_http_hosts = sb.media_http_hosts().parse().map_err(anyhow::Error::msg)?;
        // The sandbox serves its media on loopback: an agent may paste those addresses.
        args.allow_private_media_urls = true;

        let store = SqliteStore::open(data.path()).await?;
        server::seed::demo(&store).await?;
        let cipher = args.store.cipher()?;
        let http = reqwest_client();
        if link {
            Self::link_sandbox(&store, &cipher, &http, &args, &sb).await?;
        }
        if liveengage {
            let c = &sb.credentials;
            server::link::link_liveengage(
                &store,
                &cipher,
                &http,
                &args.liveengage,
                server::link::LiveEngageApp {
                    account_number: "1000",
                    le_account_id: &c.liveengage_account_id,
                    client_id: &c.liveengage_client_id,
                    client_secret: &c.liveengage_client_secret,
                    skill_map: None,
                    by: "e2e",
                },
            )
            .await
            .map_err(|e| anyhow!("{e}"))?;
            args.liveengage.liveengage_sdk_url = sb
                .liveengage
                .sdk_url()
                .parse()
                .map_err(anyhow::Error::msg)?;
            args.frame_ancestors = sb
                .liveengage
                .workspace_origin()
                .parse()
                .map_err(anyhow::Error::msg)?;
        }
        drop(store);
        if !extra.is_empty() {
            let dir = data.path().join("widget-files");
            copy_dir(&widget_dir()?, &dir)?;
            for (path, contents) in extra {
                let file = dir.join(path);
                std::fs::create_dir_all(file.parent().context("a file path")?)?;
                std::fs::write(file, contents)?;
            }
            args.widget_dir = dir;
        }
        let h = Self::start_on(name, width, data, args, None, listener).await?;
        if link {
            // The server registers its X webhook and subscriptions once it is up, and X
            // delivers nothing written before that: a test's consumer writes after it.
            let brand = sb.twitter.brands()[0].0.clone();
            let deadline = tokio::time::Instant::now() + PATIENCE;
            while !sb.twitter.delivering(&brand) {
                if tokio::time::Instant::now() > deadline {
                    bail!("the server never subscribed to X's events for {brand}");
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Ok((h, sb))
    }

    /// Links the sandbox's Facebook page and Twitter/X account to the demo brand through
    /// the real calls, as `socialconnect link` does.
    async fn link_sandbox(
        store: &server::store::SqliteStore,
        cipher: &server::crypto::TokenCipher,
        http: &reqwest::Client,
        args: &server::config::ServeArgs,
        sb: &sandbox::Sandbox,
    ) -> Result<()> {
        let page = sb.facebook.add_page("Acme Outdoor", "AcmeOutdoor");
        server::link::link_facebook(
            store,
            cipher,
            http,
            &args.facebook,
            server::link::FacebookPage {
                account_number: "1000",
                page_id: &page.id,
                page_name: &page.username,
                page_token: &page.access_token,
                skill: "social",
                by: "e2e",
            },
        )
        .await
        .map_err(|e| anyhow!("{e}"))?;
        let brand = sb.twitter.add_brand("acme", "Acme Outdoor");
        server::link::link_twitter(
            store,
            cipher,
            http,
            &args.twitter,
            None,
            server::link::TwitterAccount {
                account_number: "1000",
                user_id: &brand.id,
                screen_name: &brand.screen_name,
                token: &brand.access_token,
                token_secret: &brand.access_token_secret,
                skill: "social",
                by: "e2e",
            },
        )
        .await
        .map_err(|e| anyhow!("{e}"))?;
        Ok(())
    }

    /// The server's data directory (its database), for checks beside the browser.
    pub fn data_dir(&self) -> &std::path::Path {
        self._data.path()
    }

    async fn start_on(
        name: &str,
        width: u32,
        data: tempfile::TempDir,
        mut args: server::config::ServeArgs,
        facebook_secret: Option<String>,
        listener: tokio::net::TcpListener,
    ) -> Result<Harness> {
        if args.widget_dir.as_os_str().is_empty() || args.widget_dir == std::path::Path::new("dist")
        {
            args.widget_dir = widget_dir()?;
        }
        let url = args.public_url.clone().unwrap_or_else(|| {
            format!(
                "{}://{}",
                args.tls.scheme(),
                listener.local_addr().expect("a bound listener")
            )
        });
        let (tx, rx) = oneshot::channel();
        let server = tokio::spawn(server::run(args, listener, async {
            let _ = rx.await;
        }));

        let (driver, browser) = launch_browser(width).await?;
        let h = Harness {
            url,
            browser,
            facebook_secret,
            name: name.to_owned(),
            driver,
            stop: Some(tx),
            server: Some(server),
            _data: std::sync::Arc::new(data),
        };
        h.wait_healthy().await?;
        Ok(h)
    }

    async fn wait_healthy(&self) -> Result<()> {
        let client = reqwest_client();
        for _ in 0..200 {
            let res = client.get(format!("{}/healthz", self.url)).send().await;
            if res.is_ok_and(|r| r.status().is_success()) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        bail!("server never became healthy")
    }

    pub async fn open(&self, path: &str) -> Result<()> {
        self.browser.goto(&format!("{}{path}", self.url)).await?;
        Ok(())
    }

    pub async fn path(&self) -> Result<String> {
        Ok(self.browser.current_url().await?.path().to_owned())
    }

    /// Waits until the page's path is `path`.
    pub async fn wait_for_path(&self, path: &str) -> Result<()> {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let now = self.path().await?;
            if now == path {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                bail!("expected to reach {path}, still at {now}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The one visible element with ARIA `role` and accessible name `name`, waiting for it
    /// to appear.
    pub async fn by_role(&self, role: &str, name: &str) -> Result<Element> {
        self.find_by_role(role, name, None).await
    }

    /// The one visible element with ARIA `role` whose accessible name starts with
    /// `prefix`, waiting for it to appear (a queue link: "Ann Lee, Facebook, …").
    pub async fn by_role_starting(&self, role: &str, prefix: &str) -> Result<Element> {
        self.find(role, prefix, None, true).await
    }

    /// The queue's link to the one conversation with `consumer` (its name starts with
    /// theirs: "Ann Lee, Facebook, Public/Comment, 3 min ago"); `"Ann Lee, Twitter/X"`
    /// picks one of several.
    pub async fn conversation_link(&self, consumer: &str) -> Result<Element> {
        self.by_role_starting("link", &format!("{consumer},")).await
    }

    /// Opens the one conversation with `consumer` from the queue (see
    /// [`Harness::conversation_link`]).
    pub async fn open_conversation(&self, consumer: &str) -> Result<()> {
        let mut tries = 0;
        loop {
            match self.conversation_link(consumer).await?.click().await {
                Ok(_) => return Ok(()),
                // Drawn again by a live update as it was clicked: click the new one.
                Err(e) if tries < 5 && e.is_stale_element_reference() => tries += 1,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Like [`Harness::by_role`], among the controls of the table row whose text contains
    /// `row` (a row's `Deactivate`, say, where every row has one).
    pub async fn by_role_in_row(&self, role: &str, name: &str, row: &str) -> Result<Element> {
        self.find_by_role(role, name, Some(row)).await
    }

    async fn find_by_role(&self, role: &str, name: &str, row: Option<&str>) -> Result<Element> {
        self.find(role, name, row, false).await
    }

    async fn find(
        &self,
        role: &str,
        name: &str,
        row: Option<&str>,
        prefix: bool,
    ) -> Result<Element> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let mark = format!("e2e-{}", NEXT.fetch_add(1, Ordering::Relaxed));
            let found = self
                .browser
                .execute(
                    FIND_BY_ROLE,
                    vec![
                        json!(role),
                        json!(name),
                        json!(mark),
                        json!(row),
                        json!(prefix),
                    ],
                )
                .await?;
            if found == json!(1) {
                match self
                    .browser
                    .find(Locator::Css(&format!("[data-e2e=\"{mark}\"]")))
                    .await
                {
                    Ok(el) => return Ok(el),
                    // Drawn again (a live update) between marking and finding: look again.
                    Err(e) if e.is_no_such_element() => {}
                    Err(e) => return Err(e.into()),
                }
            }
            if tokio::time::Instant::now() > deadline {
                match row {
                    Some(row) => bail!(
                        "expected one {role} named {name:?} in the row showing {row:?}, found {found}"
                    ),
                    None if prefix => {
                        bail!("expected one {role} named {name:?}…, found {found}")
                    }
                    None => bail!("expected one {role} named {name:?}, found {found}"),
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// How many visible elements with `role` and accessible `name` the page has now.
    pub async fn count_role(&self, role: &str, name: &str) -> Result<u64> {
        let found = self
            .browser
            .execute(FIND_BY_ROLE, vec![json!(role), json!(name), json!("")])
            .await?;
        found.as_u64().context("count")
    }

    /// Types into the text box named `label`, replacing what it held.
    pub async fn fill(&self, label: &str, text: &str) -> Result<()> {
        let input = self.by_role("textbox", label).await?;
        input.clear().await?;
        input.send_keys(text).await?;
        Ok(())
    }

    pub async fn click(&self, role: &str, name: &str) -> Result<()> {
        let mut tries = 0;
        loop {
            match self.by_role(role, name).await?.click().await {
                Ok(_) => return Ok(()),
                // Drawn again by a live update as it was clicked: click the new one.
                Err(e) if tries < 5 && e.is_stale_element_reference() => tries += 1,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Waits until the page's visible text contains `text`.
    /// Waits until `script` (JavaScript) returns `true`; on time out, fails with `what`
    /// and the script's last answer.
    pub async fn until_js(&self, what: &str, script: &str) -> Result<()> {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let answer = self.browser.execute(script, vec![]).await?;
            if answer == serde_json::Value::Bool(true) {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                bail!("expected {what}; the page answers {answer}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Fails when the page is wider than the viewport (something in it makes the panel
    /// scroll sideways).
    pub async fn fits_width(&self) -> Result<()> {
        let widths = self
            .browser
            .execute(
                "return [document.documentElement.scrollWidth, innerWidth];",
                vec![],
            )
            .await?;
        if widths[0] != widths[1] {
            bail!("page and viewport widths {widths}");
        }
        Ok(())
    }

    pub async fn wait_for_text(&self, text: &str) -> Result<()> {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let body = self
                .browser
                .find(Locator::Css("body"))
                .await?
                .text()
                .await?;
            if body.contains(text) {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                bail!("expected the page to show {text:?}; it shows:\n{body}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Saves a screenshot as `tests/screenshots/<test>-<label>.png`.
    pub async fn screenshot(&self, label: &str) -> Result<PathBuf> {
        let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/screenshots"));
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!("{}-{label}.png", self.name));
        std::fs::write(&path, self.browser.screenshot().await?)?;
        Ok(path)
    }

    /// Runs the test's steps; when one fails, saves a screenshot and fails with its path.
    pub async fn run(self, steps: impl AsyncFnOnce(&Harness) -> Result<()>) {
        if let Err(e) = self.run_within(steps).await {
            panic!("{e:#}");
        }
    }

    /// Like [`Harness::run`], but hands the failure back (its screenshot's path in the
    /// error) instead of failing the test: for a second browser's steps inside the first's.
    pub async fn run_within(self, steps: impl AsyncFnOnce(&Harness) -> Result<()>) -> Result<()> {
        let outcome = steps(&self).await;
        let shot = match &outcome {
            Err(_) => self.screenshot("failure").await.ok(),
            Ok(()) => None,
        };
        self.shutdown().await;
        outcome.with_context(|| format!("screenshot: {shot:?}"))
    }

    /// Another browser, with cookies of its own (another person's session), on this
    /// harness's server, `width` × [`height_for`] CSS pixels; its screenshots are named `name-…`.
    /// Run its steps with [`Harness::run_within`] inside this harness's.
    pub async fn another_browser(&self, name: &str, width: u32) -> Result<Harness> {
        let (driver, browser) = launch_browser(width).await?;
        Ok(Harness {
            url: self.url.clone(),
            browser,
            facebook_secret: self.facebook_secret.clone(),
            name: name.to_owned(),
            driver,
            stop: None,
            server: None,
            _data: self._data.clone(),
        })
    }

    async fn shutdown(mut self) {
        let _ = self.browser.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }

    /// Posts a Facebook webhook signed with the app secret, as Facebook would, and checks
    /// the server stored it (200).
    pub async fn facebook_webhook(&self, body: &serde_json::Value) -> Result<()> {
        use hmac::Mac;
        let secret = self
            .facebook_secret
            .as_deref()
            .context("start the harness with start_with_webhooks")?;
        let raw = body.to_string();
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes())?;
        mac.update(raw.as_bytes());
        let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        let res = reqwest_client()
            .post(format!("{}/webhooks/facebook", self.url))
            .header("content-type", "application/json")
            .header("x-hub-signature-256", signature)
            .body(raw)
            .send()
            .await?;
        if res.status() != reqwest::StatusCode::OK {
            bail!("the webhook answered {}", res.status());
        }
        Ok(())
    }

    /// Presses `key` ([`TAB`], [`ENTER`], or text) on whatever has the focus.
    pub async fn press(&self, key: &str) -> Result<()> {
        self.browser.active_element().await?.send_keys(key).await?;
        Ok(())
    }

    /// The focused element's accessible name and whether its focus ring (outline) shows;
    /// `None` when nothing has the focus.
    pub async fn focused(&self) -> Result<Option<(String, bool)>> {
        let focused = self.browser.execute(FOCUSED, vec![]).await?;
        Ok(focused.as_array().map(|a| {
            (
                a[0].as_str().unwrap_or_default().to_owned(),
                a[1] == json!(true),
            )
        }))
    }

    /// Signs in through the sign-in page.
    pub async fn sign_in(&self, account: &str, email: &str, password: &str) -> Result<()> {
        self.open("/login").await?;
        self.fill("Account number", account).await?;
        self.fill("Email", email).await?;
        self.fill("Password", password).await?;
        self.click("button", "Sign in").await
    }

    /// Shows the Social Widget beside the open conversation (in a narrow panel: instead of
    /// it) when it is folded away.
    pub async fn show_widget(&self) -> Result<()> {
        let toggle = self.by_role("button", "Tools").await?;
        if toggle.attr("aria-expanded").await?.as_deref() == Some("false") {
            toggle.click().await?;
        }
        Ok(())
    }

    /// Signs in as the demo agent and opens the conversation with `consumer` from the
    /// queue, waiting until its transcript shows `text`.
    pub async fn agent_opens(&self, consumer: &str, text: &str) -> Result<()> {
        self.sign_in("1000", "agent@demo.example", "demo-agent")
            .await?;
        self.wait_for_path("/workspace").await?;
        self.open_conversation(consumer).await?;
        self.wait_for_text(text).await
    }
}

/// WebDriver's key codes for Tab and Enter.
pub const TAB: &str = "\u{E004}";
pub const ENTER: &str = "\u{E007}";

/// The accessible name of the focused element, and whether its focus ring shows.
const FOCUSED: &str = r#"
    const el = document.activeElement;
    if (!el || el === document.body) { return null; }
    const name = (el.getAttribute('aria-label') || el.textContent || el.value || '').trim();
    const style = getComputedStyle(el);
    return [name, style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0];
"#;

/// Finds visible elements by ARIA role and accessible name (explicit role or the
/// element's implicit one; name from aria-label, aria-labelledby, the label, alt, or the
/// text; or a name that starts with `name` when `prefix`), only inside a table row whose text contains `row` when that is given, marks a
/// single match with `data-e2e`, and returns how many matched.
const FIND_BY_ROLE: &str = r#"
const [role, name, mark, row, prefix] = arguments;
const text = (el) => (el.textContent || '').replace(/\s+/g, ' ').trim();
function implicitRole(el) {
  const tag = el.tagName.toLowerCase();
  const type = (el.getAttribute('type') || 'text').toLowerCase();
  if (tag === 'button') return 'button';
  if (tag === 'a' && el.hasAttribute('href')) return 'link';
  if (tag === 'input' && ['submit', 'button', 'reset'].includes(type)) return 'button';
  if (tag === 'input' && type === 'checkbox') return 'checkbox';
  if (tag === 'input' && type === 'radio') return 'radio';
  if (tag === 'input' && ['text', 'email', 'password', 'search', 'tel', 'url', 'number'].includes(type)) return 'textbox';
  if (tag === 'textarea') return 'textbox';
  if (tag === 'select') return el.multiple || el.size > 1 ? 'listbox' : 'combobox';
  if (/^h[1-6]$/.test(tag)) return 'heading';
  if (tag === 'img') return 'img';
  return null;
}
function accName(el) {
  if (el.hasAttribute('aria-label')) return el.getAttribute('aria-label').trim();
  if (el.hasAttribute('aria-labelledby')) {
    return el.getAttribute('aria-labelledby').split(/\s+/)
      .map((id) => document.getElementById(id)).filter(Boolean).map(text).join(' ');
  }
  if (el.labels && el.labels.length) return text(el.labels[0]);
  if (el.hasAttribute('alt')) return el.getAttribute('alt').trim();
  return text(el);
}
const visible = (el) => !!(el.offsetWidth || el.offsetHeight || el.getClientRects().length);
const found = [...document.querySelectorAll('*')].filter((el) =>
  (el.getAttribute('role') || implicitRole(el)) === role
  && (prefix ? accName(el).startsWith(name) : accName(el) === name) && visible(el)
  && (row == null || text(el.closest('tr') || document.createElement('tr')).includes(row)));
if (found.length === 1 && mark) found[0].setAttribute('data-e2e', mark);
return found.length;
"#;
