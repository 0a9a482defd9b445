//! Live updates: a broadcast of "conversation X of account A changed" that handlers publish
//! after their change is committed, and that `GET /api/events` relays to each signed-in
//! brand user as Server-Sent Events. The events carry no content: the browser refetches
//! through the authorised API. "Person P was signed out" (deactivated) ends P's streams, so
//! their open pages learn at once that the session is gone. "Person P is typing in
//! conversation X" goes the same way (a named event to those who may see X), and is never
//! stored.
//!
//! Several instances on one PostgreSQL relay their changes to each other with
//! `NOTIFY`/`LISTEN` ([`Live::relay_postgres`]): a line stored by one instance reaches the
//! browsers connected to every other.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Instant;
use tokio::sync::{broadcast, mpsc, watch};

/// How many changes a slow listener may fall behind before it is told to refetch
/// everything.
const BACKLOG: usize = 256;

/// Something changed that open pages must know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Something in a conversation changed.
    Conversation {
        account_id: i64,
        conversation_id: i64,
    },
    /// Every session of this person ended (deactivated): their event streams close.
    SignedOut { user_id: i64 },
    /// A person is writing a reply in a conversation (collision detection; never stored).
    Typing {
        account_id: i64,
        conversation_id: i64,
        user_id: i64,
    },
}

/// A person's typing in one conversation is told at most this often.
pub const TYPING_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// The hub every instance-local listener subscribes to.
#[derive(Clone)]
pub struct Live {
    changes: broadcast::Sender<Change>,
    stopping: watch::Sender<bool>,
    /// This instance's changes, for the other instances (set by [`Live::relay_postgres`]).
    relay: Arc<OnceLock<mpsc::UnboundedSender<Change>>>,
    /// When each (person, conversation) typing was last told.
    typing: Arc<std::sync::Mutex<HashMap<(i64, i64), Instant>>>,
}

/// The PostgreSQL channel the instances tell each other on.
const CHANNEL: &str = "socialconnect_live";

impl Default for Live {
    fn default() -> Self {
        Self::new()
    }
}

impl Live {
    pub fn new() -> Self {
        Live {
            changes: broadcast::channel(BACKLOG).0,
            stopping: watch::channel(false).0,
            relay: Arc::default(),
            typing: Arc::default(),
        }
    }

    /// Tells listeners that these conversations of `account_id` changed.
    pub fn conversations_changed(&self, account_id: i64, conversations: &[i64]) {
        for &conversation_id in conversations {
            self.publish(Change::Conversation {
                account_id,
                conversation_id,
            });
        }
    }

    /// Tells every instance that `user_id` is writing in a conversation of `account_id`,
    /// unless that was told less than [`TYPING_EVERY`] ago; whether it was told.
    pub fn typing(&self, account_id: i64, conversation_id: i64, user_id: i64) -> bool {
        let now = Instant::now();
        {
            let Ok(mut told) = self.typing.lock() else {
                return false;
            };
            if told
                .get(&(user_id, conversation_id))
                .is_some_and(|at| now.duration_since(*at) < TYPING_EVERY)
            {
                return false;
            }
            if told.len() >= 4096 {
                told.retain(|_, at| now.duration_since(*at) < TYPING_EVERY);
            }
            told.insert((user_id, conversation_id), now);
        }
        self.publish(Change::Typing {
            account_id,
            conversation_id,
            user_id,
        });
        true
    }

    /// Tells every instance that `user_id`'s sessions ended: their streams close.
    pub fn signed_out(&self, user_id: i64) {
        self.publish(Change::SignedOut { user_id });
    }

    fn publish(&self, change: Change) {
        // No listener is not an error.
        let _ = self.changes.send(change);
        if let Some(relay) = self.relay.get() {
            let _ = relay.send(change);
        }
    }

    /// Shares changes with every instance on the database at `url`: this instance's go out
    /// with `NOTIFY`, the others' come in by `LISTEN` and reach this instance's listeners.
    /// Listening has begun when this returns. A lost connection is re-established; changes
    /// made meanwhile reach the browsers with their next change or refetch.
    pub async fn relay_postgres(&self, url: &str) -> anyhow::Result<()> {
        use anyhow::Context;
        let origin: u64 = rand::random();
        let mut listener = sqlx::postgres::PgListener::connect(url)
            .await
            .context("connecting to PostgreSQL for live updates")?;
        listener
            .listen(CHANNEL)
            .await
            .context("listening for live updates")?;
        // A NOTIFY commits a transaction of its own; it stores nothing, so it need not wait
        // for a WAL flush (the webhooks' flushes are the ones to the disk's pace).
        let options = url
            .parse::<sqlx::postgres::PgConnectOptions>()
            .context("SOCIALCONNECT_DATABASE_URL is not a valid PostgreSQL URL")?
            .options([("synchronous_commit", "off")]);
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(2)
            .connect_with(options)
            .await
            .context("connecting to PostgreSQL for live updates")?;
        let (tx, mut rx) = mpsc::unbounded_channel::<Change>();
        if self.relay.set(tx).is_err() {
            anyhow::bail!("live updates are relayed already");
        }
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                // What piled up while the last NOTIFY was in flight goes in one statement.
                let mut payloads = vec![encode(origin, first)];
                while let Ok(more) = rx.try_recv() {
                    payloads.push(encode(origin, more));
                }
                let sent = sqlx::query("SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p")
                    .bind(CHANNEL)
                    .bind(&payloads)
                    .execute(&pool)
                    .await;
                if let Err(e) = sent {
                    tracing::warn!(error = %e, "live updates: telling the other instances failed");
                }
            }
        });
        let changes = self.changes.clone();
        tokio::spawn(async move {
            loop {
                match listener.recv().await {
                    Ok(n) => match decode(n.payload()) {
                        Some((from, change)) if from != origin => {
                            let _ = changes.send(change);
                        }
                        Some(_) => {}
                        None => tracing::warn!(payload = n.payload(), "live updates: unreadable"),
                    },
                    Err(e) => {
                        // PgListener reconnects on the next recv.
                        tracing::warn!(error = %e, "live updates: connection lost; reconnecting");
                        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                    }
                }
            }
        });
        Ok(())
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.changes.subscribe()
    }

    /// Resolves when the server is shutting down, so open streams end instead of holding
    /// the graceful shutdown for its whole grace period.
    pub fn stopping(&self) -> watch::Receiver<bool> {
        self.stopping.subscribe()
    }

    pub fn stop(&self) {
        let _ = self.stopping.send(true);
    }
}

/// `origin:account:conversation`, `origin:signed-out:user`, or
/// `origin:typing:account:conversation:user`: ids only, never content.
fn encode(origin: u64, c: Change) -> String {
    match c {
        Change::Typing {
            account_id,
            conversation_id,
            user_id,
        } => format!("{origin}:typing:{account_id}:{conversation_id}:{user_id}"),
        Change::Conversation {
            account_id,
            conversation_id,
        } => format!("{origin}:{account_id}:{conversation_id}"),
        Change::SignedOut { user_id } => format!("{origin}:signed-out:{user_id}"),
    }
}

fn decode(payload: &str) -> Option<(u64, Change)> {
    let mut parts = payload.split(':');
    let origin = parts.next()?.parse().ok()?;
    let first = parts.next()?;
    if first == "typing" {
        let mut id = || parts.next()?.parse().ok();
        let change = Change::Typing {
            account_id: id()?,
            conversation_id: id()?,
            user_id: id()?,
        };
        return parts.next().is_none().then_some((origin, change));
    }
    let second = parts.next()?.parse().ok()?;
    let change = match first {
        "signed-out" => Change::SignedOut { user_id: second },
        account => Change::Conversation {
            account_id: account.parse().ok()?,
            conversation_id: second,
        },
    };
    parts.next().is_none().then_some((origin, change))
}

#[cfg(test)]
mod tests {
    #[test]
    fn relayed_changes_read_back_as_written() {
        let c = Change::Conversation {
            account_id: 7,
            conversation_id: 42,
        };
        assert_eq!(decode(&encode(99, c)), Some((99, c)));
        let out = Change::SignedOut { user_id: 5 };
        assert_eq!(decode(&encode(99, out)), Some((99, out)));
        let typing = Change::Typing {
            account_id: 7,
            conversation_id: 42,
            user_id: 5,
        };
        assert_eq!(decode(&encode(99, typing)), Some((99, typing)));
        assert_eq!(decode("1:typing:2:3"), None);
        assert_eq!(decode("1:typing:2:3:4:5"), None);
        assert_eq!(decode("1:signed-out:x"), None);
        assert_eq!(decode("1:2"), None);
        assert_eq!(decode("1:2:3:4"), None);
        assert_eq!(decode("x:2:3"), None);
    }

    use super::*;

    #[tokio::test]
    async fn listeners_get_every_change_published_after_they_subscribe() {
        let live = Live::new();
        live.conversations_changed(1, &[9]);
        let mut rx = live.subscribe();
        live.conversations_changed(1, &[2, 3]);
        let conversation = |account_id, conversation_id| Change::Conversation {
            account_id,
            conversation_id,
        };
        assert_eq!(rx.recv().await.unwrap(), conversation(1, 2));
        assert_eq!(rx.recv().await.unwrap(), conversation(1, 3));
        live.signed_out(4);
        assert_eq!(rx.recv().await.unwrap(), Change::SignedOut { user_id: 4 });
    }

    #[tokio::test]
    async fn typing_is_told_once_per_person_and_conversation_in_a_while() {
        let live = Live::new();
        let mut rx = live.subscribe();
        assert!(live.typing(1, 9, 5));
        assert!(!live.typing(1, 9, 5), "the same person again at once");
        assert!(live.typing(1, 9, 6), "another person");
        assert!(live.typing(1, 8, 5), "another conversation");
        let typing = |conversation_id, user_id| Change::Typing {
            account_id: 1,
            conversation_id,
            user_id,
        };
        assert_eq!(rx.recv().await.unwrap(), typing(9, 5));
        assert_eq!(rx.recv().await.unwrap(), typing(9, 6));
        assert_eq!(rx.recv().await.unwrap(), typing(8, 5));
        assert!(rx.try_recv().is_err());
    }
}
