//! Queue consumers that come back: one supervised apalis worker per queue.
//!
//! apalis ends a worker's stream on any backend error (a dropped connection, a Redis restart
//! or stall, a Redis that lost its data and no longer knows the worker), and nothing starts
//! it again by itself. Here each queue has a supervisor that runs a consumer, and when it
//! ends with an error starts a new one after a capped exponential backoff, under a fresh
//! name (Redis refuses to register a name seen within the orphan window, and a fresh name
//! also registers again after Redis lost its data). Tasks the old consumer had taken are
//! handed to the new one by the orphan recovery of apalis-redis once the old name stops
//! beating; the job records in MongoDB keep such a task from running twice.
//!
//! Every consumer reports its heartbeats. A queue whose consumer has not beaten for
//! [`ConsumerSettings::stall_after`] (down, or hung) fails the worker's `/health/live`, so the
//! platform restarts the process; `/health/ready` names queues that are down right now.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicI64, Ordering},
    },
    time::{Duration, Instant},
};

use apalis::prelude::{
    Event, EventListenerExt, ParallelizeExt, WorkerBuilder, WorkerBuilderExt, WorkerContext,
};
use common::jobs::{self, JobMessage};
use tokio::sync::watch;

use crate::context::JobContext;

/// How consumers are restarted and when a silent one counts as stalled.
#[derive(Debug, Clone, Copy)]
pub struct ConsumerSettings {
    /// The first restart waits this long; each further one twice as long (±20 %).
    pub restart_base: Duration,
    /// The longest wait between restarts.
    pub restart_max: Duration,
    /// A queue whose consumer has not beaten for this long fails liveness.
    pub stall_after: Duration,
}

impl Default for ConsumerSettings {
    fn default() -> Self {
        Self {
            restart_base: Duration::from_millis(250),
            restart_max: Duration::from_secs(30),
            stall_after: Duration::from_secs(60),
        }
    }
}

/// A consumer that ran at least this long before failing starts again at the base backoff.
const HEALTHY_RUN: Duration = Duration::from_secs(60);

fn now_ms() -> i64 {
    bson::DateTime::now().timestamp_millis()
}

/// What the health server knows about one queue's consumer.
#[derive(Debug)]
struct QueueState {
    queue: &'static str,
    up: AtomicBool,
    last_beat_ms: AtomicI64,
}

/// The consumers of this process, as the health server sees them (cheap to clone).
#[derive(Debug, Clone)]
pub struct Consumers {
    states: Arc<Vec<QueueState>>,
    stall_after: Duration,
}

impl Consumers {
    /// Consumers of `queues`, counted as beating from now (start-up grace).
    pub fn new(queues: &[&'static str], stall_after: Duration) -> Self {
        let now = now_ms();
        for &queue in queues {
            // Exported from the start, so alerts see the series before anything fails.
            metrics::gauge!("queue_consumer_up", "queue" => queue).set(0.0);
            metrics::counter!("queue_consumer_restarts_total", "queue" => queue).increment(0);
        }
        let states = queues
            .iter()
            .map(|&queue| QueueState {
                queue,
                up: AtomicBool::new(false),
                last_beat_ms: AtomicI64::new(now),
            })
            .collect();
        Self {
            states: Arc::new(states),
            stall_after,
        }
    }

    fn state(&self, queue: &str) -> &QueueState {
        self.states
            .iter()
            .find(|s| s.queue == queue)
            .expect("every consumed queue has a state")
    }

    fn beat(&self, queue: &str) {
        let state = self.state(queue);
        state.last_beat_ms.store(now_ms(), Ordering::Relaxed);
        if !state.up.swap(true, Ordering::Relaxed) {
            metrics::gauge!("queue_consumer_up", "queue" => state.queue).set(1.0);
        }
    }

    fn down(&self, queue: &str) {
        let state = self.state(queue);
        state.up.store(false, Ordering::Relaxed);
        metrics::gauge!("queue_consumer_up", "queue" => state.queue).set(0.0);
    }

    /// Queues whose consumer is not running right now (failed, waiting to restart).
    pub fn down_queues(&self) -> Vec<&'static str> {
        self.states
            .iter()
            .filter(|s| !s.up.load(Ordering::Relaxed))
            .map(|s| s.queue)
            .collect()
    }

    /// Queues whose consumer has not beaten for longer than the stall bound: the process
    /// should be restarted.
    pub fn stalled_queues(&self) -> Vec<&'static str> {
        let limit = i64::try_from(self.stall_after.as_millis()).unwrap_or(i64::MAX);
        let now = now_ms();
        self.states
            .iter()
            .filter(|s| now - s.last_beat_ms.load(Ordering::Relaxed) > limit)
            .map(|s| s.queue)
            .collect()
    }
}

/// The wait before restart number `failures` (1-based): `base × 2^(failures-1)`, capped,
/// ±20 %.
pub fn restart_backoff(settings: &ConsumerSettings, failures: u32) -> Duration {
    super::runner::exponential(settings.restart_base, failures, settings.restart_max)
}

/// One queue to consume.
#[derive(Debug, Clone, Copy)]
pub struct QueueSpec {
    /// The queue's name.
    pub queue: &'static str,
    /// Tasks run at once by this process.
    pub concurrency: usize,
}

/// Runs the consumer of `spec.queue` until `stop` turns true, restarting it whenever it
/// ends with an error. Returns once the last consumer has finished its running tasks.
pub async fn supervise(
    spec: QueueSpec,
    instance: String,
    ctx: JobContext,
    consumers: Consumers,
    settings: ConsumerSettings,
    stop: watch::Receiver<bool>,
) {
    let queue = spec.queue;
    let mut failures = 0u32;
    loop {
        if *stop.borrow() {
            return;
        }
        // A fresh name per run: see the module documentation.
        let name = format!("{queue}-{instance}-{}", ulid::Ulid::generate());
        let started = Instant::now();
        let result = run_consumer(spec, &name, &ctx, &consumers, stop.clone()).await;
        consumers.down(queue);
        forget_worker(&ctx, queue, &name).await;
        let error = match result {
            Ok(()) => return,
            Err(e) => e,
        };
        if *stop.borrow() {
            return;
        }
        if started.elapsed() >= HEALTHY_RUN {
            failures = 0;
        }
        failures = failures.saturating_add(1);
        metrics::counter!("queue_consumer_restarts_total", "queue" => queue).increment(1);
        let wait = restart_backoff(&settings, failures);
        tracing::warn!(
            queue,
            consumer = %name,
            error = %error,
            failures,
            wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
            "queue consumer stopped; starting a new one"
        );
        let mut stop = stop.clone();
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// Runs one consumer until it fails (`Err`) or `stop` turns true and its running tasks have
/// finished (`Ok`).
async fn run_consumer(
    spec: QueueSpec,
    name: &str,
    ctx: &JobContext,
    consumers: &Consumers,
    stop: watch::Receiver<bool>,
) -> Result<(), apalis::prelude::WorkerError> {
    let queue = spec.queue;
    let beats = consumers.clone();
    WorkerBuilder::new(name)
        .backend(jobs::consumer_storage::<JobMessage>(
            &ctx.kv,
            queue,
            spec.concurrency,
        ))
        .concurrency(spec.concurrency)
        .parallelize(tokio::spawn)
        .data(ctx.clone())
        .on_event(move |_, event| {
            if matches!(event, Event::HeartBeat) {
                beats.beat(queue);
            }
        })
        .build(super::runner::deliver)
        .run_with_ctx(move |worker: WorkerContext| {
            let mut stop = stop.clone();
            async move {
                let _ = stop.wait_for(|s| *s).await;
                // Already stopped when the consumer failed first: nothing to do.
                let _ = worker.stop();
                Ok(())
            }
        })
        .await
}

/// Deletes the registration metadata of a consumer that has ended (its name is never used
/// again). Its entry in the workers set stays: orphan recovery uses it to hand back the
/// tasks it held, and removes it.
async fn forget_worker(ctx: &JobContext, queue: &str, name: &str) {
    // apalis-redis' key for it (`Config::worker_metadata_key`), which needs a live context.
    let key = format!("{}:workers:metadata:{name}", ctx.kv.key(queue));
    let mut conn = ctx.kv.conn();
    if let Err(e) = redis::cmd("DEL")
        .arg(&key)
        .query_async::<()>(&mut conn)
        .await
    {
        tracing::debug!(error = %e, "consumer metadata not deleted");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restarts_back_off_exponentially_up_to_the_cap() {
        let settings = ConsumerSettings::default();
        for _ in 0..50 {
            let first = restart_backoff(&settings, 1).as_millis();
            let third = restart_backoff(&settings, 3).as_millis();
            let late = restart_backoff(&settings, 40).as_millis();
            assert!((200..=300).contains(&first), "{first}");
            assert!((800..=1200).contains(&third), "{third}");
            assert!((24_000..=36_000).contains(&late), "{late}");
        }
    }

    #[test]
    fn a_silent_queue_is_stalled_and_a_beating_one_is_not() {
        let consumers = Consumers::new(&["a", "b"], Duration::from_millis(50));
        assert!(consumers.stalled_queues().is_empty(), "start-up grace");
        assert_eq!(consumers.down_queues(), vec!["a", "b"]);
        std::thread::sleep(Duration::from_millis(80));
        consumers.beat("a");
        assert_eq!(consumers.stalled_queues(), vec!["b"]);
        assert_eq!(consumers.down_queues(), vec!["b"]);
        consumers.down("a");
        assert_eq!(consumers.down_queues(), vec!["a", "b"]);
    }
}
