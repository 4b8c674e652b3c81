//! Export files: one table of a session's questions, rendered as XLSX, CSV, PDF or DOCX.

pub mod csv;
pub mod docx;
pub mod pdf;
pub mod xlsx;

use std::collections::BTreeMap;

use bson::oid::ObjectId;
use common::domain::{job::ExportFormat, question::Question, session::Session};

/// The columns of every format, in order.
pub const COLUMNS: [&str; 10] = [
    "No.",
    "Question",
    "Answer",
    "Difficulty",
    "Category",
    "Pinned",
    "Notes",
    "Created",
    "Last score",
    "Next review",
];

/// One question as exported.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Row {
    /// 1-based position.
    pub no: usize,
    /// The question.
    pub question: String,
    /// Its model answer.
    pub answer: String,
    /// `easy`, `medium`, `hard`.
    pub difficulty: String,
    /// Category ("" when none).
    pub category: String,
    /// Whether it is pinned.
    pub pinned: bool,
    /// The user's notes.
    pub notes: String,
    /// Creation time, `YYYY-MM-DD HH:MM UTC`.
    pub created: String,
    /// The newest graded practice attempt's score (none when never answered).
    pub last_score: Option<i32>,
    /// When it is due for review, `YYYY-MM-DD` (UTC; "" when never reviewed).
    pub next_review: String,
}

impl Row {
    /// The line under a question in the document formats (PDF, DOCX).
    pub fn meta(&self) -> String {
        let mut meta = format!("Difficulty: {}", self.difficulty);
        if !self.category.is_empty() {
            meta.push_str(&format!(" · Category: {}", self.category));
        }
        if self.pinned {
            meta.push_str(" · Pinned");
        }
        meta.push_str(&format!(" · Created: {}", self.created));
        if let Some(score) = self.last_score {
            meta.push_str(&format!(" · Last score: {score}/100"));
        }
        if !self.next_review.is_empty() {
            meta.push_str(&format!(" · Next review: {}", self.next_review));
        }
        meta
    }

    /// The cells, in [`COLUMNS`] order.
    pub fn cells(&self) -> [String; 10] {
        [
            self.no.to_string(),
            self.question.clone(),
            self.answer.clone(),
            self.difficulty.clone(),
            self.category.clone(),
            if self.pinned { "yes" } else { "no" }.to_owned(),
            self.notes.clone(),
            self.created.clone(),
            self.last_score.map(|s| s.to_string()).unwrap_or_default(),
            self.next_review.clone(),
        ]
    }
}

/// Practice progress of a session's questions.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    /// The newest graded attempt's score per question.
    pub last_scores: BTreeMap<ObjectId, i32>,
    /// The review due date per reviewed question.
    pub due: BTreeMap<ObjectId, bson::DateTime>,
}

/// A session's questions ready to render.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Sheet {
    /// "Interview questions: {role}".
    pub title: String,
    /// The role.
    pub role: String,
    /// Seniority.
    pub experience: String,
    /// Topics, comma-separated ("" when none).
    pub topics: String,
    /// Export time, `YYYY-MM-DD HH:MM UTC`.
    pub exported_at: String,
    /// The questions, pinned first, then newest.
    pub rows: Vec<Row>,
}

fn stamp(t: bson::DateTime) -> String {
    t.to_chrono().format("%Y-%m-%d %H:%M UTC").to_string()
}

impl Sheet {
    /// The sheet of `session` with `questions` (in list order), their last practice
    /// scores and review due dates.
    pub fn new(
        session: &Session,
        questions: Vec<Question>,
        progress: &Progress,
        now: bson::DateTime,
    ) -> Self {
        Self {
            title: format!("Interview questions: {}", session.role),
            role: session.role.clone(),
            experience: session.experience.as_str().to_owned(),
            topics: session.topics.join(", "),
            exported_at: stamp(now),
            rows: questions
                .into_iter()
                .enumerate()
                .map(|(i, q)| Row {
                    no: i + 1,
                    last_score: progress.last_scores.get(&q.id).copied(),
                    next_review: progress.due.get(&q.id).map_or_else(String::new, |d| {
                        d.to_chrono().format("%Y-%m-%d").to_string()
                    }),
                    question: q.question,
                    answer: q.answer,
                    difficulty: q.difficulty.as_str().to_owned(),
                    category: q.category,
                    pinned: q.is_pinned,
                    notes: q.notes,
                    created: stamp(q.created_at),
                })
                .collect(),
        }
    }

    /// The metadata lines under the title.
    pub fn details(&self) -> [(&'static str, &str); 3] {
        [
            ("Experience", self.experience.as_str()),
            (
                "Topics",
                if self.topics.is_empty() {
                    "-"
                } else {
                    self.topics.as_str()
                },
            ),
            ("Exported", self.exported_at.as_str()),
        ]
    }
}

/// Renders `sheet` as `format`.
/// `fonts` are needed for PDF only.
pub fn render(
    format: ExportFormat,
    sheet: &Sheet,
    fonts: Option<&pdf::Fonts>,
) -> anyhow::Result<Vec<u8>> {
    match format {
        ExportFormat::Xlsx => xlsx::render(sheet),
        ExportFormat::Csv => csv::render(sheet),
        ExportFormat::Pdf => pdf::render(
            sheet,
            fonts.ok_or_else(|| anyhow::anyhow!("PDF rendering needs fonts"))?,
        ),
        ExportFormat::Docx => docx::render(sheet),
    }
}

/// A download file name from the role and date: letters and digits kept, the rest dashes.
pub fn filename(session: &Session, now: bson::DateTime, format: ExportFormat) -> String {
    let mut slug = String::new();
    for c in session.role.chars() {
        if c.is_alphanumeric() {
            slug.extend(c.to_lowercase());
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    let slug = slug.trim_end_matches('-');
    let slug = if slug.is_empty() { "session" } else { slug };
    let slug: String = slug.chars().take(60).collect();
    format!(
        "{slug}-questions-{}.{}",
        now.to_chrono().format("%Y-%m-%d"),
        format.as_str()
    )
}

/// `Content-Disposition` for `name`: an ASCII fallback and the UTF-8 name (RFC 6266).
pub fn disposition(name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b".-_".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn download_names_are_safe() {
        assert_eq!(
            disposition("café-questions.csv"),
            "attachment; filename=\"caf_-questions.csv\"; filename*=UTF-8''caf%C3%A9-questions.csv"
        );
    }
}
