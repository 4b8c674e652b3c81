//! The api binary: configuration from the environment, then [`api::run`].
//!
//! `api create-indexes` only creates the MongoDB indexes and exits (a deploy's pre-deploy
//! step); the server creates them at start as well, so the step is an optimisation, not a
//! requirement.

use anyhow::Context;
use common::config::Env;

/// mimalloc instead of glibc's allocator: a request allocates and frees many small
/// buffers (documents, JSON values); profiling showed a quarter of the api's CPU in
/// malloc/free under load. Built without transparent huge pages (`no_thp`): asking the
/// kernel for 2 MiB pages for its arenas doubled the idle resident memory (49 → 25 MB).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const HELP: &str = "\
Interview Prep api: the HTTP API (OpenAPI at /openapi.json, docs at /docs).

Usage: api [COMMAND]

Commands:
  (none)           serve HTTP on API_HOST:API_PORT until SIGTERM or Ctrl-C
  create-indexes   create the MongoDB indexes and exit (a deploy's pre-deploy step)

Options:
  -h, --help       print this help (no environment needed)
  -V, --version    print the version

Configuration comes from the environment; every variable, with its default, is listed in
.env.example (required: MONGODB_URI, REDIS_URL, JWT_SECRET, S3_* for exports).
";

#[expect(
    clippy::print_stdout,
    reason = "help and version go to standard output"
)]
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match std::env::args().nth(1).as_deref() {
        Some("-h" | "--help" | "help") => {
            print!("{HELP}");
            return Ok(());
        }
        Some("-V" | "--version") => {
            println!("api {}", env!("CARGO_PKG_VERSION"));
            return Ok(());
        }
        _ => {}
    }
    let config = api::config::ApiConfig::from_env(&Env::process()).context("configuration")?;
    common::telemetry::init_logging(config.common.log_format);
    match std::env::args().nth(1).as_deref() {
        None => {}
        Some("create-indexes") => {
            let db = common::db::connect(&config.common.mongo).await?;
            common::db::ensure_indexes(&db).await?;
            tracing::info!("indexes are in place");
            return Ok(());
        }
        Some(other) => anyhow::bail!("unknown command {other:?} (see `api --help`)"),
    }
    let addr = format!("{}:{}", config.host, config.port);
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    tracing::info!(%addr, "api listening");
    api::run(listener, config, common::shutdown::signal()).await?;
    tracing::info!("api stopped");
    Ok(())
}
