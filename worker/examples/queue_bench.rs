//! Queue benchmark (not a test), run by `scripts/bench.sh`. Reads REDIS_URL and the other
//! variables of the worker from the environment; prints one `name value` line per figure.
//!
//! - `enqueue_sequential`: tasks pushed one after another through the apalis storage.
//! - `enqueue_concurrent`: the same with 50 pushes in flight.
//! - `noop_end_to_end`: tasks pushed, run by an apalis worker with a no-op handler
//!   (concurrency 10) and acknowledged, no job record.
//! - `redis_calls_per_job`: Redis commands the end-to-end run cost per job (INFO
//!   commandstats before and after).
//!
//! Usage: `queue_bench <tasks>`.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use apalis::prelude::{BoxDynError, Monitor, ParallelizeExt, WorkerBuilder, WorkerBuilderExt};
use common::{
    config::{Env, RedisConfig},
    jobs::{self, JobMessage},
    kv::Kv,
};
use futures::{StreamExt, stream};

async fn redis_calls(kv: &Kv) -> anyhow::Result<u64> {
    let mut conn = kv.conn();
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut conn)
        .await?;
    Ok(info
        .lines()
        .filter_map(|l| l.split("calls=").nth(1))
        .filter_map(|rest| rest.split(',').next()?.parse::<u64>().ok())
        .sum())
}

#[expect(
    clippy::print_stdout,
    reason = "a benchmark reports on standard output"
)]
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let tasks: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(20_000);
    let env = Env::process();
    let config = RedisConfig {
        url: env.secret("REDIS_URL")?,
        key_prefix: format!("bench-{}:", ulid::Ulid::generate()),
    };
    let kv = Kv::connect(&config).await?;
    let queue = "bench";

    // Sequential pushes.
    let started = Instant::now();
    for _ in 0..tasks {
        let id = ulid::Ulid::generate().to_string();
        jobs::enqueue(&kv, queue, &id, &id).await?;
    }
    let secs = started.elapsed().as_secs_f64();
    println!("enqueue_sequential {:.0}", tasks as f64 / secs);

    // 50 pushes in flight, on a second queue.
    let started = Instant::now();
    stream::iter(0..tasks)
        .map(|_| {
            let kv = kv.clone();
            async move {
                let id = ulid::Ulid::generate().to_string();
                jobs::enqueue(&kv, "bench-concurrent", &id, &id).await
            }
        })
        .buffer_unordered(50)
        .for_each(|r| async move { r.expect("push") })
        .await;
    let secs = started.elapsed().as_secs_f64();
    println!("enqueue_concurrent {:.0}", tasks as f64 / secs);

    // End to end through one worker with a no-op handler: the first queue is already full,
    // so this measures fetch → run → acknowledge at concurrency 10.
    let done = Arc::new(AtomicUsize::new(0));
    let calls_before = redis_calls(&kv).await?;
    let started = Instant::now();
    let monitor = {
        let done = done.clone();
        let kv = kv.clone();
        Monitor::new().register(move |run| {
            let done = done.clone();
            WorkerBuilder::new(format!("bench-{run}"))
                .backend(jobs::storage::<JobMessage>(&kv, queue))
                .concurrency(10)
                .parallelize(tokio::spawn)
                .build(move |_msg: JobMessage| {
                    let done = done.clone();
                    async move {
                        done.fetch_add(1, Ordering::Relaxed);
                        Ok::<(), BoxDynError>(())
                    }
                })
        })
    };
    let handle = tokio::spawn(async move { monitor.run().await });
    while done.load(Ordering::Relaxed) < tasks {
        tokio::time::sleep(Duration::from_millis(5)).await;
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(300),
            "only {} of {tasks} tasks ran in 300 s",
            done.load(Ordering::Relaxed)
        );
    }
    let secs = started.elapsed().as_secs_f64();
    let calls = redis_calls(&kv).await?.saturating_sub(calls_before);
    handle.abort();
    println!("noop_end_to_end {:.0}", tasks as f64 / secs);
    println!("redis_calls_per_job {:.2}", calls as f64 / tasks as f64);
    Ok(())
}
