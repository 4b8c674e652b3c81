//! The benchmarks' tools (not tests), one release binary so that `scripts/bench.sh` links
//! one LTO'd executable instead of four:
//!
//! - `bench seed <user_id> <sessions> <questions_per_session> <answer_chars>`
//! - `bench queue [tasks] [memory_tasks] [backlog]`
//! - `bench export [format] [rows] [runs]`
//! - `bench grading [runs]`
//!
//! Each prints its figures on standard output; the module of each says what it measures.

mod export;
mod grading;
mod queue;
mod seed;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (command, rest) = args
        .split_first()
        .map_or(("", &[][..]), |(c, r)| (c.as_str(), r));
    // Only the tools that talk to MongoDB or Redis start a runtime.
    let runtime = || {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
    };
    match command {
        "seed" => runtime()?.block_on(seed::run(rest)),
        "queue" => runtime()?.block_on(queue::run(rest)),
        "export" => export::run(rest),
        "grading" => {
            grading::run(rest);
            Ok(())
        }
        _ => anyhow::bail!("usage: bench seed|queue|export|grading [arguments]"),
    }
}
