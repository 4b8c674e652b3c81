//! Question generation: an OpenAI-compatible provider behind a circuit breaker, a Redis
//! cache of generated batches, and the offline bank; validation of whatever comes back.

pub mod bank;
pub mod breaker;
pub mod cache;
pub mod jd;
pub mod openai;
pub mod parse;
pub mod screen;

use std::collections::HashSet;

use common::domain::{
    job::TokenUsage,
    question::{
        Difficulty, NewQuestion, QuestionKind, Source, parse_answer, parse_category,
        parse_question, text_hash,
    },
    session::Experience,
};

use self::{breaker::Breaker, openai::OpenAi, parse::Candidate, screen::Screen};
use crate::config::AiConfig;

/// What to generate.
#[derive(Debug, Clone)]
pub struct Brief {
    /// The role practised for.
    pub role: String,
    /// Seniority, as spelled in the API (`mid-level`).
    pub experience: String,
    /// Typed seniority, for the bank.
    pub level: Experience,
    /// Topics to cover.
    pub topics: Vec<String>,
    /// Difficulty wanted, mixed when absent.
    pub difficulty: Option<Difficulty>,
    /// How many questions.
    pub count: u32,
    /// Questions the session already has (the model is told to avoid them).
    pub existing: Vec<String>,
    /// The session's free-text description ("" when none).
    pub description: String,
    /// The company applied to.
    pub company: Option<String>,
    /// The job advertisement prepared for.
    pub job_description: Option<String>,
}

/// `value` as JSON that cannot close the tag it sits in (`<` is escaped).
fn quoted<T: serde::Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value)
        .unwrap_or_default()
        .replace('<', "\\u003c")
}

impl Brief {
    /// The user message. Everything users wrote (role, topics, existing questions) goes in
    /// as JSON inside tags that the system prompt declares to be data, never instructions.
    pub fn prompt(&self) -> String {
        let mut p = format!(
            "Write {} interview questions with model answers for a {} candidate in the role \
             and topics given in <brief>.",
            self.count, self.experience
        );
        match self.difficulty {
            Some(d) => p.push_str(&format!(" Every question is {}.", d.as_str())),
            None => p.push_str(" Mix easy, medium and hard questions to suit the level."),
        }
        p.push_str(
            " Answers are correct, self-contained and 2-6 sentences long. Category is the topic \
             in one to three words. Kind is behavioural for questions about past behaviour \
             (answered with STAR), system-design for designing systems, coding for writing \
             or analysing code, technical otherwise.",
        );
        if self.topics.is_empty() {
            p.push_str(" Without topics, cover the core skills of the role.");
        }
        let mut brief = serde_json::json!({ "role": self.role, "topics": self.topics });
        if !self.description.is_empty() {
            brief["description"] = self.description.clone().into();
        }
        if let Some(company) = &self.company {
            brief["company"] = company.clone().into();
        }
        if let Some(jd) = &self.job_description {
            brief["job_description"] = jd.clone().into();
            p.push_str(
                " Aim the questions at the job description in <brief>: its responsibilities, \
                 stack and requirements.",
            );
        }
        p.push_str(&format!("\n<brief>\n{}\n</brief>", quoted(&brief)));
        if !self.existing.is_empty() {
            p.push_str(&format!(
                "\nDo not repeat or rephrase any question in <existing_questions>.\n\
                 <existing_questions>\n{}\n</existing_questions>",
                quoted(&self.existing)
            ));
        }
        p
    }

    /// Whether the prompt carries text users wrote beyond the brief's cache key (role,
    /// experience, topics, difficulty): a reply to it is never cached for others.
    pub fn has_user_text(&self) -> bool {
        !self.existing.is_empty()
            || !self.description.is_empty()
            || self.company.is_some()
            || self.job_description.is_some()
    }

    /// The screen for replies to this brief: links and addresses, and text copied from
    /// the user-written questions (a question may well quote its job description).
    pub fn screen(&self) -> Screen {
        Screen::new(self.existing.iter().map(String::as_str))
    }
}

/// Candidates that passed validation, and how many did not.
#[derive(Debug, Default)]
pub struct Checked {
    /// Valid questions, ready to add.
    pub items: Vec<NewQuestion>,
    /// Candidates dropped for invalid fields.
    pub invalid: usize,
    /// Candidates dropped by the screen (links, addresses, copied user text).
    pub refused: usize,
}

/// The candidate as a question to add, if every field is valid (lengths, difficulty,
/// category).
fn validated(c: &Candidate, source: Source, tag: &str) -> Option<NewQuestion> {
    Some(NewQuestion {
        question: parse_question(&c.question).ok()?,
        answer: parse_answer(&c.answer).ok()?,
        notes: String::new(),
        difficulty: Difficulty::parse(c.difficulty.trim())?,
        category: parse_category(&c.category).ok()?,
        kind: if c.kind.trim().is_empty() {
            QuestionKind::Technical
        } else {
            QuestionKind::parse(&c.kind)?
        },
        is_pinned: false,
        source,
        added_by: Some(tag.to_owned()),
    })
}

/// Whether every field of the candidate is valid and it passes `screen`.
pub fn is_valid(c: &Candidate, screen: &Screen) -> bool {
    validated(c, Source::Ai, "").is_some() && screen.refusal(c).is_none()
}

/// Validates and screens candidates; repeats of the session's questions are left to the
/// caller.
pub fn check(candidates: &[Candidate], source: Source, tag: &str, screen: &Screen) -> Checked {
    let mut checked = Checked::default();
    for c in candidates {
        let Some(item) = validated(c, source, tag) else {
            checked.invalid += 1;
            continue;
        };
        if let Some(refusal) = screen.refusal(c) {
            tracing::warn!(
                reason = refusal.as_str(),
                "generated item refused by the screen"
            );
            checked.refused += 1;
            continue;
        }
        checked.items.push(item);
    }
    metrics::counter!("ai_items_dropped_total", "reason" => "invalid")
        .increment(checked.invalid as u64);
    metrics::counter!("ai_items_dropped_total", "reason" => "refused")
        .increment(checked.refused as u64);
    checked
}

/// Where a batch came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A provider call.
    Provider,
    /// The Redis cache of earlier provider batches.
    Cache,
    /// The offline bank.
    Bank,
}

impl Origin {
    /// The questions' source.
    pub fn source(self) -> Source {
        match self {
            Self::Provider | Self::Cache => Source::Ai,
            Self::Bank => Source::Bank,
        }
    }
}

/// A batch of candidates and where it came from.
#[derive(Debug)]
pub struct Batch {
    /// The candidates (not validated yet).
    pub candidates: Vec<Candidate>,
    /// Where they came from.
    pub origin: Origin,
    /// Tokens the provider used (zero for cache and bank).
    pub tokens: TokenUsage,
}

/// The generation machinery of a worker process.
#[derive(Debug, Clone)]
pub struct Ai {
    provider: Option<OpenAi>,
    breaker: Breaker,
    /// Settings.
    pub config: AiConfig,
}

/// Why no batch came back.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct GenerateError(pub openai::ProviderError);

impl Ai {
    /// The machinery for `config`; without an API key everything comes from the bank.
    pub fn new(config: &AiConfig) -> anyhow::Result<Self> {
        let provider = match &config.api_key {
            Some(key) => Some(OpenAi::new(config, key)?),
            None => None,
        };
        Ok(Self {
            provider,
            breaker: Breaker::new(
                config.breaker_failures,
                config.breaker_window,
                config.breaker_cooldown,
            ),
            config: config.clone(),
        })
    }

    /// The provider, if configured and its breaker lets a call through now.
    pub fn provider(&self) -> Option<&OpenAi> {
        self.provider.as_ref().filter(|_| self.breaker.allow())
    }

    /// Asks the provider for questions; feeds the breaker. On failure, `Err` says whether
    /// the breaker is open now (then the caller falls back to the bank).
    pub async fn call(
        &self,
        provider: &OpenAi,
        brief: &Brief,
    ) -> Result<Batch, (GenerateError, TokenUsage, bool)> {
        let (candidates, tokens) = self.guarded(provider.generate(brief)).await?;
        Ok(Batch {
            candidates,
            origin: Origin::Provider,
            tokens,
        })
    }

    /// Runs one provider call behind the breaker, counting its outcome. On failure, `Err`
    /// carries the tokens spent and whether the breaker is open now.
    pub async fn guarded<T>(
        &self,
        call: impl Future<Output = Result<(T, TokenUsage), (openai::ProviderError, TokenUsage)>>,
    ) -> Result<(T, TokenUsage), (GenerateError, TokenUsage, bool)> {
        match call.await {
            Ok(reply) => {
                self.breaker.success();
                metrics::counter!("ai_provider_calls_total", "outcome" => "ok").increment(1);
                Ok(reply)
            }
            Err((e, tokens)) => {
                let outcome = match e {
                    openai::ProviderError::Call(_) => "error",
                    openai::ProviderError::Garbage => "garbage",
                };
                metrics::counter!("ai_provider_calls_total", "outcome" => outcome).increment(1);
                let open = self.breaker.failure();
                Err((GenerateError(e), tokens, open))
            }
        }
    }
}

/// Bank candidates for a brief, skipping `taken` hashes.
pub fn from_bank(brief: &Brief, taken: &HashSet<String>, seed: u64) -> Batch {
    Batch {
        candidates: bank::pick(
            &brief.topics,
            &brief.role,
            brief.level,
            brief.difficulty,
            brief.count as usize,
            taken,
            seed,
        ),
        origin: Origin::Bank,
        tokens: TokenUsage::default(),
    }
}

/// Candidates of a cached batch that the session does not have yet.
pub fn unseen(cached: Vec<Candidate>, taken: &HashSet<String>) -> Vec<Candidate> {
    let mut seen = taken.clone();
    cached
        .into_iter()
        .filter(|c| seen.insert(text_hash(&c.question)))
        .collect()
}
