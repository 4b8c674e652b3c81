//! `worker bench export [format] [rows] [runs]`: export rendering; prints one line per run and the
//! median. `scripts/bench-export.sh` and `scripts/bench.sh` run it under `/usr/bin/time -v`
//! for peak memory.

use std::time::Instant;

use common::domain::job::ExportFormat;
use worker::export::{self, Row, Sheet, pdf::Fonts};

fn sheet(rows: usize) -> Sheet {
    Sheet {
        title: "Interview questions: Backend Developer".to_owned(),
        role: "Backend Developer".to_owned(),
        experience: "senior".to_owned(),
        topics: "Rust, SQL, System Design".to_owned(),
        exported_at: "2026-11-24 12:00 UTC".to_owned(),
        rows: (1..=rows)
            .map(|no| Row {
                no,
                question: format!("Question {no}: how would you design a rate limiter that holds across many instances?"),
                answer: "Keep the counters in a shared store such as Redis so every instance sees the same \
                         limit, use an algorithm like GCRA or a sliding window updated atomically in a Lua \
                         script, key it by user, answer 429 with Retry-After, and decide whether to fail \
                         open or closed when the store is unavailable. Café, 東京, 🦀."
                    .to_owned(),
                difficulty: ["easy", "medium", "hard"][no % 3].to_owned(),
                category: "System Design".to_owned(),
                pinned: no % 10 == 0,
                notes: if no % 4 == 0 { "Ask about burst capacity.".to_owned() } else { String::new() },
                created: "2026-11-24 12:00 UTC".to_owned(),
                last_score: (no % 3 == 0).then_some(i32::try_from(no % 101).unwrap_or(0)),
                next_review: if no % 3 == 0 { "2026-12-24".to_owned() } else { String::new() },
            })
            .collect(),
    }
}

#[expect(
    clippy::print_stdout,
    reason = "a benchmark reports on standard output"
)]
pub fn run(args: &[String]) -> anyhow::Result<()> {
    let format = match args.first().map(String::as_str).unwrap_or("xlsx") {
        "csv" => ExportFormat::Csv,
        "pdf" => ExportFormat::Pdf,
        "docx" => ExportFormat::Docx,
        _ => ExportFormat::Xlsx,
    };
    let rows: usize = super::arg(args, 1, 10_000);
    let runs: usize = super::arg(args, 2, 5);
    let data = sheet(rows);
    // Only PDF needs fonts (the CJK and emoji faces are tens of megabytes).
    let fonts = (format == ExportFormat::Pdf).then(|| Fonts::load(&["/usr/share/fonts".into()]));
    let mut times = Vec::new();
    for run in 1..=runs {
        let start = Instant::now();
        let bytes = export::render(format, &data, fonts.as_ref())?;
        let secs = start.elapsed().as_secs_f64();
        println!(
            "run {run}: {rows} rows -> {} bytes in {secs:.3} s",
            bytes.len()
        );
        times.push(secs);
    }
    times.sort_by(f64::total_cmp);
    println!("median: {:.3} s", times[times.len() / 2]);
    Ok(())
}
