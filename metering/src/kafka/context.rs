//! The consumer context: on partition revocation, waits (bounded) until every message already
//! handed to the processor is written and its offset stored, then commits synchronously.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::ClientContext;

/// Message counts shared between the reader (handed to a writer) and the writers (written,
/// offsets stored). Counts, not sequence numbers: writers finish their batches in any order.
#[derive(Default)]
pub(crate) struct Progress {
    /// Handed to the writers. Only the reader task adds to it, and a drain runs inside that
    /// task's poll (or after it has ended), so an atomic suffices: no lock per message.
    sent: AtomicU64,
    /// Finished by the writers, under the lock the drain waits on.
    state: Mutex<u64>,
    changed: Condvar,
    /// Set once every writer has stopped: nothing more will be finished, so a revocation
    /// (the one closing the consumer) has nothing to wait for.
    writers_stopped: std::sync::atomic::AtomicBool,
}

impl Progress {
    /// The reader handed `n` more messages to the writers.
    pub fn sent(&self, n: u64) {
        self.sent.fetch_add(n, Ordering::Release);
    }

    /// A writer finished `n` more messages (written, offsets stored).
    pub fn done(&self, n: u64) {
        if let Ok(mut s) = self.state.lock() {
            *s += n;
        }
        self.changed.notify_all();
    }

    /// Every writer has stopped; messages still queued for them will not be written here
    /// (their offsets are not stored, so the next owner re-reads them).
    pub fn writers_stopped(&self) {
        // Under the lock, so a drain between its check and its wait cannot miss the wake-up.
        let guard = self.state.lock();
        self.writers_stopped
            .store(true, std::sync::atomic::Ordering::SeqCst);
        drop(guard);
        self.changed.notify_all();
    }

    fn stopped(&self) -> bool {
        self.writers_stopped
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Waits until everything sent is done, at most `timeout`. Returns whether it drained.
    fn drain(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let sent = self.sent.load(Ordering::Acquire);
        let Ok(mut s) = self.state.lock() else {
            return false;
        };
        while *s < sent {
            if self.stopped() {
                return false;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            s = match self.changed.wait_timeout(s, left) {
                Ok((guard, _)) => guard,
                Err(_) => return false,
            };
        }
        true
    }
}

pub(crate) struct DrainContext {
    pub progress: std::sync::Arc<Progress>,
    pub drain_timeout: Duration,
}

impl ClientContext for DrainContext {}

impl ConsumerContext for DrainContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let Rebalance::Revoke(tpl) = rebalance else {
            return;
        };
        // Runs inside the reader's poll. On a multi-thread runtime, block_in_place lets the
        // processor keep running on the other workers while this thread waits.
        let multi = tokio::runtime::Handle::try_current()
            .map(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread)
            .unwrap_or(false);
        let drained = if multi {
            tokio::task::block_in_place(|| self.progress.drain(self.drain_timeout))
        } else {
            self.progress.drain(Duration::ZERO)
        };
        if drained {
            tracing::info!(
                partitions = tpl.count(),
                "revoke: in-flight messages drained"
            );
        } else if self.progress.stopped() {
            tracing::info!(
                partitions = tpl.count(),
                "revoke after the writers stopped: the next owner re-reads what was not written"
            );
        } else {
            tracing::warn!(
                partitions = tpl.count(),
                "revoke: drain deadline passed; the new owner re-reads uncommitted messages (deduplicated)"
            );
        }
        if let Err(e) = consumer.commit_consumer_state(CommitMode::Sync) {
            tracing::debug!(error = %e, "revoke: nothing to commit");
        }
    }

    fn commit_callback(
        &self,
        result: rdkafka::error::KafkaResult<()>,
        _offsets: &rdkafka::TopicPartitionList,
    ) {
        if let Err(e) = result {
            tracing::debug!(error = %e, "offset commit");
        }
    }
}
