//! Live updates: a broadcast of "conversation X of account A changed" that handlers publish
//! after their change is committed, and that `GET /api/events` relays to each signed-in
//! brand user as Server-Sent Events. The events carry no content: the browser refetches
//! through the authorised API.

use tokio::sync::{broadcast, watch};

/// How many changes a slow listener may fall behind before it is told to refetch
/// everything.
const BACKLOG: usize = 256;

/// Something in a conversation changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    pub account_id: i64,
    pub conversation_id: i64,
}

/// The hub every instance-local listener subscribes to.
#[derive(Clone)]
pub struct Live {
    changes: broadcast::Sender<Change>,
    stopping: watch::Sender<bool>,
}

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
        }
    }

    /// Tells listeners that these conversations of `account_id` changed.
    pub fn conversations_changed(&self, account_id: i64, conversations: &[i64]) {
        for &conversation_id in conversations {
            // No listener is not an error.
            let _ = self.changes.send(Change {
                account_id,
                conversation_id,
            });
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn listeners_get_every_change_published_after_they_subscribe() {
        let live = Live::new();
        live.conversations_changed(1, &[9]);
        let mut rx = live.subscribe();
        live.conversations_changed(1, &[2, 3]);
        assert_eq!(rx.recv().await.unwrap().conversation_id, 2);
        assert_eq!(
            rx.recv().await.unwrap(),
            Change {
                account_id: 1,
                conversation_id: 3
            }
        );
    }
}
