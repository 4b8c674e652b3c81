//! `worker bench <tool> [arguments]`: the tools `scripts/bench.sh` runs (not tests, never
//! used in production). A module of the worker *binary* (declared in `main.rs`), not of the
//! library: they live in the binary the benchmarks build anyway, because a separate release
//! executable costs a whole LTO link of the worker's dependencies (about nine minutes of CPU
//! from cold, for a few hundred lines).
//!
//! - `seed <user_id> <sessions> <questions_per_session> <answer_chars>`
//! - `queue [tasks] [memory_tasks] [backlog]`
//! - `export [format] [rows] [runs]`
//! - `grading [runs]`
//!
//! Each prints its figures on standard output; the module of each says what it measures.

mod export;
mod grading;
mod queue;
mod seed;

/// Runs the tool `args[0]` with the rest of `args`.
pub async fn run(args: &[String]) -> anyhow::Result<()> {
    let (tool, rest) = args
        .split_first()
        .map_or(("", &[][..]), |(t, r)| (t.as_str(), r));
    match tool {
        "seed" => seed::run(rest).await,
        "queue" => queue::run(rest).await,
        "export" => export::run(rest),
        "grading" => {
            grading::run(rest);
            Ok(())
        }
        _ => anyhow::bail!("usage: worker bench seed|queue|export|grading [arguments]"),
    }
}

/// The optional positional argument `n` of a tool, `default` when absent or unreadable.
fn arg<T: std::str::FromStr>(args: &[String], n: usize, default: T) -> T {
    args.get(n).and_then(|v| v.parse().ok()).unwrap_or(default)
}
