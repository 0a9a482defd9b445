//! People without the demo: admins invite people in SocialConnect Home, who choose their
//! password once through a one-time link; deactivating ends sessions and open event
//! streams; the last admin stays; and the operator commands of CONTRACT.md §5
//! (`accounts create`, `users add|list|disable`) run against the binary.

use crate::common;

use common::{ADMIN, TestServer};
use futures_util::StreamExt;
use serde_json::{Value, json};
use std::process::Output;
use std::time::Duration;

/// A browser: its cookie jar and, once signed in, its CSRF token.
type Browser = common::client::Client;

impl Browser {
    /// Chooses a password through a link's token; on success this browser is signed in.
    async fn set_password(&mut self, link: &str, password: &str) -> (u16, Value) {
        let token = link.split("token=").nth(1).expect("a token in the link");
        let (status, body) = self
            .post(
                "/api/password",
                json!({"token": token, "password": password}),
            )
            .await;
        if status == 200 {
            self.csrf = body["csrf_token"].as_str().unwrap().to_owned();
        }
        (status, body)
    }
}

async fn admin(server: &TestServer) -> Browser {
    Browser::sign_in(&server.url, ADMIN.0, ADMIN.1, ADMIN.2).await
}

fn person<'a>(overview: &'a Value, email: &str) -> &'a Value {
    overview["people"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["email"] == email)
        .unwrap_or_else(|| panic!("{email} in {overview}"))
}

const AGNES: &str = "agnes@brand.example";

/// The status a password sign-in as Agnes gets, in a fresh browser.
async fn agnes_signs_in(server: &TestServer, password: &str) -> u16 {
    Browser::new(&server.url)
        .post(
            "/api/session",
            json!({"account_number": ADMIN.0, "email": AGNES, "password": password}),
        )
        .await
        .0
}
const GOOD: &str = "a long and unusual passphrase";

/// Invites Agnes (agent) and has her choose [`GOOD`]: her signed-in browser and id.
async fn agnes(server: &TestServer, admin: &Browser) -> (Browser, i64) {
    let (status, invited) = admin
        .post(
            "/api/home/people",
            json!({"email": AGNES, "name": "Agnes", "role": "agent"}),
        )
        .await;
    assert_eq!(status, 201, "{invited}");
    let mut browser = Browser::new(&server.url);
    let (status, me) = browser
        .set_password(invited["link"].as_str().unwrap(), GOOD)
        .await;
    assert_eq!(status, 200, "{me}");
    (browser, invited["person"]["id"].as_i64().unwrap())
}

#[tokio::test]
async fn an_invited_person_chooses_a_password_once_and_is_signed_in() {
    let server = TestServer::start(None).await;
    let admin = admin(&server).await;
    let invite = |email: &str, role: &str| json!({"email": email, "name": "Agnes", "role": role});
    let (status, invited) = admin.post("/api/home/people", invite(AGNES, "agent")).await;
    assert_eq!(status, 201, "{invited}");
    let link = invited["link"].as_str().unwrap();
    assert!(
        link.starts_with(&format!("{}/set-password?token=", server.url)),
        "{link}"
    );
    assert_eq!(invited["person"]["status"], "invited");
    assert_eq!(invited["person"]["last_sign_in"], Value::Null);
    for (body, code) in [
        (invite("AGNES@brand.example", "agent"), 409),
        (invite("not an email", "agent"), 400),
        (invite("sue@brand.example", "support"), 400),
    ] {
        assert_eq!(
            admin.post("/api/home/people", body.clone()).await.0,
            code,
            "{body}"
        );
    }

    // Not signed in before choosing a password, whatever is tried.
    assert_eq!(agnes_signs_in(&server, "").await, 400);
    assert_eq!(agnes_signs_in(&server, GOOD).await, 401);

    let mut agnes = Browser::new(&server.url);
    for (password, rule) in [
        ("short", "at least 12"),
        (AGNES, "email"),
        ("1qaz2wsx3edc", "common"),
    ] {
        let (status, body) = agnes.set_password(link, password).await;
        assert_eq!(status, 400, "{password}: {body}");
        assert!(body["message"].as_str().unwrap().contains(rule), "{body}");
    }
    let (status, me) = agnes.set_password(link, GOOD).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(
        (me["email"].as_str(), me["role"].as_str()),
        (Some(AGNES), Some("agent"))
    );
    assert_eq!(
        agnes.get("/api/session").await.0,
        200,
        "signed in by the link"
    );
    let (status, body) = Browser::new(&server.url).set_password(link, GOOD).await;
    assert_eq!(status, 410, "single use: {body}");

    assert_eq!(agnes_signs_in(&server, GOOD).await, 200);
    let (_, overview) = admin.get("/api/home").await;
    let row = person(&overview, AGNES);
    assert_eq!(row["status"], "active");
    assert!(row["last_sign_in"].is_string(), "{row}");
    let (_, overview) = admin.get("/api/home").await;
    let audit = overview["audit"].to_string();
    assert!(
        audit.contains("invited") && audit.contains(AGNES),
        "{audit}"
    );
    server.stop().await;
}

#[tokio::test]
async fn deactivating_ends_sessions_and_event_streams_and_the_last_admin_stays() {
    let server = TestServer::start(None).await;
    let admin = admin(&server).await;
    let (agnes, id) = agnes(&server, &admin).await;

    // Her open page's event stream.
    let res = agnes
        .http
        .get(format!("{}/api/events", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let mut stream = res.bytes_stream();

    let (status, row) = admin
        .post(&format!("/api/home/people/{id}/deactivate"), Value::Null)
        .await;
    assert_eq!(
        (status, row["status"].as_str()),
        (200, Some("disabled")),
        "{row}"
    );
    // The stream ends (a generous deadline, not a timing assertion).
    let ended = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(chunk) = stream.next().await {
            if chunk.is_err() {
                break;
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the deactivated person's event stream ended");
    assert_eq!(agnes.get("/api/session").await.0, 401);
    assert_eq!(agnes.get("/api/events").await.0, 401);
    assert_eq!(agnes_signs_in(&server, GOOD).await, 401);

    // The bootstrap admin is the last admin: neither deactivated nor demoted.
    let (_, me) = admin.get("/api/session").await;
    let admin_id = me["user_id"].as_i64().unwrap();
    for (method, path, body) in [
        (
            reqwest::Method::POST,
            format!("/api/home/people/{admin_id}/deactivate"),
            Value::Null,
        ),
        (
            reqwest::Method::PUT,
            format!("/api/home/people/{admin_id}/role"),
            json!({"role": "agent"}),
        ),
    ] {
        let (status, body) = admin.call(method, &path, Some(body)).await;
        assert_eq!(status, 409, "{path}: {body}");
        assert!(
            body["message"].as_str().unwrap().contains("last admin"),
            "{body}"
        );
    }

    let (status, row) = admin
        .post(&format!("/api/home/people/{id}/reactivate"), Value::Null)
        .await;
    assert_eq!(
        (status, row["status"].as_str()),
        (200, Some("active")),
        "{row}"
    );
    let agnes = Browser::sign_in(&server.url, ADMIN.0, AGNES, GOOD).await;
    let (status, row) = admin
        .call(
            reqwest::Method::PUT,
            &format!("/api/home/people/{id}/role"),
            Some(json!({"role": "admin"})),
        )
        .await;
    assert_eq!(
        (status, row["role"].as_str()),
        (200, Some("admin")),
        "{row}"
    );
    // With a second admin, the first may step down; People is for admins only.
    let (status, _) = admin
        .call(
            reqwest::Method::PUT,
            &format!("/api/home/people/{admin_id}/role"),
            Some(json!({"role": "agent"})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(admin.get("/api/home").await.0, 403);
    let (_, overview) = agnes.get("/api/home").await;
    let audit = overview["audit"].to_string();
    for action in ["deactivated", "reactivated", "changed role"] {
        assert!(audit.contains(action), "{action} in {audit}");
    }
    server.stop().await;
}

fn run(data_dir: &std::path::Path, args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_socialconnect"))
        .args(args)
        .env("SOCIALCONNECT_DATA_DIR", data_dir)
        .env("SOCIALCONNECT_PUBLIC_URL", "https://sc.example")
        .env_remove("SOCIALCONNECT_DATABASE_URL")
        .output()
        .unwrap()
}

/// The command succeeded: its stdout.
fn ok(out: Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    String::from_utf8(out.stdout).unwrap()
}

/// The command failed with one plain line on stderr: that line.
fn refused(out: Output) -> String {
    assert!(
        !out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let stderr = String::from_utf8(out.stderr).unwrap();
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {stderr}");
    lines[0].to_owned()
}

fn json_lines(out: &str) -> Vec<Value> {
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test]
async fn operator_commands_create_accounts_and_people_without_a_password_on_the_line() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path();
    let said = ok(run(
        dir,
        &["accounts", "create", "--account", "5151", "--name", "Acme"],
    ));
    assert!(said.contains("not enabled"), "{said}");
    assert!(
        refused(run(
            dir,
            &["accounts", "create", "--account", "5151", "--name", "A"]
        ))
        .contains("exists")
    );

    let add = |args: &[&str]| {
        let mut all = vec!["users", "add"];
        all.extend_from_slice(args);
        run(dir, &all)
    };
    let link = ok(add(&[
        "--account",
        "5151",
        "--email",
        "cy@acme.example",
        "--name",
        "Cy",
        "--role",
        "admin",
    ]));
    let lines: Vec<&str> = link.lines().collect();
    assert_eq!(lines.len(), 1, "the link on its own line: {link}");
    assert!(
        lines[0].starts_with("https://sc.example/set-password?token="),
        "{link}"
    );
    ok(add(&[
        "--account",
        "5151",
        "--email",
        "di@acme.example",
        "--name",
        "Di",
        "--role",
        "agent",
    ]));
    ok(add(&[
        "--support",
        "--email",
        "sue@sc.example",
        "--name",
        "Sue",
    ]));
    assert!(
        refused(add(&[
            "--account",
            "5151",
            "--email",
            "CY@acme.example",
            "--name",
            "Cy",
            "--role",
            "agent",
        ]))
        .contains("already")
    );
    assert!(
        refused(add(&[
            "--account",
            "9999",
            "--email",
            "x@acme.example",
            "--name",
            "X",
            "--role",
            "agent",
        ]))
        .contains("9999")
    );
    assert!(
        !add(&[
            "--account",
            "5151",
            "--email",
            "x@acme.example",
            "--name",
            "X"
        ])
        .status
        .success(),
        "a brand's person needs a role"
    );

    let listed = json_lines(&ok(run(dir, &["users", "list", "--account", "5151"])));
    assert_eq!(listed.len(), 2);
    assert_eq!(
        listed[0],
        json!({"account": "5151", "email": "cy@acme.example", "name": "Cy", "role": "admin",
               "status": "invited", "skills": []})
    );
    let staff = json_lines(&ok(run(dir, &["users", "list", "--support"])));
    assert_eq!(
        (staff.len(), &staff[0]["role"], &staff[0]["account"]),
        (1, &json!("support"), &Value::Null)
    );
    assert_eq!(json_lines(&ok(run(dir, &["users", "list"]))).len(), 3);

    // A server on the same data: Cy chooses a password and signs in; the account is not
    // enabled, so she may not link yet.
    let server = TestServer::start_in(data, None).await;
    let dir = server.data_dir.path();
    let mut cy = Browser::new(&server.url);
    let (status, me) = cy.set_password(lines[0], GOOD).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["account"]["socialconnect_enabled"], false);
    assert_eq!(cy.post("/api/home/link/facebook", Value::Null).await.0, 403);
    let di_link = ok(run(
        dir,
        &[
            "users",
            "add",
            "--account",
            "5151",
            "--email",
            "ed@acme.example",
            "--name",
            "Ed",
            "--role",
            "agent",
        ],
    ));
    let mut ed = Browser::new(&server.url);
    assert_eq!(ed.set_password(di_link.trim(), GOOD).await.0, 200);

    // While the server runs: the last admin stays; an agent's sessions end.
    let disable = |email: &str| {
        run(
            dir,
            &["users", "disable", "--account", "5151", "--email", email],
        )
    };
    assert!(refused(disable("cy@acme.example")).contains("last admin"));
    assert!(refused(disable("nobody@acme.example")).contains("nobody@acme.example"));
    ok(disable("ed@acme.example"));
    assert_eq!(ed.get("/api/session").await.0, 401);
    let listed = json_lines(&ok(run(dir, &["users", "list", "--account", "5151"])));
    let status =
        |email: &str| listed.iter().find(|p| p["email"] == email).unwrap()["status"].clone();
    assert_eq!(
        (
            status("cy@acme.example"),
            status("di@acme.example"),
            status("ed@acme.example")
        ),
        (json!("active"), json!("invited"), json!("disabled"))
    );
    server.stop().await;
}

/// A local SMTP listener that accepts every message: the raw messages it received.
async fn smtp_listener() -> (u16, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let kept = received.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let kept = kept.clone();
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read).lines();
                write.write_all(b"220 test ESMTP\r\n").await.unwrap();
                let mut data: Option<String> = None;
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Some(body) = data.as_mut() {
                        if line == "." {
                            kept.lock().unwrap().push(data.take().unwrap());
                            write.write_all(b"250 queued\r\n").await.unwrap();
                        } else {
                            body.push_str(&line);
                            body.push('\n');
                        }
                        continue;
                    }
                    let verb = line.get(..4).unwrap_or_default().to_ascii_uppercase();
                    let answer: &[u8] = match verb.as_str() {
                        "EHLO" | "HELO" => b"250 test\r\n",
                        "DATA" => {
                            data = Some(String::new());
                            b"354 go on\r\n"
                        }
                        "QUIT" => {
                            write.write_all(b"221 bye\r\n").await.unwrap();
                            return;
                        }
                        _ => b"250 ok\r\n",
                    };
                    write.write_all(answer).await.unwrap();
                }
            });
        }
    });
    (port, received)
}

#[tokio::test]
async fn with_smtp_settings_the_invitation_is_emailed_too() {
    let (port, received) = smtp_listener().await;
    let server = TestServer::start_with(tempfile::tempdir().unwrap(), |a| {
        a.smtp_url = Some(format!("smtp://127.0.0.1:{port}"));
        a.smtp_from = Some("Brand Support <support@brand.example>".into());
    })
    .await;
    let admin = admin(&server).await;
    let (status, invited) = admin
        .post(
            "/api/home/people",
            json!({"email": AGNES, "name": "Agnes", "role": "agent"}),
        )
        .await;
    assert_eq!(status, 201, "{invited}");
    assert_eq!(invited["emailed"], true);
    let mail = received.lock().unwrap().concat();
    assert!(
        mail.contains(&format!("To: \"Agnes\" <{AGNES}>"))
            || mail.contains(&format!("To: Agnes <{AGNES}>")),
        "{mail}"
    );
    assert!(
        mail.contains("From: \"Brand Support\" <support@brand.example>")
            || mail.contains("From: Brand Support <support@brand.example>"),
        "{mail}"
    );
    // Quoted-printable folds the long link and escapes its `=`.
    let unfolded = mail.replace("=\n", "").replace("=3D", "=");
    assert!(
        unfolded.contains(invited["link"].as_str().unwrap()),
        "{mail}"
    );
    server.stop().await;
}

#[tokio::test]
async fn people_change_their_password_and_sign_out_everywhere() {
    let server = TestServer::start(None).await;
    let admin = admin(&server).await;
    let (laptop, _) = agnes(&server, &admin).await;
    let phone = Browser::sign_in(&server.url, ADMIN.0, AGNES, GOOD).await;
    let change =
        |current: &str, new: &str| json!({"current_password": current, "new_password": new});
    let (status, body) = laptop
        .call(
            reqwest::Method::PUT,
            "/api/session/password",
            Some(change("not it", "another long passphrase")),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = laptop
        .call(
            reqwest::Method::PUT,
            "/api/session/password",
            Some(change(GOOD, "short")),
        )
        .await;
    assert!(
        status == 400 && body.to_string().contains("at least 12"),
        "{body}"
    );
    let (status, body) = laptop
        .call(
            reqwest::Method::PUT,
            "/api/session/password",
            Some(change(GOOD, "another long passphrase")),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(
        laptop.get("/api/session").await.0,
        200,
        "this session stays"
    );
    assert_eq!(phone.get("/api/session").await.0, 401, "the others end");
    assert_eq!(agnes_signs_in(&server, GOOD).await, 401);
    assert_eq!(
        agnes_signs_in(&server, "another long passphrase").await,
        200
    );

    let (status, _) = laptop
        .call(reqwest::Method::DELETE, "/api/sessions", Some(Value::Null))
        .await;
    assert_eq!(status, 204);
    assert_eq!(laptop.get("/api/session").await.0, 401);
    assert_eq!(admin.get("/api/session").await.0, 200, "only hers");
    server.stop().await;
}

#[tokio::test]
async fn admins_rename_and_retire_skills_and_choose_all_skills_explicitly() {
    let server = TestServer::start(None).await;
    let admin = admin(&server).await;
    let (_, id) = agnes(&server, &admin).await;
    let (status, skill) = admin
        .post("/api/home/skills", json!({"name": "billing"}))
        .await;
    assert_eq!(status, 201, "{skill}");
    let skill_id = skill["id"].as_i64().unwrap();
    let (_, second) = admin
        .post("/api/home/skills", json!({"name": "returns"}))
        .await;
    let put = reqwest::Method::PUT;
    let path = format!("/api/home/skills/{skill_id}");
    assert_eq!(
        admin
            .call(put.clone(), &path, Some(json!({"name": "returns"})))
            .await
            .0,
        409
    );
    assert_eq!(
        admin
            .call(put.clone(), &path, Some(json!({"name": " "})))
            .await
            .0,
        400
    );
    assert_eq!(
        admin
            .call(put.clone(), &path, Some(json!({"name": "Billing"})))
            .await
            .0,
        204
    );

    // An invited agent answers every skill until an admin chooses.
    let (_, overview) = admin.get("/api/home").await;
    assert_eq!(person(&overview, AGNES)["all_skills"], true);
    let skills_path = format!("/api/home/people/{id}/skills");
    let (status, row) = admin
        .call(
            put.clone(),
            &skills_path,
            Some(json!({"skills": [skill_id, second["id"]]})),
        )
        .await;
    assert_eq!(status, 200, "{row}");
    assert_eq!(
        (
            row["all_skills"].as_bool(),
            row["skills"].as_array().map(Vec::len)
        ),
        (Some(false), Some(2))
    );

    let (status, _) = admin
        .post(&format!("/api/home/skills/{skill_id}/retire"), Value::Null)
        .await;
    assert_eq!(status, 204);
    let (_, overview) = admin.get("/api/home").await;
    let names: Vec<&str> = overview["skills"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert!(
        !names.contains(&"Billing") && names.contains(&"returns"),
        "{names:?}"
    );
    assert_eq!(person(&overview, AGNES)["skills"], json!([second["id"]]));
    assert_eq!(
        admin
            .post(&format!("/api/home/skills/{skill_id}/retire"), Value::Null)
            .await
            .0,
        404
    );
    let audit = overview["audit"].to_string();
    assert!(
        audit.contains("renamed skill") && audit.contains("retired skill"),
        "{audit}"
    );
    let (status, row) = admin
        .call(
            put,
            &skills_path,
            Some(json!({"skills": [], "all_skills": true})),
        )
        .await;
    assert_eq!((status, row["all_skills"].as_bool()), (200, Some(true)));
    server.stop().await;
}
