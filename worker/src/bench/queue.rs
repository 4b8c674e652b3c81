//! `worker bench queue [tasks] [memory_tasks] [backlog]`: the queue figures. Reads the worker's
//! variables (REDIS_URL, MONGODB_URI, …) from the environment; prints one `name value` line
//! per figure.
//!
//! - `enqueue_sequential`: tasks pushed one after another through the apalis storage.
//! - `enqueue_concurrent`: the same with 50 pushes in flight.
//! - `noop_end_to_end`: the sequentially pushed tasks run by one consumer (the worker's
//!   patched apalis-redis storage, concurrency 10) with a no-op handler, and acknowledged;
//!   no job record.
//! - `redis_calls_per_job`: Redis commands that run cost per job (INFO commandstats).
//! - `redis_used_memory_{before,after_finished,after_vacuum}`: Redis `used_memory` (bytes)
//!   before pushing `memory_tasks` more no-op tasks, once they have all run, and after the
//!   worker's vacuum removed them (retention 0).
//! - `backlog_drain_with_records`: `backlog` jobs started the way the api starts them (the
//!   MongoDB record, then the task) while no worker runs, then drained by a whole worker
//!   process' code (`worker::run`, generation concurrency 16): jobs per second, queued to
//!   finished.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use apalis::prelude::{
    BoxDynError, ParallelizeExt, WorkerBuilder, WorkerBuilderExt, WorkerContext,
};
use common::{
    config::{Env, RedisConfig},
    domain::job::ProbePayload,
    jobs::{self, JobMessage, Probe, StartJob},
    kv::Kv,
};
use futures::{StreamExt, stream};

async fn redis_info(kv: &Kv, section: &str) -> anyhow::Result<String> {
    let mut conn = kv.conn();
    Ok(redis::cmd("INFO")
        .arg(section)
        .query_async(&mut conn)
        .await?)
}

async fn redis_calls(kv: &Kv) -> anyhow::Result<u64> {
    Ok(redis_info(kv, "commandstats")
        .await?
        .lines()
        .filter_map(|l| l.split("calls=").nth(1))
        .filter_map(|rest| rest.split(',').next()?.parse::<u64>().ok())
        .sum())
}

async fn used_memory(kv: &Kv) -> anyhow::Result<u64> {
    let info = redis_info(kv, "memory").await?;
    info.lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no used_memory in INFO"))
}

async fn push(kv: &Kv, queue: &str, tasks: usize, in_flight: usize) -> anyhow::Result<f64> {
    let started = Instant::now();
    stream::iter(0..tasks)
        .map(|_| {
            let kv = kv.clone();
            async move {
                let id = ulid::Ulid::generate().to_string();
                jobs::enqueue(&kv, queue, &id, &id).await
            }
        })
        .buffer_unordered(in_flight)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<Vec<()>, _>>()?;
    Ok(tasks as f64 / started.elapsed().as_secs_f64())
}

/// Runs `tasks` tasks of `queue` through one consumer with a no-op handler; tasks per second.
async fn drain_noop(kv: &Kv, queue: &'static str, tasks: usize) -> anyhow::Result<f64> {
    let done = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let worker = {
        let done = done.clone();
        WorkerBuilder::new(format!("bench-{}", ulid::Ulid::generate()))
            .backend(jobs::consumer_storage::<JobMessage>(kv, queue, 10))
            .concurrency(10)
            .parallelize(tokio::spawn)
            .build(move |_msg: JobMessage| {
                let done = done.clone();
                async move {
                    done.fetch_add(1, Ordering::Relaxed);
                    Ok::<(), BoxDynError>(())
                }
            })
    };
    let watched = done.clone();
    let run = worker.run_with_ctx(move |ctx: WorkerContext| {
        let done = watched.clone();
        async move {
            while done.load(Ordering::Relaxed) < tasks {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            let _ = ctx.stop();
            Ok(())
        }
    });
    tokio::time::timeout(Duration::from_secs(600), run)
        .await
        .map_err(|_| {
            anyhow::anyhow!(
                "only {} of {tasks} tasks ran in 600 s",
                done.load(Ordering::Relaxed)
            )
        })??;
    Ok(tasks as f64 / started.elapsed().as_secs_f64())
}

/// Probe jobs this process has finished successfully (`jobs_finished_total`).
fn finished_probes() -> usize {
    common::telemetry::metrics()
        .render()
        .lines()
        .filter(|l| {
            l.starts_with("jobs_finished_total{")
                && l.contains("kind=\"probe\"")
                && l.contains("outcome=\"succeeded\"")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|n| n as usize)
        .sum()
}

/// Starts `jobs` probe jobs with their records while no worker runs, then runs a worker
/// until all have succeeded; jobs per second.
async fn backlog_drain(kv_prefix: &str, jobs: usize) -> anyhow::Result<f64> {
    let mut vars: std::collections::HashMap<String, String> = std::env::vars().collect();
    vars.insert(
        "MONGODB_DATABASE".into(),
        format!("bench_queue_{}", ulid::Ulid::generate()),
    );
    vars.insert("REDIS_KEY_PREFIX".into(), format!("{kv_prefix}drain:"));
    vars.insert("GENERATION_CONCURRENCY".into(), "16".into());
    let env = Env::from_map(vars.clone());
    let config = worker::config::WorkerConfig::from_env(&env)?;
    let db = common::db::connect(&config.common.mongo).await?;
    common::db::ensure_indexes(&db).await?;
    let kv = Kv::connect(&config.common.redis).await?;
    let probe = StartJob::<Probe> {
        user_id: bson::oid::ObjectId::new(),
        payload: ProbePayload::default(),
        session_id: None,
        max_attempts: 3,
        idempotency_key: None,
    };
    jobs::start_many(&db, &kv, std::iter::repeat_n(probe, jobs), 64).await?;

    let started = Instant::now();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let worker = tokio::spawn(worker::run(listener, config, async move {
        let _ = stop_rx.await;
    }));
    loop {
        // The worker's own counter, not a count over the records: counting 20,000 of them
        // ten times a second would load the database this measures.
        let done = finished_probes();
        if done >= jobs {
            break;
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(900),
            "only {done} of {jobs} jobs finished in 900 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let rate = jobs as f64 / started.elapsed().as_secs_f64();
    let _ = stop_tx.send(());
    worker.await??;
    db.drop().await?;
    Ok(rate)
}

#[expect(
    clippy::print_stdout,
    reason = "a benchmark reports on standard output"
)]
pub async fn run(args: &[String]) -> anyhow::Result<()> {
    let (tasks, memory_tasks, backlog) = (
        super::arg(args, 0, 20_000),
        super::arg(args, 1, 100_000),
        super::arg(args, 2, 20_000),
    );
    let env = Env::process();
    let prefix = format!("bench-{}:", ulid::Ulid::generate());
    let config = RedisConfig {
        url: env.secret("REDIS_URL")?,
        key_prefix: prefix.clone(),
    };
    let kv = Kv::connect(&config).await?;

    println!(
        "enqueue_sequential {:.0}",
        push(&kv, "bench", tasks, 1).await?
    );
    println!(
        "enqueue_concurrent {:.0}",
        push(&kv, "bench-concurrent", tasks, 50).await?
    );

    // The first queue is full: fetch → run → acknowledge at concurrency 10.
    let calls_before = redis_calls(&kv).await?;
    let rate = drain_noop(&kv, "bench", tasks).await?;
    let calls = redis_calls(&kv).await?.saturating_sub(calls_before);
    println!("noop_end_to_end {rate:.0}");
    println!("redis_calls_per_job {:.2}", calls as f64 / tasks as f64);

    // Memory: what finished tasks leave behind, and what the vacuum leaves of it.
    let mut cursors = worker::jobs::vacuum::Cursors::default();
    worker::jobs::vacuum::pass_over(&kv, &["bench"], Duration::ZERO, &mut cursors).await?;
    let before = used_memory(&kv).await?;
    push(&kv, "bench-memory", memory_tasks, 50).await?;
    drain_noop(&kv, "bench-memory", memory_tasks).await?;
    let after_finished = used_memory(&kv).await?;
    while worker::jobs::vacuum::pass_over(&kv, &["bench-memory"], Duration::ZERO, &mut cursors)
        .await?
        > 0
    {}
    let after_vacuum = used_memory(&kv).await?;
    println!("redis_used_memory_before {before}");
    println!("redis_used_memory_after_finished {after_finished}");
    println!("redis_used_memory_after_vacuum {after_vacuum}");

    println!(
        "backlog_drain_with_records {:.0}",
        backlog_drain(&prefix, backlog).await?
    );
    Ok(())
}
