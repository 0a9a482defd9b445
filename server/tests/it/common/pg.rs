//! A fresh PostgreSQL database per test, dropped afterwards, on the server named by
//! `SOCIALCONNECT_TEST_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/test`).
//! Every test that asks for one needs that server: without it the test fails saying how to
//! get one (`cargo xtask services` starts a local one when it can, `cargo xtask test` too).

use sqlx::Connection;
use sqlx::postgres::PgConnection;

pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// What a test says when the server is missing or refuses it.
fn missing(server: &str, what: &str, e: impl std::fmt::Display) -> String {
    format!(
        "\n*** PostgreSQL at SOCIALCONNECT_TEST_DATABASE_URL={server}: {what}: {e}\n*** This test \
         needs a PostgreSQL server where it may create databases (default {DEFAULT_URL}, trust \
         auth). `cargo xtask services` starts a local one when it can (`cargo xtask test` does \
         too), or says what is missing; see README.md, \"Tests worth knowing\".\n"
    )
}

/// The server's URL: `SOCIALCONNECT_TEST_DATABASE_URL`, else [`DEFAULT_URL`].
pub fn server_url() -> String {
    std::env::var("SOCIALCONNECT_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| DEFAULT_URL.to_owned())
}

/// A database of its own; dropped (with its connections) when this is dropped.
pub struct PgDb {
    pub url: String,
    server: String,
    name: String,
}

impl PgDb {
    /// A new empty database; panics saying how to get a server when there is none.
    pub async fn create() -> PgDb {
        let server = server_url();
        let mut admin = PgConnection::connect(&server)
            .await
            .unwrap_or_else(|e| panic!("{}", missing(&server, "not reachable", e)));
        let name = format!(
            "sc_test_{}_{:016x}",
            std::process::id(),
            rand::random::<u64>()
        );
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .unwrap_or_else(|e| panic!("{}", missing(&server, "cannot create a database", e)));
        admin.close().await.ok();
        let mut url = url::Url::parse(&server).expect("SOCIALCONNECT_TEST_DATABASE_URL is a URL");
        url.set_path(&name);
        PgDb {
            url: url.to_string(),
            server,
            name,
        }
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
