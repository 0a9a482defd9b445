//! The `socialconnect` command line: logging set-up and the subcommands.

use crate::config::{
    Cli, Command, ExportArgs, LinkArgs, LinkNetwork, MigrateArgs, SandboxArgs, ServeArgs,
};
use clap::Parser;
use std::io::IsTerminal;
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=info"));
    // The server logs to stdout; commands whose stdout is data log to stderr.
    let logs = tracing_subscriber::fmt().with_env_filter(filter);
    match &cli.command {
        Command::Serve(args) if args.log_format == crate::config::LogFormat::Json => {
            logs.json().with_current_span(false).init()
        }
        Command::Serve(_) => logs.with_ansi(std::io::stdout().is_terminal()).init(),
        _ => logs
            .with_ansi(std::io::stderr().is_terminal())
            .with_writer(std::io::stderr)
            .init(),
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("socialconnect: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve(*args).await,
            Command::Export(args) => export(args).await,
            Command::Count(args) => crate::count_cmd::run(
                args.target,
                std::io::stdin().lock(),
                std::io::BufWriter::new(std::io::stdout().lock()),
            ),
            Command::Link(args) => link(*args).await,
            Command::Sandbox(args) => sandbox(args).await,
            Command::Migrate(args) => migrate(args).await,
            Command::Accounts(args) => {
                crate::people_cmd::accounts(args, &mut std::io::stdout().lock()).await
            }
            Command::Users(args) => {
                let (mut out, mut note) = (std::io::stdout(), std::io::stderr());
                crate::people_cmd::users(args, &mut out, &mut note).await
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("socialconnect: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", args.listen))?;
    crate::run(args, listener, shutdown_signal()).await
}

/// `socialconnect link`: what Add Account does after the sign-in, with tokens in hand.
async fn link(args: LinkArgs) -> anyhow::Result<()> {
    match args.network {
        LinkNetwork::Facebook {
            account,
            page_id,
            page_name,
            page_token,
            skill,
            settings,
        } => {
            let (store, cipher) = settings.store.open_sealed().await?;
            let http = crate::connectors::http_client();
            let page = crate::link::FacebookPage {
                account_number: &account,
                page_id: &page_id,
                page_name: &page_name,
                page_token: &page_token,
                skill: &skill,
                by: "socialconnect link",
            };
            crate::link::link_facebook(store.as_ref(), &cipher, &http, &settings.facebook, page)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!(
                "linked Facebook page {page_name} ({page_id}) to account {account}; \
                 conversations go to skill {skill:?}"
            );
        }
        LinkNetwork::Twitter {
            account,
            user_id,
            screen_name,
            token,
            token_secret,
            skill,
            settings,
        } => {
            let (store, cipher) = settings.store.open_sealed().await?;
            let http = crate::connectors::http_client();
            let acct = crate::link::TwitterAccount {
                account_number: &account,
                user_id: &user_id,
                screen_name: &screen_name,
                token: &token,
                token_secret: &token_secret,
                skill: &skill,
                by: "socialconnect link",
            };
            let (_, warning) = crate::link::link_twitter(
                store.as_ref(),
                &cipher,
                &http,
                &settings.twitter,
                settings.public_url.as_deref(),
                acct,
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!(
                "linked Twitter/X account @{screen_name} ({user_id}) to account {account}; \
                 conversations go to skill {skill:?}"
            );
            if let Some(w) = warning {
                eprintln!("warning: {w}");
            }
        }
        LinkNetwork::Liveengage {
            account,
            le_account,
            client_id,
            client_secret,
            settings,
        } => {
            let (store, cipher) = settings.store.open_sealed().await?;
            let http = crate::connectors::http_client();
            let app = crate::link::LiveEngageApp {
                account_number: &account,
                le_account_id: &le_account,
                client_id: &client_id,
                client_secret: &client_secret,
                skill_map: None,
                by: "socialconnect link",
            };
            crate::link::link_liveengage(store.as_ref(), &cipher, &http, &settings.liveengage, app)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!(
                "connected account {account} to LiveEngage account {le_account} (client \
                 {client_id}); its conversations are mirrored there"
            );
        }
    }
    Ok(())
}

/// `socialconnect export`: one JSON line per conversation on stdout.
async fn export(args: ExportArgs) -> anyhow::Result<()> {
    use std::io::Write;
    let since_ms = match &args.since {
        Some(s) => {
            let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                .map_err(|e| anyhow::anyhow!("--since {s:?} is not an RFC 3339 time: {e}"))?;
            (t.unix_timestamp_nanos() / 1_000_000) as i64
        }
        None => i64::MIN,
    };
    let store = args.store.open().await?;
    let account = store
        .account_by_number(&args.account)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no brand account {:?}", args.account))?;
    let conversations = store.export(account.id, since_ms).await?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for c in &conversations {
        serde_json::to_writer(&mut out, c)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

/// `socialconnect migrate`: the schema brought up to date, and where it stands.
async fn migrate(args: MigrateArgs) -> anyhow::Result<()> {
    let report =
        crate::store::migrate(args.store.database_url.as_deref(), &args.store.data_dir).await?;
    if report.applied.is_empty() {
        println!(
            "{}: schema at version {}, nothing to apply",
            report.engine, report.version
        );
    } else {
        let applied: Vec<String> = report.applied.iter().map(i64::to_string).collect();
        println!(
            "{}: applied {}; schema at version {}",
            report.engine,
            applied.join(", "),
            report.version
        );
    }
    Ok(())
}

/// `socialconnect sandbox`: the simulated networks alone, until Ctrl-C or SIGTERM.
async fn sandbox(args: SandboxArgs) -> anyhow::Result<()> {
    let running = sandbox::Sandbox::start(sandbox::SandboxOptions {
        listen: args.listen,
        callback: args.callback,
        credentials: None,
    })
    .await?;
    let stop = shutdown_signal();
    for (key, value) in running.settings() {
        println!("{key}={value}");
    }
    eprintln!(
        "sandbox listening on {url}; consumer console at {url}/console",
        url = running.url
    );
    let c = &running.credentials;
    eprintln!(
        "LiveEngage: socialconnect link liveengage --account ACCOUNT --le-account {} \
         --client-id {} --client-secret {}",
        c.liveengage_account_id, c.liveengage_client_id, c.liveengage_client_secret
    );
    eprintln!(
        "LiveEngage agent workspace (hosting {}): {}",
        running.liveengage.widget_url(),
        running.liveengage.workspace_url()
    );
    stop.await;
    running.stop().await;
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM. The handlers are installed when this is called, not
/// when the future is first polled, so a signal sent right after the ready line (or the
/// sandbox's settings) is never missed.
fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let handlers = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::interrupt()).ok(),
            signal(SignalKind::terminate()).ok(),
        )
    };
    async move {
        #[cfg(unix)]
        {
            let (mut int, mut term) = handlers;
            let int = async {
                match int.as_mut() {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            let term = async {
                match term.as_mut() {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = int => {},
                _ = term => {},
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        tracing::info!("shutting down");
    }
}
