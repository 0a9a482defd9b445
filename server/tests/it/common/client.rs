//! Someone using the API as the browser does: a cookie jar (no redirect followed), the
//! session's CSRF token, and JSON both ways.

use reqwest::StatusCode;
use serde_json::{Value, json};

pub struct Client {
    pub http: reqwest::Client,
    pub csrf: String,
    pub base: String,
}

impl Client {
    /// A browser with no session yet.
    pub fn new(base: &str) -> Client {
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Client {
            http,
            csrf: String::new(),
            base: base.to_owned(),
        }
    }

    /// Signed in with a password (asserted to succeed).
    pub async fn sign_in(base: &str, account: &str, email: &str, password: &str) -> Client {
        let mut c = Client::new(base);
        let body = json!({"account_number": account, "email": email, "password": password});
        let (status, me) = c.post("/api/session", body).await;
        assert_eq!(status, StatusCode::OK.as_u16(), "{me}");
        c.csrf = me["csrf_token"].as_str().unwrap().to_owned();
        c
    }

    /// `method path` with the CSRF header and, when given, a JSON body: the status and the
    /// answer as JSON (or as a string when it is not JSON).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("x-csrf-token", &self.csrf);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, None).await
    }
}
