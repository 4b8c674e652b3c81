//! `worker bench grading [runs]`: offline grading time per attempt, a 400-word answer to a bank
//! question graded `runs` times after a warm-up; prints the median and the 99th percentile
//! in ms.

use std::time::Instant;

use common::domain::question::QuestionKind;
use worker::{ai::bank::BANK, grading::offline};

#[expect(
    clippy::print_stdout,
    reason = "a benchmark reports on standard output"
)]
pub fn run(args: &[String]) {
    let runs: usize = super::arg(args, 0, 2_000);
    let topic = &BANK[0];
    let (question, model, _) = &topic.items[0];
    // 400 words: the model answer, then other answers of the topic, repeated.
    let mut words: Vec<&str> = model.split_whitespace().collect();
    let mut others = topic.items.iter().cycle().map(|(_, a, _)| a);
    while words.len() < 400 {
        words.extend(others.next().into_iter().flat_map(|a| a.split_whitespace()));
    }
    words.truncate(400);
    let answer = words.join(" ");
    // Warm-up (also builds the rarity table from the bank once).
    let first = offline::grade(question, model, QuestionKind::Technical, &answer);
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            let grade = offline::grade(question, model, QuestionKind::Technical, &answer);
            let ms = start.elapsed().as_secs_f64() * 1000.0;
            assert_eq!(grade, first, "the same input gives the same grade");
            ms
        })
        .collect();
    times.sort_by(f64::total_cmp);
    println!("words: {}", answer.split_whitespace().count());
    println!("score: {}", first.score);
    println!("median_ms: {:.4}", times[times.len() / 2]);
    println!("p99_ms: {:.4}", times[times.len() * 99 / 100]);
}
