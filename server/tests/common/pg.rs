//! A fresh PostgreSQL database per test, dropped afterwards, on the server named by
//! `SOCIALCONNECT_TEST_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/test`,
//! the one `cargo xtask test` uses). Without a reachable server the PostgreSQL tests fail
//! and say how to get one; `SOCIALCONNECT_TEST_DATABASE_URL=off` runs only the embedded
//! database's half, with a warning.

use sqlx::Connection;
use sqlx::postgres::PgConnection;

pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// The server's URL, or `None` when the PostgreSQL half is switched off.
pub fn server_url() -> Option<String> {
    let url = std::env::var("SOCIALCONNECT_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| DEFAULT_URL.to_owned());
    if url == "off" {
        eprintln!(
            "\n*** WARNING: SOCIALCONNECT_TEST_DATABASE_URL=off — the PostgreSQL storage tests \
             did NOT run. ***\n"
        );
        return None;
    }
    Some(url)
}

/// A database of its own; dropped (with its connections) when this is dropped.
pub struct PgDb {
    pub url: String,
    server: String,
    name: String,
}

impl PgDb {
    /// A new empty database, or `None` when PostgreSQL is switched off.
    pub async fn create() -> Option<PgDb> {
        let server = server_url()?;
        let mut admin = PgConnection::connect(&server).await.unwrap_or_else(|e| {
            panic!(
                "\n*** PostgreSQL is not reachable at {server}: {e}\n*** The storage suite runs \
                 on both backends: start PostgreSQL (e.g. `apt-get install postgresql`, trust \
                 auth for 127.0.0.1) or point SOCIALCONNECT_TEST_DATABASE_URL at one; \
                 SOCIALCONNECT_TEST_DATABASE_URL=off skips the PostgreSQL half.\n"
            )
        });
        let name = format!(
            "sc_test_{}_{:016x}",
            std::process::id(),
            rand::random::<u64>()
        );
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .unwrap();
        admin.close().await.ok();
        let mut url = url::Url::parse(&server).expect("SOCIALCONNECT_TEST_DATABASE_URL is a URL");
        url.set_path(&name);
        Some(PgDb {
            url: url.to_string(),
            server,
            name,
        })
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        // Drop runs inside the test's runtime: the clean-up gets a thread and runtime of
        // its own.
        let (server, name) = (self.server.clone(), self.name.clone());
        let done = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(mut admin) = PgConnection::connect(&server).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut admin)
                        .await;
                }
            })
        });
        let _ = done.join();
    }
}
