//! The worker binary: configuration from the environment, then [`worker::run`].

use anyhow::Context;
use common::config::Env;

mod bench;

/// mimalloc instead of glibc's allocator: a request allocates and frees many small
/// buffers (documents, JSON values); profiling showed a quarter of the api's CPU in
/// malloc/free under load. Built without transparent huge pages (`no_thp`), which halves
/// the idle resident memory.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const HELP: &str = "\
Interview Prep worker: runs the background jobs (question generation, grading, exports,
email) from the Redis queues, with health and metrics on WORKER_HEALTH_HOST:WORKER_HEALTH_PORT.

Usage: worker [COMMAND]

Commands:
  (none)           consume every queue until SIGTERM or Ctrl-C (running jobs finish or are
                   handed back within SHUTDOWN_TIMEOUT_SECS)
  bench TOOL ...   a tool of scripts/bench.sh (seed, queue, export, grading; see
                   docs/BENCHMARKS.md), never used in production

Options:
  -h, --help       print this help (no environment needed)
  -V, --version    print the version

Configuration comes from the environment; every variable, with its default, is listed in
.env.example (required: MONGODB_URI, REDIS_URL, S3_*, SMTP_*; AI_API_KEY is optional).
";

#[expect(
    clippy::print_stdout,
    reason = "help and version go to standard output"
)]
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("-h" | "--help" | "help") => {
            print!("{HELP}");
            return Ok(());
        }
        Some("-V" | "--version") => {
            println!("worker {}", env!("CARGO_PKG_VERSION"));
            return Ok(());
        }
        Some("bench") => return bench::run(&args[1..]).await,
        None => {}
        Some(other) => anyhow::bail!("unknown command {other:?} (see `worker --help`)"),
    }
    let config =
        worker::config::WorkerConfig::from_env(&Env::process()).context("configuration")?;
    common::telemetry::init_logging(config.common.log_format);
    let addr = format!("{}:{}", config.health_host, config.health_port);
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    tracing::info!(%addr, "worker health server listening");
    Box::pin(worker::run(listener, config, common::shutdown::signal())).await?;
    tracing::info!("worker stopped");
    Ok(())
}
