//! Claims on work that instances sharing a database must do once: each instance's owner
//! id, and keeping a claim alive while the work under it is still running.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// This process's name in claims (outbox rows, bot turns): random, so an instance that
/// restarts is a new owner and never mistakes its former self's claims for its own.
#[derive(Clone, PartialEq, Eq)]
pub struct InstanceId(Arc<str>);

impl InstanceId {
    pub fn random() -> Self {
        InstanceId(hex::encode(rand::random::<[u8; 16]>()).into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for InstanceId {
    fn default() -> Self {
        Self::random()
    }
}

impl std::fmt::Debug for InstanceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "InstanceId({})", self.0)
    }
}

/// Runs `work` to its end, calling `renew` every `every` meanwhile (first after one
/// `every`), so a claim with a lease of three `every`s outlives slow work without another
/// instance taking it over.
pub async fn renewing<T, R>(
    work: impl Future<Output = T>,
    every: Duration,
    mut renew: impl FnMut() -> R,
) -> T
where
    R: Future<Output = ()>,
{
    tokio::pin!(work);
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        tokio::select! {
            done = &mut work => return done,
            _ = tick.tick() => renew().await,
        }
    }
}

/// Milliseconds of the system clock: claims are about real time across instances, never
/// a test's automation clock.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn instance_ids_differ() {
        assert_ne!(InstanceId::random(), InstanceId::random());
        assert_eq!(InstanceId::random().as_str().len(), 32);
    }

    #[tokio::test(start_paused = true)]
    async fn renews_while_the_work_runs_and_stops_after() {
        let renewed = AtomicUsize::new(0);
        let out = renewing(
            async {
                tokio::time::sleep(Duration::from_millis(350)).await;
                7
            },
            Duration::from_millis(100),
            || async {
                renewed.fetch_add(1, Ordering::SeqCst);
            },
        )
        .await;
        assert_eq!(out, 7);
        assert_eq!(renewed.load(Ordering::SeqCst), 3);
    }
}
