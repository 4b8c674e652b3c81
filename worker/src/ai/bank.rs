//! The offline question bank (`worker/data/question_bank.json`, compiled in): curated
//! questions with model answers, grouped by topic, used when no provider key is configured
//! or the provider's breaker is open.

use std::{collections::HashSet, sync::LazyLock};

use common::domain::{
    question::{Difficulty, QuestionKind, normalize, text_hash},
    session::Experience,
};
use rand::{SeedableRng, seq::SliceRandom};
use serde::Deserialize;

use super::parse::Candidate;

#[derive(Debug, Deserialize)]
struct File {
    topics: Vec<Topic>,
}

/// A topic of the bank.
#[derive(Debug, Deserialize)]
pub struct Topic {
    /// Display name, also the questions' category.
    pub name: String,
    /// Words that select this topic (matched against the session's topics and role).
    pub keywords: Vec<String>,
    /// `[question, answer, difficulty]`.
    pub items: Vec<(String, String, Difficulty)>,
    /// The kind of its questions (technical when not given).
    #[serde(default)]
    pub kind: QuestionKind,
}

/// Topics used when nothing in a session matches any topic.
const GENERAL: &[&str] = &[
    "Behavioral",
    "System Design",
    "Data Structures",
    "Algorithms",
];

/// The bank, parsed once.
pub static BANK: LazyLock<Vec<Topic>> = LazyLock::new(|| {
    let file: File = serde_json::from_str(include_str!("../../data/question_bank.json"))
        .expect("the bundled question bank is valid JSON");
    file.topics
});

fn matches(topic: &Topic, wanted: &[String]) -> bool {
    let name = normalize(&topic.name);
    wanted.iter().any(|w| {
        let w = normalize(w);
        !w.is_empty()
            && (w == name
                || name.contains(&w)
                || topic.keywords.iter().any(|k| {
                    let k = normalize(k);
                    w == k
                        || w.split(' ').any(|word| word == k)
                        || (k.contains(' ') && w.contains(&k))
                }))
    })
}

/// How well a difficulty suits an experience level (lower is better).
fn fit(experience: Experience, d: Difficulty) -> u8 {
    use Difficulty::{Easy, Hard, Medium};
    use Experience::{EntryLevel, Expert, Junior, Lead, MidLevel, Senior};
    match (experience, d) {
        (EntryLevel | Junior, Easy) | (MidLevel | Senior, Medium) | (Lead | Expert, Hard) => 0,
        (EntryLevel | Junior, Medium) | (MidLevel, Easy | Hard) | (Senior | Lead | Expert, _) => 1,
        (EntryLevel | Junior, Hard) => 2,
    }
}

/// Up to `count` bank questions for a session: from the topics matching its topics (or, if
/// none match, its role; else general topics), of `difficulty` when given, suited to the
/// experience level first, never one whose text hash is in `taken`. `seed` varies the pick.
pub fn pick(
    topics: &[String],
    role: &str,
    experience: Experience,
    difficulty: Option<Difficulty>,
    count: usize,
    taken: &HashSet<String>,
    seed: u64,
) -> Vec<Candidate> {
    let mut chosen: Vec<&Topic> = BANK.iter().filter(|t| matches(t, topics)).collect();
    if chosen.is_empty() {
        chosen = BANK
            .iter()
            .filter(|t| matches(t, &[role.to_owned()]))
            .collect();
    }
    if chosen.is_empty() {
        chosen = BANK
            .iter()
            .filter(|t| GENERAL.contains(&t.name.as_str()))
            .collect();
    }
    let mut pool: Vec<(&Topic, &(String, String, Difficulty))> = chosen
        .iter()
        .flat_map(|t| t.items.iter().map(move |item| (*t, item)))
        .filter(|(_, (q, _, _))| !taken.contains(&text_hash(q)))
        .collect();
    if let Some(d) = difficulty {
        let exact: Vec<_> = pool
            .iter()
            .copied()
            .filter(|(_, item)| item.2 == d)
            .collect();
        if exact.len() >= count {
            pool = exact;
        }
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    pool.shuffle(&mut rng);
    pool.sort_by_key(|(_, item)| fit(experience, item.2));
    pool.into_iter()
        .take(count)
        .map(|(topic, (q, a, d))| Candidate {
            question: q.clone(),
            answer: a.clone(),
            difficulty: d.as_str().to_owned(),
            category: topic.name.clone(),
            kind: topic.kind.as_str().to_owned(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::domain::question::{parse_answer, parse_category, parse_question};

    #[test]
    fn the_bank_is_large_varied_and_valid() {
        let items: Vec<_> = BANK.iter().flat_map(|t| &t.items).collect();
        assert!(items.len() >= 200, "{} items", items.len());
        assert!(BANK.len() >= 15, "{} topics", BANK.len());
        for d in Difficulty::ALL {
            assert!(items.iter().filter(|i| i.2 == d).count() >= 40, "{d:?}");
        }
        let mut hashes = HashSet::new();
        for topic in BANK.iter() {
            assert!(parse_category(&topic.name).is_ok());
            assert!(topic.items.len() >= 10, "{}", topic.name);
            for (q, a, _) in &topic.items {
                assert!(parse_question(q).is_ok() && parse_answer(a).is_ok(), "{q}");
                assert!(hashes.insert(text_hash(q)), "duplicate: {q}");
            }
        }
    }

    #[test]
    fn picks_match_topics_skip_taken_and_fall_back() {
        let none = HashSet::new();
        let rust = pick(
            &["rust".into()],
            "Backend",
            Experience::Senior,
            None,
            5,
            &none,
            1,
        );
        assert_eq!(rust.len(), 5);
        assert!(rust.iter().all(|c| c.category == "Rust"));
        let taken: HashSet<String> = rust.iter().map(|c| text_hash(&c.question)).collect();
        let more = pick(
            &["Rust".into()],
            "Backend",
            Experience::Senior,
            None,
            13,
            &taken,
            1,
        );
        assert_eq!(more.len(), 8, "13 Rust items, 5 taken");
        assert!(
            more.iter()
                .all(|c| !taken.contains(&text_hash(&c.question)))
        );

        let by_role = pick(
            &[],
            "React Developer",
            Experience::Junior,
            None,
            3,
            &none,
            2,
        );
        assert!(by_role.iter().all(|c| c.category == "React"));
        let general = pick(
            &["Underwater basket weaving".into()],
            "Astronaut",
            Experience::Lead,
            None,
            6,
            &none,
            3,
        );
        assert_eq!(general.len(), 6);
        assert!(
            general
                .iter()
                .all(|c| GENERAL.contains(&c.category.as_str()))
        );

        let hard = pick(
            &["sql".into()],
            "x",
            Experience::Junior,
            Some(Difficulty::Hard),
            3,
            &none,
            4,
        );
        assert!(hard.iter().all(|c| c.difficulty == "hard"));
        let junior = pick(&["sql".into()], "x", Experience::Junior, None, 3, &none, 5);
        assert!(
            junior.iter().all(|c| c.difficulty == "easy"),
            "easy first for juniors"
        );
    }
}
