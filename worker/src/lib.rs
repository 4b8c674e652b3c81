//! The background worker: consumes the job queues and serves health and metrics.
//!
//! `main.rs` only loads the config and calls [`run`]; tests run the same code in-process or
//! as a child process.

pub mod ai;
pub mod config;
pub mod context;
pub mod export;
pub mod grading;
pub mod health;
pub mod jobs;
pub mod mail;

use std::future::Future;

use anyhow::Context;
use common::{health::Dependencies, kv::Kv, storage::Storage};
use poem::{Server, listener::TcpAcceptor};

use crate::{config::WorkerConfig, context::JobContext, mail::Mailer};

/// Runs every queue consumer and the health server until `shutdown` resolves, then lets
/// running jobs finish (up to the configured timeout) and exits.
pub async fn run(
    health_listener: tokio::net::TcpListener,
    config: WorkerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let db = common::db::connect(&config.common.mongo).await?;
    let kv = Kv::connect(&config.common.redis).await?;
    let storage = Storage::new(&config.common.s3);
    common::db::ensure_indexes(&db)
        .await
        .context("creating indexes")?;
    let _ = common::telemetry::metrics();
    let deps = Dependencies {
        mongo: db.clone(),
        kv: kv.clone(),
        storage: storage.clone(),
        timeout: config.common.health_check_timeout,
    };
    let (endings, ended) = jobs::notified::Endings::channel();
    let (events, live) = jobs::live::LiveEvents::channel();
    let (claims, claim_requests) = jobs::claims::FirstClaims::channel();
    let ctx = JobContext {
        db,
        kv,
        storage,
        mailer: Mailer::new(&config.smtp)?,
        settings: config.jobs,
        ai: ai::Ai::new(&config.ai)?,
        max_questions: config.common.max_questions_per_session,
        token_budget: config.common.ai_daily_token_budget,
        export_retention: config.export_retention,
        font_dirs: config.font_dirs.clone(),
        fonts: std::sync::Arc::default(),
        endings,
        events: events.clone(),
        claims,
    };
    let (claims_db, claims_lease) = (ctx.db.clone(), ctx.settings.lease);
    let follow_ups = jobs::FollowUps {
        ended,
        live,
        events,
        db: ctx.db.clone(),
        kv: ctx.kv.clone(),
    };

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let signal = async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    };
    let wait_stop = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stopped| *stopped).await;
    };

    let consumers = jobs::Consumers::new(
        &jobs::queue_specs(&config)
            .iter()
            .map(|spec| spec.queue)
            .collect::<Vec<_>>(),
        config.consumers.stall_after,
    );
    let acceptor = TcpAcceptor::from_tokio(health_listener)?;
    let health = Server::new_with_acceptor(acceptor).run_with_graceful_shutdown(
        health::app(
            deps.clone(),
            consumers.clone(),
            health::MetricsToken(config.common.metrics_token.clone()),
        ),
        wait_stop(stop_rx.clone()),
        Some(std::time::Duration::from_secs(2)),
    );
    let reconciler =
        jobs::reconcile::run_forever(ctx.clone(), config.queue_retention, stop_rx.clone());
    let consume = jobs::consume(&config, ctx, consumers, stop_rx.clone());
    let jobs_done = tokio_util::sync::CancellationToken::new();
    let work = {
        let jobs_done = jobs_done.clone();
        async move {
            tokio::join!(consume, reconciler);
            jobs_done.cancel();
        }
    };
    let batches = async {
        tokio::join!(
            follow_ups.write_until(jobs_done.cancelled()),
            jobs::claims::serve(
                claim_requests,
                common::db::jobs::Jobs::new(&claims_db),
                claims_lease,
                jobs_done.cancelled(),
            ),
        );
    };
    let probes = deps
        .clone()
        .watch(std::time::Duration::from_secs(15), stop_rx.clone());
    tracing::info!(instance = %config.instance_id, "worker started");
    let (_, health, (), (), ()) = tokio::join!(signal, health, work, batches, probes);
    health.context("health server")?;
    Ok(())
}
