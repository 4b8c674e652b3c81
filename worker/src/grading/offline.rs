//! The offline grader: deterministic and explainable, used without a provider, with its
//! breaker open, with the user's token budget spent, or when the provider failed on the
//! last attempt.
//!
//! 1. The model answer is split into **key points** (its sentences and list items; very
//!    short fragments join the point before them).
//! 2. Every text is reduced to **terms**: lower-cased words, English stop words removed,
//!    Snowball-stemmed (`rust-stemmers`), so "indexes", "indexing" and "index" meet.
//! 3. Each term weighs its **rarity**: the BM25 inverse document frequency over the
//!    offline bank's 208 model answers (a word every answer uses, like "use", weighs little;
//!    "tombstone" weighs a lot). Words of the question itself weigh a quarter: restating the
//!    question is not answering it.
//! 4. A key point's **coverage** is the weight of its terms found in the attempt over the
//!    weight of all its terms; it counts as covered from 0.5, and earns partial credit
//!    rising from 0.3 to 0.7 coverage.
//! 5. The **score** is the mean credit over key points, 0–100. The criteria follow from it
//!    (correctness and completeness from coverage, clarity from sentence length, structure
//!    from how the answer is laid out); behavioural answers are checked for cue phrases of
//!    Situation, Task, Action and Result.
//!
//! Limits: it measures overlap of meaning-bearing words, not understanding. Paraphrases
//! with other words (synonyms) are missed; a wrong statement using the right words is not
//! caught; word order and negation are ignored. It grades English only.

use std::{
    collections::{BTreeSet, HashMap},
    sync::LazyLock,
};

use common::domain::{
    attempt::{Criteria, Criterion, Grade, Grader, MissingPoint, Star},
    question::QuestionKind,
};
use rust_stemmers::{Algorithm, Stemmer};

/// A key point counts as covered from this coverage on.
const COVERED: f64 = 0.5;
/// Partial credit starts above this coverage…
const CREDIT_FROM: f64 = 0.3;
/// …and is full from this one.
const CREDIT_FULL: f64 = 0.7;
/// The weight of a term that the question itself uses.
const QUESTION_TERM_WEIGHT: f64 = 0.25;
/// Fragments with fewer terms join the key point before them.
const MIN_POINT_TERMS: usize = 3;

const STOP_WORDS: &[&str] = &[
    "a",
    "about",
    "above",
    "after",
    "again",
    "against",
    "all",
    "also",
    "am",
    "an",
    "and",
    "any",
    "are",
    "as",
    "at",
    "be",
    "because",
    "been",
    "before",
    "being",
    "below",
    "between",
    "both",
    "but",
    "by",
    "can",
    "could",
    "did",
    "do",
    "does",
    "doing",
    "don",
    "down",
    "during",
    "each",
    "e",
    "eg",
    "etc",
    "few",
    "for",
    "from",
    "further",
    "g",
    "get",
    "gets",
    "had",
    "has",
    "have",
    "having",
    "he",
    "her",
    "here",
    "hers",
    "herself",
    "him",
    "himself",
    "his",
    "how",
    "i",
    "ie",
    "if",
    "in",
    "into",
    "is",
    "it",
    "its",
    "itself",
    "just",
    "know",
    "let",
    "like",
    "may",
    "me",
    "might",
    "more",
    "most",
    "much",
    "must",
    "my",
    "myself",
    "no",
    "nor",
    "not",
    "now",
    "of",
    "off",
    "on",
    "once",
    "one",
    "only",
    "or",
    "other",
    "our",
    "ours",
    "ourselves",
    "out",
    "over",
    "own",
    "really",
    "s",
    "same",
    "she",
    "should",
    "so",
    "some",
    "such",
    "sure",
    "t",
    "than",
    "that",
    "the",
    "their",
    "theirs",
    "them",
    "themselves",
    "then",
    "there",
    "these",
    "they",
    "thing",
    "things",
    "think",
    "this",
    "those",
    "through",
    "to",
    "too",
    "under",
    "until",
    "up",
    "us",
    "use",
    "used",
    "uses",
    "using",
    "very",
    "was",
    "we",
    "well",
    "were",
    "what",
    "when",
    "where",
    "which",
    "while",
    "who",
    "whom",
    "why",
    "will",
    "with",
    "would",
    "yes",
    "you",
    "your",
    "yours",
    "yourself",
    "yourselves",
];

static STEMMER: LazyLock<Stemmer> = LazyLock::new(|| Stemmer::create(Algorithm::English));
static STOP: LazyLock<BTreeSet<&'static str>> =
    LazyLock::new(|| STOP_WORDS.iter().copied().collect());

/// Lower-cased words of `text` (letters and digits; `c++` and `c#` keep their marks).
fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    for c in text.chars() {
        if c.is_alphanumeric() {
            word.extend(c.to_lowercase());
        } else if !word.is_empty() && (c == '+' || c == '#') {
            word.push(c);
        } else if !word.is_empty() {
            out.push(std::mem::take(&mut word));
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

/// The stemmed, stop-word-free terms of `text`, in order.
pub fn terms(text: &str) -> Vec<String> {
    words(text)
        .into_iter()
        .filter(|w| !STOP.contains(w.as_str()))
        .map(|w| STEMMER.stem(&w).into_owned())
        .collect()
}

/// BM25 inverse document frequencies over the bank's model answers.
struct Rarity {
    idf: HashMap<String, f64>,
    unseen: f64,
}

static RARITY: LazyLock<Rarity> = LazyLock::new(|| {
    let answers: Vec<&str> = crate::ai::bank::BANK
        .iter()
        .flat_map(|t| t.items.iter().map(|(_, a, _)| a.as_str()))
        .collect();
    let n = answers.len() as f64;
    let mut df: HashMap<String, usize> = HashMap::new();
    for answer in &answers {
        let unique: BTreeSet<String> = terms(answer).into_iter().collect();
        for t in unique {
            *df.entry(t).or_default() += 1;
        }
    }
    let idf = |df: f64| ((n - df + 0.5) / (df + 0.5) + 1.0).ln();
    Rarity {
        idf: df.into_iter().map(|(t, d)| (t, idf(d as f64))).collect(),
        unseen: idf(0.0),
    }
});

impl Rarity {
    fn of(&self, term: &str) -> f64 {
        self.idf.get(term).copied().unwrap_or(self.unseen)
    }
}

/// A key point of the model answer.
#[derive(Debug, Clone)]
struct KeyPoint {
    text: String,
    terms: BTreeSet<String>,
}

/// The model answer's key points: sentences and list items, short fragments merged.
fn key_points(model_answer: &str) -> Vec<KeyPoint> {
    let mut pieces: Vec<String> = Vec::new();
    let mut current = String::new();
    let chars: Vec<char> = model_answer.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        let next = chars.get(i + 1).copied();
        let ends = match c {
            '\n' | ';' => true,
            // A full stop ends a sentence only before white space or the end ("e.g." and
            // "3.5" stay whole when followed by a letter or digit).
            '.' | '!' | '?' => next.is_none_or(char::is_whitespace),
            _ => false,
        };
        if ends {
            if c != '\n' {
                current.push(c);
            }
            let piece = current.trim().trim_start_matches(['-', '*', '•']).trim();
            if !piece.is_empty() {
                pieces.push(piece.to_owned());
            }
            current.clear();
        } else {
            current.push(c);
        }
    }
    let rest = current.trim().trim_start_matches(['-', '*', '•']).trim();
    if !rest.is_empty() {
        pieces.push(rest.to_owned());
    }
    let mut points: Vec<KeyPoint> = Vec::new();
    for piece in pieces {
        let piece_terms: BTreeSet<String> = terms(&piece).into_iter().collect();
        match points.last_mut() {
            Some(last)
                if piece_terms.len() < MIN_POINT_TERMS || last.terms.len() < MIN_POINT_TERMS =>
            {
                last.text.push(' ');
                last.text.push_str(&piece);
                last.terms.extend(piece_terms);
            }
            _ => points.push(KeyPoint {
                text: piece,
                terms: piece_terms,
            }),
        }
    }
    points.retain(|p| !p.terms.is_empty());
    points
}

/// Credit for a coverage: nothing up to 0.3, full from 0.7, linear between.
fn credit(coverage: f64) -> f64 {
    ((coverage - CREDIT_FROM) / (CREDIT_FULL - CREDIT_FROM)).clamp(0.0, 1.0)
}

/// 1–5 from a fraction.
fn stars(fraction: f64) -> i32 {
    #[expect(clippy::cast_possible_truncation, reason = "clamped to 1..=5")]
    let n = (1.0 + 4.0 * fraction.clamp(0.0, 1.0)).round() as i32;
    n
}

/// Sentences of `text` and their average length in words.
fn sentence_stats(text: &str) -> (usize, f64) {
    let sentences: Vec<&str> = text
        .split(['.', '!', '?', '\n'])
        .filter(|s| s.split_whitespace().count() > 0)
        .collect();
    let words: usize = sentences.iter().map(|s| s.split_whitespace().count()).sum();
    let n = sentences.len().max(1);
    (sentences.len(), words as f64 / n as f64)
}

/// Cue phrases (stemmed) of each STAR component.
const STAR_CUES: [(&str, &[&str]); 4] = [
    (
        "situation",
        &[
            "situat",
            "context",
            "background",
            "project",
            "team",
            "compani",
            "previous",
            "last year",
            "once",
            "when i was",
            "at my",
        ],
    ),
    (
        "task",
        &[
            "task", "goal", "respons", "need to", "had to", "object", "challeng", "asked to",
            "my job", "my role",
        ],
    ),
    (
        "action",
        &[
            "i decid",
            "i implement",
            "i built",
            "i led",
            "i organ",
            "i propos",
            "i wrote",
            "i talk",
            "i set",
            "i creat",
            "i start",
            "so i",
            "action",
            "step",
        ],
    ),
    (
        "result",
        &[
            "result",
            "outcom",
            "as a result",
            "increas",
            "reduc",
            "improv",
            "deliv",
            "succe",
            "learn",
            "percent",
            "%",
            "save",
            "launch",
        ],
    ),
];

/// Which STAR components `answer` shows cue phrases of.
fn star(answer: &str) -> Star {
    // Stem every word but keep stop words, so that cues like "so i" and "had to" match.
    let stemmed: String = words(answer)
        .iter()
        .map(|w| STEMMER.stem(w).into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    let text = format!(" {stemmed} {} ", answer.to_lowercase());
    let has = |cues: &[&str]| {
        cues.iter()
            .any(|c| text.contains(&format!(" {c}")) || (c.len() == 1 && text.contains(c)))
    };
    Star {
        situation: has(STAR_CUES[0].1),
        task: has(STAR_CUES[1].1),
        action: has(STAR_CUES[2].1),
        result: has(STAR_CUES[3].1),
    }
}

/// Shortens `text` to at most `max` characters, at a word boundary.
fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let cut: String = text.chars().take(max.saturating_sub(1)).collect();
    let cut = cut.rsplit_once(' ').map_or(cut.as_str(), |(head, _)| head);
    format!("{}…", cut.trim_end())
}

/// Grades `answer` to `question` against `model_answer`.
pub fn grade(question: &str, model_answer: &str, kind: QuestionKind, answer: &str) -> Grade {
    let rarity = &*RARITY;
    let question_terms: BTreeSet<String> = terms(question).into_iter().collect();
    let weight = |t: &str| {
        let w = rarity.of(t);
        if question_terms.contains(t) {
            w * QUESTION_TERM_WEIGHT
        } else {
            w
        }
    };
    let answer_terms: BTreeSet<String> = terms(answer).into_iter().collect();
    let points = key_points(model_answer);

    let mut covered = Vec::new();
    let mut missed = Vec::new();
    let mut total_credit = 0.0;
    let mut total_coverage = 0.0;
    for point in &points {
        let all: f64 = point.terms.iter().map(|t| weight(t)).sum();
        let found: f64 = point
            .terms
            .iter()
            .filter(|t| answer_terms.contains(*t))
            .map(|t| weight(t))
            .sum();
        let coverage = if all > 0.0 { found / all } else { 0.0 };
        total_coverage += coverage;
        total_credit += credit(coverage);
        if coverage >= COVERED {
            covered.push(point.text.clone());
        } else {
            let absent: Vec<&String> = point
                .terms
                .iter()
                .filter(|t| !answer_terms.contains(*t))
                .collect();
            missed.push((point.text.clone(), absent.len()));
        }
    }
    let n = points.len().max(1) as f64;
    let fraction = total_credit / n;
    #[expect(clippy::cast_possible_truncation, reason = "0..=100")]
    let score = (100.0 * fraction).round().clamp(0.0, 100.0) as i32;
    let covered_fraction = covered.len() as f64 / n;

    let (sentences, avg_len) = sentence_stats(answer);
    let answer_words = answer.split_whitespace().count();
    let model_words = model_answer.split_whitespace().count().max(1);
    let clarity = if answer_words == 0 || answer_terms.is_empty() {
        (1, "The answer says nothing that can be checked.".to_owned())
    } else if avg_len > 35.0 {
        (
            3,
            format!("Sentences average {avg_len:.0} words; shorter ones are easier to follow."),
        )
    } else if avg_len < 4.0 {
        (
            3,
            "Very short fragments; say each point as a full sentence.".to_owned(),
        )
    } else {
        (
            5,
            format!("Sentences average {avg_len:.0} words, easy to follow."),
        )
    };
    let length_ratio = answer_words as f64 / model_words as f64;
    let structure = if answer_terms.is_empty() {
        (1, "There is no structure to judge.".to_owned())
    } else if length_ratio < 0.3 {
        (
            2,
            format!(
                "{answer_words} words against {model_words} in the model answer: too brief to develop the points."
            ),
        )
    } else if length_ratio > 3.0 {
        (
            3,
            format!(
                "{answer_words} words against {model_words} in the model answer: tighten it to the key points."
            ),
        )
    } else if sentences >= points.len().min(3) {
        (5, "One idea per sentence, in a sensible order.".to_owned())
    } else {
        (
            4,
            "Reasonable length; split the ideas into separate sentences.".to_owned(),
        )
    };
    let criteria = Criteria {
        correctness: Criterion {
            score: stars(total_coverage / n),
            reason: format!(
                "{:.0}% of the model answer's key terms appear in your answer (the offline grader checks terms, not truth).",
                100.0 * total_coverage / n
            ),
        },
        completeness: Criterion {
            score: stars(covered_fraction),
            reason: format!(
                "You covered {} of {} key points.",
                covered.len(),
                points.len()
            ),
        },
        clarity: Criterion {
            score: clarity.0,
            reason: clarity.1,
        },
        structure: Criterion {
            score: structure.0,
            reason: structure.1,
        },
    };
    // The points missing most, first; ties in the model answer's order.
    let mut missing_sorted: Vec<(usize, &(String, usize))> = missed.iter().enumerate().collect();
    missing_sorted.sort_by(|a, b| b.1.1.cmp(&a.1.1).then(a.0.cmp(&b.0)));
    let missing = missing_sorted
        .iter()
        .take(5)
        .map(|(_, (text, _))| MissingPoint {
            point: clip(&format!("Not covered: {text}"), 300),
            model_point: clip(text, 300),
        })
        .collect();
    let strengths = covered
        .iter()
        .take(3)
        .map(|p| clip(&format!("Covered: {p}"), 300))
        .collect();
    let star = (kind == QuestionKind::Behavioural).then(|| star(answer));
    Grade {
        grader: Grader::Offline,
        score,
        criteria,
        strengths,
        missing,
        suggested_answer: clip(model_answer, 2000),
        star,
        covered_points: covered.into_iter().map(|p| clip(&p, 300)).collect(),
        missed_points: missed.into_iter().map(|(p, _)| clip(&p, 300)).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ai::bank::BANK;

    /// Every bank question with its model answer and kind.
    fn bank() -> Vec<(&'static str, &'static str, QuestionKind, usize)> {
        BANK.iter()
            .enumerate()
            .flat_map(|(t, topic)| {
                topic
                    .items
                    .iter()
                    .map(move |(q, a, _)| (q.as_str(), a.as_str(), topic.kind, t))
            })
            .collect()
    }

    /// The first half of the model answer's sentences (only for answers of 3 or more).
    fn half(answer: &str) -> Option<String> {
        let sentences: Vec<&str> = answer.split_inclusive(". ").collect();
        (sentences.len() >= 3).then(|| sentences[..sentences.len() / 2].concat())
    }

    #[test]
    fn fixed_cases_over_the_whole_bank() {
        let items = bank();
        let mut halves = 0;
        for (i, (q, a, kind, topic)) in items.iter().enumerate() {
            // The model answer itself, and an answer that says nothing.
            assert!(grade(q, a, *kind, a).score >= 90, "{q}");
            for nothing in ["I don't know.", "I am not sure, sorry.", ""] {
                assert!(grade(q, a, *kind, nothing).score <= 10, "{q}: {nothing:?}");
            }
            // The model answer of the next question on the same topic: on-topic, but not
            // an answer to this one.
            let other = items
                .iter()
                .skip(i + 1)
                .chain(items.iter())
                .find(|o| o.3 == *topic && o.0 != *q)
                .unwrap();
            let other_score = grade(q, a, *kind, other.1).score;
            assert!(other_score <= 25, "{q}: {other_score} for {:?}", other.0);
            // Half of the key points: between the two.
            if let Some(half) = half(a) {
                halves += 1;
                let s = grade(q, a, *kind, &half).score;
                assert!(s > other_score.max(10) && s < 90, "{q}: half scored {s}");
            }
        }
        assert!(halves >= 5, "only {halves} answers long enough to halve");
    }

    #[test]
    fn the_same_input_always_gives_the_same_grade() {
        let (q, a, kind, _) = bank()[3];
        let answer = "It is about ownership and borrowing; values move unless they are Copy.";
        let first = grade(q, a, kind, answer);
        for _ in 0..3 {
            assert_eq!(grade(q, a, kind, answer), first);
        }
        assert_eq!(first.grader, Grader::Offline);
        assert!(first.strengths.len() <= 3 && first.missing.len() <= 5);
        assert!(first.suggested_answer.chars().count() <= 2000);
        for c in [
            &first.criteria.correctness,
            &first.criteria.completeness,
            &first.criteria.clarity,
            &first.criteria.structure,
        ] {
            assert!((1..=5).contains(&c.score) && !c.reason.is_empty());
        }
        assert!(!first.covered_points.is_empty() || !first.missed_points.is_empty());
        assert!(first.star.is_none(), "STAR is for behavioural questions");
    }

    #[test]
    fn behavioural_answers_are_checked_for_star() {
        let (q, a, kind, _) = *bank()
            .iter()
            .find(|i| i.2 == QuestionKind::Behavioural)
            .unwrap();
        let star_answer = "At my previous company our release process was slow. My goal was to \
            cut deploy time. I decided to automate the pipeline and I wrote the scripts. As a \
            result deploys went from two hours to ten minutes.";
        let star = grade(q, a, kind, star_answer).star.unwrap();
        assert!(
            star.situation && star.task && star.action && star.result,
            "{star:?}"
        );
        let none = grade(q, a, kind, "I don't know.").star.unwrap();
        assert!(
            !none.situation && !none.task && !none.action && !none.result,
            "{none:?}"
        );
    }

    #[test]
    fn terms_are_stemmed_and_free_of_stop_words() {
        assert_eq!(
            terms("The indexes are indexing an index"),
            ["index", "index", "index"]
        );
        assert_eq!(terms("C++ and C# differ"), ["c++", "c#", "differ"]);
    }
}
