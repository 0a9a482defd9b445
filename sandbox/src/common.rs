//! What both simulated networks share: the record of API calls received, fault injection
//! per endpoint, webhook delivery with the networks' retries, and small helpers.

use hmac::{Hmac, Mac};
use rand::Rng;
use rand::distributions::Alphanumeric;
use serde::Serialize;
use sha2::Sha256;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// State shared by both networks of one sandbox.
#[derive(Clone)]
pub struct Shared {
    /// The sandbox's own base URL, e.g. `http://127.0.0.1:41234`.
    pub url: Arc<str>,
    /// The product's base URL; webhooks go to `{callback}/webhooks/{network}`.
    pub callback: Arc<str>,
    pub calls: CallLog,
    pub faults: Faults,
    pub webhooks: Webhooks,
}

impl Shared {
    pub fn new(url: &str, callback: &str) -> Self {
        Shared {
            url: url.into(),
            callback: callback.into(),
            calls: CallLog::default(),
            faults: Faults::default(),
            webhooks: Webhooks::new(),
        }
    }
}

/// A client for the sandbox's calls to the product (webhooks, their verification,
/// fetching what the product hosts). The product runs on this machine, and HTTPS there
/// has a self-signed certificate (a developer's, or a test's), which the sandbox accepts;
/// the real networks need one a public authority signed.
pub fn product_client() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .timeout(Duration::from_secs(10))
}

/// One API call the sandbox received, as tests inspect it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Call {
    /// `"facebook"` or `"twitter"`.
    pub network: &'static str,
    pub method: String,
    /// The path below the network's base, e.g. `/me/messages` or `/2/tweets`.
    pub path: String,
    pub query: String,
    /// The body as JSON when it was JSON or a form, else a short description.
    pub body: serde_json::Value,
    /// The status the sandbox answered with.
    pub status: u16,
}

/// Every API call received, in order.
#[derive(Clone, Default)]
pub struct CallLog(Arc<Mutex<Vec<Call>>>);

impl CallLog {
    pub fn record(&self, call: Call) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(call);
    }
    pub fn all(&self) -> Vec<Call> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
    /// The calls to `network` whose method and path match.
    pub fn matching(&self, network: &str, method: &str, path: &str) -> Vec<Call> {
        self.all()
            .into_iter()
            .filter(|c| c.network == network && c.method == method && c.path == path)
            .collect()
    }
}

/// A fault to inject on an endpoint.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Answer after this delay (then normally, unless another fault applies).
    Latency(Duration),
    /// Answer with this 5xx status and the network's error body.
    ServerError(u16),
    /// Answer 429 / the network's rate-limit error, with reset `retry_after` from now.
    RateLimited { retry_after: Duration },
    /// Treat the request's token as expired or revoked.
    ExpiredToken,
    /// For webhook deliveries: do not deliver.
    DropWebhook,
    /// Answer with this error of the network's, in its own shape (Graph `{"error": {code,
    /// error_subcode, message}}`, X `errors[]`/problem).
    Refuse {
        status: u16,
        code: u32,
        subcode: Option<u32>,
        message: String,
    },
}

impl Fault {
    /// Facebook's Send API answer to a page Meta restricted: code 10, subcode 1893063,
    /// "Pages temporarily restricted from sending" (Meta's 2026 changes, PLATFORMS.md).
    pub fn facebook_sending_restricted() -> Fault {
        Fault::Refuse {
            status: 400,
            code: 10,
            subcode: Some(1_893_063),
            message: "(#10) Pages temporarily restricted from sending".to_owned(),
        }
    }
}

/// Faults keyed by `(network, endpoint)`; an endpoint is `"METHOD /path-pattern"` as each
/// network names it (e.g. `"POST /me/messages"`, `"POST /2/tweets"`, `"webhook"`).
/// Each fault applies to the next `times` matching requests; faults queued with
/// [`Faults::inject_after`] start when the ones before them are used up.
#[derive(Clone, Default)]
pub struct Faults(Arc<Mutex<FaultTable>>);

/// Pending faults, how many more requests each applies to and its phase (faults of the
/// lowest phase apply), by (network, endpoint).
type FaultTable = HashMap<(String, String), Vec<(Fault, u32, u32)>>;

impl Faults {
    pub fn inject(&self, network: &str, endpoint: &str, fault: Fault, times: u32) {
        self.queue(network, endpoint, fault, times, false);
    }

    /// Like [`Faults::inject`], but the fault starts only when every fault already queued
    /// for the endpoint is used up (an outage, then rate limiting, with no gap between).
    pub fn inject_after(&self, network: &str, endpoint: &str, fault: Fault, times: u32) {
        self.queue(network, endpoint, fault, times, true);
    }

    fn queue(&self, network: &str, endpoint: &str, fault: Fault, times: u32, after: bool) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let list = map
            .entry((network.to_owned(), endpoint.to_owned()))
            .or_default();
        let last = list.iter().map(|f| f.2).max();
        let phase = match (after, last) {
            (true, Some(last)) => last + 1,
            _ => last.map_or(0, |_| list.iter().map(|f| f.2).min().unwrap_or(0)),
        };
        list.push((fault, times, phase));
    }

    /// Takes the faults that apply to this request (each use counts down).
    pub fn take(&self, network: &str, endpoint: &str) -> Vec<Fault> {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let Some(list) = map.get_mut(&(network.to_owned(), endpoint.to_owned())) else {
            return Vec::new();
        };
        let Some(now) = list.iter().map(|f| f.2).min() else {
            return Vec::new();
        };
        let mut taken = Vec::new();
        for (fault, times, phase) in list.iter_mut() {
            if *phase == now {
                taken.push(fault.clone());
                *times -= 1;
            }
        }
        list.retain(|f| f.1 > 0);
        taken
    }

    pub fn clear(&self) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

/// One webhook delivery attempt and how it went.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Delivery {
    pub network: &'static str,
    pub url: String,
    pub body: String,
    /// The product's status, or `None` when it could not be reached.
    pub status: Option<u16>,
    pub attempt: u32,
}

/// Sends signed webhooks to the product, retrying non-2xx answers with backoff as the
/// networks do (so the same event can arrive more than once), and records every attempt.
#[derive(Clone)]
pub struct Webhooks {
    http: reqwest::Client,
    log: Arc<Mutex<Vec<Delivery>>>,
    /// Delay before retry n (1-based) is `base * 2^(n-1)`; real networks wait minutes,
    /// the sandbox seconds or less so tests and demos see redelivery.
    pub retry_base: Duration,
    pub max_attempts: u32,
}

impl Webhooks {
    fn new() -> Self {
        Webhooks {
            http: product_client().build().expect("reqwest client"),
            log: Arc::default(),
            retry_base: Duration::from_millis(200),
            max_attempts: 6,
        }
    }

    /// Every attempt so far.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Delivers `body` with `headers` to `url` in the background, retrying until a 2xx or
    /// `max_attempts`. Returns at once.
    pub fn send(
        &self,
        network: &'static str,
        url: String,
        body: String,
        headers: Vec<(&'static str, String)>,
    ) -> tokio::task::JoinHandle<Option<u16>> {
        let this = self.clone();
        tokio::spawn(async move {
            let mut last = None;
            for attempt in 1..=this.max_attempts {
                let mut req = this
                    .http
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body.clone());
                for (k, v) in &headers {
                    req = req.header(*k, v);
                }
                let status = req.send().await.ok().map(|r| r.status().as_u16());
                this.log
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(Delivery {
                        network,
                        url: url.clone(),
                        body: body.clone(),
                        status,
                        attempt,
                    });
                last = status;
                if status.is_some_and(|s| (200..300).contains(&s)) {
                    break;
                }
                tokio::time::sleep(this.retry_base * 2u32.pow(attempt - 1)).await;
            }
            last
        })
    }
}

pub fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// Constant-time comparison of two strings.
pub fn same(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::thread_rng().fill(&mut buf[..]);
    hex::encode(buf)
}

pub fn random_alnum(len: usize) -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// A numeric id of `len` digits, not starting with 0 (the networks' ids are numeric strings).
pub fn random_digits(len: usize) -> String {
    let mut rng = rand::thread_rng();
    let mut s = String::with_capacity(len);
    s.push(char::from(b'1' + rng.gen_range(0..9)));
    for _ in 1..len {
        s.push(char::from(b'0' + rng.gen_range(0..10)));
    }
    s
}

pub fn now_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_apply_the_given_number_of_times() {
        let f = Faults::default();
        f.inject("facebook", "POST /me/messages", Fault::ServerError(503), 2);
        assert_eq!(
            f.take("facebook", "POST /me/messages"),
            vec![Fault::ServerError(503)]
        );
        assert_eq!(f.take("facebook", "POST /me/messages").len(), 1);
        assert!(f.take("facebook", "POST /me/messages").is_empty());
        assert!(f.take("twitter", "POST /me/messages").is_empty());
    }

    #[test]
    fn ids_look_like_the_networks() {
        let id = random_digits(15);
        assert_eq!(id.len(), 15);
        assert!(id.chars().all(|c| c.is_ascii_digit()) && !id.starts_with('0'));
        assert_eq!(random_hex(16).len(), 32);
    }

    #[test]
    fn faults_queued_after_start_when_the_ones_before_are_used_up() {
        let faults = Faults::default();
        let ep = "POST /me/messages";
        faults.inject("facebook", ep, Fault::ServerError(503), 2);
        faults.inject(
            "facebook",
            ep,
            Fault::Latency(std::time::Duration::from_millis(1)),
            1,
        );
        faults.inject_after("facebook", ep, Fault::ServerError(429), 1);
        let kinds = |f: Vec<Fault>| {
            f.iter()
                .map(|f| match f {
                    Fault::ServerError(code) => code.to_string(),
                    Fault::Latency(_) => "latency".to_owned(),
                    _ => "other".to_owned(),
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(kinds(faults.take("facebook", ep)), ["503", "latency"]);
        assert_eq!(kinds(faults.take("facebook", ep)), ["503"]);
        assert_eq!(kinds(faults.take("facebook", ep)), ["429"]);
        assert!(faults.take("facebook", ep).is_empty());
    }
}
