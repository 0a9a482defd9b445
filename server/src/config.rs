//! The command line and settings (CONTRACT.md §1): every setting is a flag and an
//! environment variable, parsed once here and handed to the rest as typed values.

use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

#[derive(Debug, Parser)]
#[command(
    name = "socialconnect",
    version,
    about = "SocialConnect: Facebook and Twitter/X customer care in the agent workspace"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server: webhooks, the internal API and the widget.
    Serve(Box<ServeArgs>),
    /// Link a Facebook page or Twitter/X account with tokens an admin already holds:
    /// subscribe its webhooks, store the token encrypted, map the channel to a skill.
    Link(Box<LinkArgs>),
    /// Write every conversation of a brand account as JSON Lines on stdout.
    Export(ExportArgs),
    /// Count texts as the network counts them: JSON Lines `{"text": ...}` on stdin, one
    /// `{"length","limit","valid"}` line per input on stdout.
    Count(CountArgs),
    /// Apply the database migrations this build carries and print the schema version
    /// (`serve` applies them too; this runs them on their own, e.g. before upgrading a fleet).
    Migrate(MigrateArgs),
    /// Run only the sandbox networks (simulated Facebook and Twitter/X) and print the
    /// settings that point a server at them.
    Sandbox(SandboxArgs),
    /// Brand accounts: create one (SocialConnect enabled only with `--enabled`).
    Accounts(AccountsArgs),
    /// People: add one (printing their one-time set-password link), list, disable.
    Users(UsersArgs),
}

/// How the server writes its log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct AccountsArgs {
    #[command(subcommand)]
    pub command: AccountsCommand,
}

#[derive(Debug, Clone, Subcommand)]
pub enum AccountsCommand {
    /// Create a brand account; its admins can sign in, and link once SocialConnect is
    /// enabled (here with `--enabled`, or later by support).
    Create {
        /// The brand's account number.
        #[arg(long)]
        account: String,
        /// The brand's name.
        #[arg(long)]
        name: String,
        /// Enable SocialConnect for it now.
        #[arg(long)]
        enabled: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Debug, Clone, Args)]
pub struct UsersArgs {
    #[command(subcommand)]
    pub command: UsersCommand,
}

/// Whose person: a brand account's (`--account`) or support staff (`--support`).
#[derive(Debug, Clone, Args)]
#[group(required = true, multiple = false)]
pub struct UserScope {
    /// The brand's account number.
    #[arg(long)]
    pub account: Option<String>,
    /// SocialConnect's own support staff (no account).
    #[arg(long)]
    pub support: bool,
}

#[derive(Debug, Clone, Subcommand)]
pub enum UsersCommand {
    /// Add a person and print, on its own line, the one-time link through which they
    /// choose their password (single use, valid 72 hours). No password is ever given here.
    Add {
        #[command(flatten)]
        scope: UserScope,
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        /// `admin` or `agent` (with `--account`).
        #[arg(long, required_unless_present = "support", conflicts_with = "support")]
        role: Option<shared::Role>,
        /// The URL people reach the server at: the link's base [default: http://<listen address>].
        #[arg(long, env = "SOCIALCONNECT_PUBLIC_URL")]
        public_url: Option<String>,
        #[arg(
            long,
            env = "SOCIALCONNECT_LISTEN",
            default_value = "127.0.0.1:8080",
            hide = true
        )]
        listen: SocketAddr,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// One JSON line per person: account, email, name, role, status, skills.
    List {
        /// The brand's account number (every person of every account when neither this
        /// nor `--support` is given).
        #[arg(long, conflicts_with = "support")]
        account: Option<String>,
        /// Support staff only.
        #[arg(long)]
        support: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Disable a person: they cannot sign in, and every session of theirs ends.
    Disable {
        #[command(flatten)]
        scope: UserScope,
        #[arg(long)]
        email: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Debug, Clone, Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Clone, Args)]
pub struct SandboxArgs {
    /// Address the sandbox listens on (`127.0.0.1:0` picks a free port).
    #[arg(long, default_value = "127.0.0.1:8090")]
    pub listen: SocketAddr,

    /// The SocialConnect server's base URL; webhooks go to `{callback}/webhooks/...`.
    #[arg(long)]
    pub callback: String,
}

#[derive(Debug, Clone, Args)]
pub struct LinkArgs {
    #[command(subcommand)]
    pub network: LinkNetwork,
}

/// Settings every `link` needs: storage and the networks' apps.
#[derive(Debug, Clone, Args)]
pub struct LinkSettings {
    #[command(flatten)]
    pub store: StoreArgs,

    /// The URL the networks reach the server at (where webhooks are registered).
    #[arg(long, env = "SOCIALCONNECT_PUBLIC_URL")]
    pub public_url: Option<String>,

    #[command(flatten)]
    pub facebook: FacebookArgs,

    #[command(flatten)]
    pub twitter: TwitterArgs,

    #[command(flatten)]
    pub liveengage: LiveEngageArgs,
}

#[derive(Debug, Clone, Subcommand)]
pub enum LinkNetwork {
    /// A Facebook page, with a page (or Business Manager system-user) access token.
    Facebook {
        /// The brand's account number.
        #[arg(long)]
        account: String,
        #[arg(long)]
        page_id: String,
        /// The page's username (used for m.me links).
        #[arg(long)]
        page_name: String,
        #[arg(long)]
        page_token: String,
        /// The skill conversations from this page are routed to (created if missing).
        #[arg(long, default_value = "social")]
        skill: String,
        #[command(flatten)]
        settings: Box<LinkSettings>,
    },
    /// A Twitter/X account, with an OAuth 1.0a access token pair (developer portal).
    Twitter {
        /// The brand's account number.
        #[arg(long)]
        account: String,
        /// The account's numeric id.
        #[arg(long)]
        user_id: String,
        #[arg(long)]
        screen_name: String,
        #[arg(long)]
        token: String,
        #[arg(long)]
        token_secret: String,
        /// The skill conversations from this account are routed to (created if missing).
        #[arg(long, default_value = "social")]
        skill: String,
        #[command(flatten)]
        settings: Box<LinkSettings>,
    },
    /// A LiveEngage account, through the connector app installed there: the brand's
    /// conversations are mirrored into LiveEngage and its agents' messages come back.
    Liveengage {
        /// The brand's account number.
        #[arg(long)]
        account: String,
        /// The LiveEngage account (site) id.
        #[arg(long)]
        le_account: String,
        /// The connector app's client id (from its installation).
        #[arg(long)]
        client_id: String,
        /// The connector app's client secret (stored sealed).
        #[arg(long)]
        client_secret: String,
        #[command(flatten)]
        settings: Box<LinkSettings>,
    },
}

#[derive(Debug, Clone, Args)]
pub struct CountArgs {
    /// twitter-public, twitter-dm, facebook-post, facebook-comment or messenger.
    #[arg(long)]
    pub target: shared::Target,
}

#[derive(Debug, Clone, Args)]
pub struct ExportArgs {
    /// The brand's account number.
    #[arg(long)]
    pub account: String,

    /// Only conversations with a line at or after this time (RFC 3339).
    #[arg(long)]
    pub since: Option<String>,

    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on (`127.0.0.1:0` picks a free port).
    #[arg(long, env = "SOCIALCONNECT_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// The URL people and networks reach this server at [default: http://<listen address>,
    /// https:// with a certificate].
    #[arg(long, env = "SOCIALCONNECT_PUBLIC_URL")]
    pub public_url: Option<String>,

    #[command(flatten)]
    pub tls: TlsArgs,

    #[command(flatten)]
    pub store: StoreArgs,

    #[command(flatten)]
    pub media_store: MediaStoreArgs,

    /// ACCOUNT_NUMBER:EMAIL:PASSWORD — create that brand account (SocialConnect enabled)
    /// and admin at start when they do not exist.
    #[arg(long, env = "SOCIALCONNECT_BOOTSTRAP_ADMIN", hide_env_values = true)]
    pub bootstrap_admin: Option<BootstrapAdmin>,

    #[command(flatten)]
    pub facebook: FacebookArgs,

    #[command(flatten)]
    pub twitter: TwitterArgs,

    #[command(flatten)]
    pub liveengage: LiveEngageArgs,

    /// The built widget (Trunk's output) to serve.
    #[arg(long, env = "SOCIALCONNECT_WIDGET_DIR", default_value = "dist")]
    pub widget_dir: PathBuf,

    /// Origins (`scheme://host[:port]`, separated by spaces or commas) allowed to frame the
    /// Social Widget page (`/widget`), e.g. LiveEngage's agent workspace. Every other page
    /// is framed by this server's own pages only [default: none].
    #[arg(
        long,
        env = "SOCIALCONNECT_FRAME_ANCESTORS",
        default_value = "",
        hide_default_value = true
    )]
    pub frame_ancestors: OriginList,

    /// Seed a demo brand with an admin, an agent and support staff, and print the sign-ins.
    #[arg(long)]
    pub demo: bool,

    /// HOST:PORTs, separated by spaces or commas, whose inbound media may be fetched over
    /// plain http and from loopback or private addresses: the sandbox networks on this
    /// machine (`socialconnect sandbox` prints it; `--demo` sets it). Every other media URL
    /// must be https on the networks' media hosts [default: none].
    #[arg(
        long,
        env = "SOCIALCONNECT_MEDIA_HTTP_HOSTS",
        default_value = "",
        hide_default_value = true
    )]
    pub media_http_hosts: crate::uploads::policy::HostList,

    /// The bearer token `GET /metrics` (Prometheus' text format) requires. Unset: no
    /// `/metrics`.
    #[arg(long, env = "SOCIALCONNECT_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,

    /// `text`, or `json` for log pipelines (one JSON object per line).
    #[arg(
        long,
        env = "SOCIALCONNECT_LOG_FORMAT",
        value_enum,
        default_value = "text"
    )]
    pub log_format: LogFormat,

    /// Where invitations are emailed from: `smtp://[USER:PASSWORD@]HOST[:PORT]` (add
    /// `?tls=required` for STARTTLS) or `smtps://…` (TLS from the start). Unset: set-password
    /// links are shown to the admin to pass on, never emailed.
    #[arg(long, env = "SOCIALCONNECT_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,

    /// The sender of those emails [default: SocialConnect <no-reply@PUBLIC_URL's host>].
    #[arg(long, env = "SOCIALCONNECT_SMTP_FROM")]
    pub smtp_from: Option<String>,

    /// For tests only: let `POST /api/uploads/from-url` fetch loopback and private
    /// addresses. Off by default, which refuses them (the server must never be made to
    /// reach its own network on a caller's behalf).
    #[arg(long, hide = true)]
    pub allow_private_media_urls: bool,

    /// Load balancers or reverse proxies in front of this server, as IP addresses or CIDR
    /// ranges (comma-separated): from these, the client's address is the last one
    /// `X-Forwarded-For` names that is not itself listed (sign-in throttling counts per
    /// client address) [default: none; the TCP peer is the client].
    #[arg(long, env = "SOCIALCONNECT_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<crate::auth::IpRange>,

    /// Sign-in throttling's limits (10 per account and email, 100 failures per client
    /// address, per 5 minutes). Not a flag.
    #[arg(skip)]
    pub sign_in_limits: crate::auth::SignInLimits,

    /// The clock of automation (opening hours, bots' deadlines) and of sign-in
    /// throttling's windows: the system's, or one a test sets. Not a flag.
    #[arg(skip)]
    pub clock: crate::automation::Clock,
}

/// HTTPS on the server's own listener: HTTP/2 (offered by ALPN) and HTTP/1.1. Without
/// them the server speaks plain HTTP/1.1, for a TLS-terminating proxy in front.
#[derive(Debug, Clone, Default, Args)]
pub struct TlsArgs {
    /// A PEM file with the certificate chain, leaf first; with `--tls-key`, serve HTTPS.
    #[arg(long, env = "SOCIALCONNECT_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// A PEM file with the certificate's private key (PKCS#8, PKCS#1 or SEC1).
    #[arg(long, env = "SOCIALCONNECT_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

impl TlsArgs {
    /// The certificate and key files, when both are set.
    pub fn files(&self) -> Option<(&Path, &Path)> {
        Some((self.tls_cert.as_deref()?, self.tls_key.as_deref()?))
    }

    /// `https` with a certificate, else `http`.
    pub fn scheme(&self) -> &'static str {
        if self.files().is_some() {
            "https"
        } else {
            "http"
        }
    }
}

/// Where data lives and how tokens are sealed: shared by every command that touches it.
#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// Where the embedded database and media live.
    #[arg(long, env = "SOCIALCONNECT_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// A postgres:// URL to use PostgreSQL instead of the embedded database.
    #[arg(long, env = "SOCIALCONNECT_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// Base64 of 32 random bytes: the key that encrypts network tokens at rest
    /// [default: a key file created once in the data dir].
    #[arg(long, env = "SOCIALCONNECT_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<String>,

    /// With several instances on PostgreSQL: seconds an instance keeps a reply it claimed
    /// before another instance may take it over (extended every third of it while the send
    /// is under way; an instance that died holds its replies no longer than this).
    #[arg(long, env = "SOCIALCONNECT_OUTBOX_LEASE_SECS", default_value_t = 120,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub outbox_lease_secs: u64,
}

impl StoreArgs {
    pub async fn open(&self) -> anyhow::Result<std::sync::Arc<dyn crate::store::Store>> {
        crate::store::open_with(
            self.database_url.as_deref(),
            &self.data_dir,
            std::time::Duration::from_secs(self.outbox_lease_secs),
        )
        .await
    }

    /// The PostgreSQL URL, when the settings name one (several instances may share it).
    pub fn postgres_url(&self) -> Option<&str> {
        self.database_url
            .as_deref()
            .filter(|u| u.starts_with("postgres://") || u.starts_with("postgresql://"))
    }

    pub fn cipher(&self) -> anyhow::Result<crate::crypto::TokenCipher> {
        crate::crypto::TokenCipher::load(self.secret_key.as_deref(), &self.data_dir)
    }

    /// The storage and the token cipher, for commands that seal or open tokens: refused
    /// when the key is not the one the database's tokens are sealed with (see
    /// [`crate::crypto::check_key`]).
    pub async fn open_sealed(
        &self,
    ) -> anyhow::Result<(
        std::sync::Arc<dyn crate::store::Store>,
        crate::crypto::TokenCipher,
    )> {
        let store = self.open().await?;
        let cipher = self.cipher()?;
        let source = match &self.secret_key {
            Some(_) => "SOCIALCONNECT_SECRET_KEY".to_owned(),
            None => format!(
                "the secret key in {}",
                self.data_dir.join(crate::crypto::KEY_FILE).display()
            ),
        };
        crate::crypto::check_key(store.as_ref(), &cipher, &source).await?;
        Ok((store, cipher))
    }
}

/// Where media copies and uploads live when not under the data dir.
#[derive(Debug, Clone, Args)]
pub struct MediaStoreArgs {
    /// `s3://BUCKET[/PREFIX]`: keep media copies and uploads in S3-compatible object
    /// storage, shared by every instance [default: unset, under the data dir].
    #[arg(long, env = "SOCIALCONNECT_MEDIA_STORE")]
    pub media_store: Option<String>,

    /// The object storage's endpoint, for S3-compatible services other than AWS
    /// (e.g. `http://127.0.0.1:9000`) [default: AWS S3].
    #[arg(long, env = "SOCIALCONNECT_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,

    /// The bucket's region.
    #[arg(long, env = "SOCIALCONNECT_S3_REGION", default_value = "us-east-1")]
    pub s3_region: String,

    /// The access key for the bucket [default: unset, the environment's AWS credentials].
    #[arg(long, env = "SOCIALCONNECT_S3_ACCESS_KEY_ID", hide_env_values = true)]
    pub s3_access_key_id: Option<String>,

    /// The access key's secret.
    #[arg(
        long,
        env = "SOCIALCONNECT_S3_SECRET_ACCESS_KEY",
        hide_env_values = true
    )]
    pub s3_secret_access_key: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct FacebookArgs {
    /// The Facebook app id [default: unset, Facebook off].
    #[arg(long, env = "SOCIALCONNECT_FACEBOOK_APP_ID")]
    pub facebook_app_id: Option<String>,

    /// The Facebook app secret (signs webhooks and `appsecret_proof`).
    #[arg(
        long,
        env = "SOCIALCONNECT_FACEBOOK_APP_SECRET",
        hide_env_values = true
    )]
    pub facebook_app_secret: Option<String>,

    /// The token Facebook's webhook verification handshake must present.
    #[arg(
        long,
        env = "SOCIALCONNECT_FACEBOOK_VERIFY_TOKEN",
        hide_env_values = true
    )]
    pub facebook_verify_token: Option<String>,

    /// Graph API base, version included.
    #[arg(
        long,
        env = "SOCIALCONNECT_FACEBOOK_GRAPH_URL",
        default_value = "https://graph.facebook.com/v24.0"
    )]
    pub facebook_graph_url: String,

    /// Base of the Facebook Login dialog (`{base}/dialog/oauth`).
    #[arg(
        long,
        env = "SOCIALCONNECT_FACEBOOK_WWW_URL",
        default_value = "https://www.facebook.com/v24.0"
    )]
    pub facebook_www_url: String,
}

#[derive(Debug, Clone, Args)]
pub struct TwitterArgs {
    /// The Twitter/X app's OAuth 1.0a consumer key [default: unset, Twitter off].
    #[arg(long, env = "SOCIALCONNECT_TWITTER_CONSUMER_KEY")]
    pub twitter_consumer_key: Option<String>,

    /// The Twitter/X app's consumer secret (signs CRC answers and webhooks).
    #[arg(
        long,
        env = "SOCIALCONNECT_TWITTER_CONSUMER_SECRET",
        hide_env_values = true
    )]
    pub twitter_consumer_secret: Option<String>,

    /// Twitter/X API base (`/oauth/...`, `/2/...`, `/1.1/...`).
    #[arg(
        long,
        env = "SOCIALCONNECT_TWITTER_API_URL",
        default_value = "https://api.x.com"
    )]
    pub twitter_api_url: String,

    /// Media upload base.
    #[arg(
        long,
        env = "SOCIALCONNECT_TWITTER_UPLOAD_URL",
        default_value = "https://api.x.com"
    )]
    pub twitter_upload_url: String,
}

#[derive(Debug, Clone, Args)]
pub struct LiveEngageArgs {
    /// Base of LivePerson's domain look-up (`/api/account/{id}/service/{service}/baseURI.json`);
    /// the hosts it returns are called with this base's scheme.
    #[arg(
        long,
        env = "SOCIALCONNECT_LIVEENGAGE_DOMAIN_URL",
        default_value = "https://api.liveperson.net"
    )]
    pub liveengage_domain_url: String,

    /// The agent workspace widget SDK script (`lpTag.agentSDK`) the Social Widget page
    /// loads when LiveEngage frames it; its origin is allowed in that page's
    /// `script-src`.
    #[arg(
        long,
        env = "SOCIALCONNECT_LIVEENGAGE_SDK_URL",
        default_value = "https://lpcdn.lpsnmedia.net/webagent/client-SDK.min.js"
    )]
    pub liveengage_sdk_url: ScriptUrl,
}

/// An http(s) URL of a script, with its origin (what a Content-Security-Policy names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptUrl {
    url: url::Url,
}

impl ScriptUrl {
    pub fn as_str(&self) -> &str {
        self.url.as_str()
    }

    /// `scheme://host[:port]`, as `script-src` takes it.
    pub fn origin(&self) -> String {
        self.url.origin().ascii_serialization()
    }
}

impl FromStr for ScriptUrl {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let url = url::Url::parse(s.trim()).map_err(|e| format!("{s:?} is not a URL: {e}"))?;
        if !matches!(url.scheme(), "https" | "http") || url.host_str().is_none() {
            return Err(format!("{s:?} is not an http(s) URL with a host"));
        }
        Ok(ScriptUrl { url })
    }
}

impl std::fmt::Display for ScriptUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.url.as_str())
    }
}

/// Origins (`scheme://host[:port]`, nothing after) separated by spaces or commas, as a
/// Content-Security-Policy's `frame-ancestors` lists them (empty: none).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OriginList(pub Vec<String>);

impl FromStr for OriginList {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.split([' ', ',', '\t', '\n'])
            .filter(|p| !p.trim().is_empty())
            .map(origin)
            .collect::<Result<Vec<_>, _>>()
            .map(OriginList)
    }
}

impl std::fmt::Display for OriginList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join(" "))
    }
}

/// One origin, checked and written as browsers serialise it (lower case, no default port).
/// Anything else in a policy (a path, a wildcard, `'none'`, a `;`) would widen or break it.
fn origin(s: &str) -> Result<String, String> {
    let bad = |why: &str| {
        format!(
            "{s:?} is not an origin ({why}); give scheme://host[:port], e.g. \
             https://z1.le.liveperson.net"
        )
    };
    let url = url::Url::parse(s).map_err(|e| bad(&e.to_string()))?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err(bad("http or https only"));
    }
    let host_ok = url.host_str().is_some_and(|h| {
        h.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '[' | ']' | ':'))
    });
    if !host_ok {
        return Err(bad("a host name or address, no wildcard"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("no user or password"));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(bad("nothing after the host and port"));
    }
    Ok(url.origin().ascii_serialization())
}

/// `ACCOUNT_NUMBER:EMAIL:PASSWORD`; the password is everything after the second colon.
#[derive(Clone, PartialEq, Eq)]
pub struct BootstrapAdmin {
    pub account_number: String,
    pub email: String,
    pub password: String,
}

impl std::fmt::Debug for BootstrapAdmin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BootstrapAdmin")
            .field("account_number", &self.account_number)
            .field("email", &self.email)
            .field("password", &"<redacted>")
            .finish()
    }
}

impl FromStr for BootstrapAdmin {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut parts = s.splitn(3, ':');
        let (Some(account), Some(email), Some(password)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return Err("expected ACCOUNT_NUMBER:EMAIL:PASSWORD".into());
        };
        if account.trim().is_empty() || !email.contains('@') || password.is_empty() {
            return Err(
                "expected ACCOUNT_NUMBER:EMAIL:PASSWORD with a non-empty account number, an \
                 email address and a password"
                    .into(),
            );
        }
        Ok(BootstrapAdmin {
            account_number: account.trim().to_owned(),
            email: email.trim().to_owned(),
            password: password.to_owned(),
        })
    }
}

impl ServeArgs {
    /// Settings for tests and embedding: every default, listening on a free loopback port.
    pub fn for_tests(data_dir: PathBuf) -> Self {
        let cli = Cli::parse_from(["socialconnect", "serve", "--listen", "127.0.0.1:0"]);
        let Command::Serve(mut args) = cli.command else {
            unreachable!("parsed a serve command")
        };
        args.store.data_dir = data_dir;
        *args
    }

    /// The public URL without a trailing slash, given the address actually bound.
    pub fn public_url_for(&self, bound: SocketAddr) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("{}://{bound}", self.tls.scheme()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bootstrap_admin_keeps_colons_in_the_password() {
        let b: BootstrapAdmin = "1000:ann@brand.example:pa:ss".parse().unwrap();
        assert_eq!(b.account_number, "1000");
        assert_eq!(b.email, "ann@brand.example");
        assert_eq!(b.password, "pa:ss");
        assert!("1000:ann".parse::<BootstrapAdmin>().is_err());
        assert!(":ann@x:pw".parse::<BootstrapAdmin>().is_err());
        assert!(!format!("{b:?}").contains("pa:ss"));
    }

    #[test]
    fn every_contract_setting_is_a_flag_and_an_env_var() {
        use clap::CommandFactory;
        let cmd = Cli::command();
        let serve = cmd.find_subcommand("serve").unwrap();
        let envs: Vec<String> = serve
            .get_arguments()
            .filter_map(|a| a.get_env().map(|e| e.to_string_lossy().into_owned()))
            .collect();
        for var in [
            "SOCIALCONNECT_LISTEN",
            "SOCIALCONNECT_PUBLIC_URL",
            "SOCIALCONNECT_DATA_DIR",
            "SOCIALCONNECT_DATABASE_URL",
            "SOCIALCONNECT_BOOTSTRAP_ADMIN",
            "SOCIALCONNECT_FACEBOOK_APP_ID",
            "SOCIALCONNECT_FACEBOOK_APP_SECRET",
            "SOCIALCONNECT_FACEBOOK_VERIFY_TOKEN",
            "SOCIALCONNECT_FACEBOOK_GRAPH_URL",
            "SOCIALCONNECT_FACEBOOK_WWW_URL",
            "SOCIALCONNECT_TWITTER_CONSUMER_KEY",
            "SOCIALCONNECT_TWITTER_CONSUMER_SECRET",
            "SOCIALCONNECT_TWITTER_API_URL",
            "SOCIALCONNECT_TWITTER_UPLOAD_URL",
            "SOCIALCONNECT_LIVEENGAGE_DOMAIN_URL",
            "SOCIALCONNECT_LIVEENGAGE_SDK_URL",
            "SOCIALCONNECT_FRAME_ANCESTORS",
        ] {
            assert!(envs.iter().any(|e| e == var), "{var} is not a setting");
            let flag = var
                .trim_start_matches("SOCIALCONNECT_")
                .to_lowercase()
                .replace('_', "-");
            assert!(
                serve
                    .get_arguments()
                    .any(|a| a.get_long() == Some(flag.as_str())),
                "--{flag} is not a flag"
            );
        }
    }

    #[test]
    fn media_http_hosts_are_a_list_and_none_by_default() {
        let parse = |extra: &[&str]| {
            let mut argv = vec!["socialconnect", "serve"];
            argv.extend_from_slice(extra);
            match Cli::try_parse_from(argv).map(|c| c.command) {
                Ok(Command::Serve(args)) => Ok(args.media_http_hosts.to_string()),
                Ok(_) => unreachable!("parsed a serve command"),
                Err(e) => Err(e.to_string()),
            }
        };
        assert_eq!(parse(&[]).unwrap(), "");
        assert_eq!(
            parse(&["--media-http-hosts", "127.0.0.1:8090 localhost:9000"]).unwrap(),
            "127.0.0.1:8090,localhost:9000"
        );
        assert!(parse(&["--media-http-hosts", "127.0.0.1"]).is_err());
    }

    #[test]
    fn frame_ancestors_are_origins_checked_at_start() {
        let parse = |extra: &[&str]| {
            let mut argv = vec!["socialconnect", "serve"];
            argv.extend_from_slice(extra);
            match Cli::try_parse_from(argv).map(|c| c.command) {
                Ok(Command::Serve(args)) => Ok(args.frame_ancestors.0),
                Ok(_) => unreachable!("parsed a serve command"),
                Err(e) => Err(e.to_string()),
            }
        };
        assert_eq!(parse(&[]).unwrap(), Vec::<String>::new());
        assert_eq!(
            parse(&[
                "--frame-ancestors",
                "https://z1.le.liveperson.net, HTTP://LocalHost:8090/ https://a.example:443"
            ])
            .unwrap(),
            [
                "https://z1.le.liveperson.net",
                "http://localhost:8090",
                "https://a.example"
            ]
        );
        for bad in [
            "z1.le.liveperson.net",
            "https://*.liveperson.net",
            "https://a.example/path",
            "https://a.example?x=1",
            "'none'",
            "*",
            "https://a.example;script-src",
            "javascript:alert(1)",
            "https://user@a.example",
        ] {
            let e = parse(&["--frame-ancestors", bad]).unwrap_err();
            assert!(e.contains("is not an origin"), "{bad}: {e}");
        }
    }

    #[test]
    fn the_sdk_url_is_an_http_url_whose_origin_a_policy_names() {
        let url: ScriptUrl = "https://lpcdn.lpsnmedia.net/webagent/client-SDK.min.js"
            .parse()
            .unwrap();
        assert_eq!(url.origin(), "https://lpcdn.lpsnmedia.net");
        let url: ScriptUrl = "http://127.0.0.1:9/liveengage/webagent/client-SDK.js"
            .parse()
            .unwrap();
        assert_eq!(url.origin(), "http://127.0.0.1:9");
        assert!("/webagent/client-SDK.js".parse::<ScriptUrl>().is_err());
        assert!(
            "data:text/javascript,alert(1)"
                .parse::<ScriptUrl>()
                .is_err()
        );
    }

    #[test]
    fn public_url_defaults_to_the_bound_address() {
        let cli =
            Cli::try_parse_from(["socialconnect", "serve", "--listen", "127.0.0.1:9999"]).unwrap();
        let Command::Serve(args) = cli.command else {
            panic!("not serve")
        };
        assert_eq!(args.listen.port(), 9999);
        assert_eq!(
            args.public_url_for("127.0.0.1:9999".parse().unwrap()),
            "http://127.0.0.1:9999"
        );
    }
}
