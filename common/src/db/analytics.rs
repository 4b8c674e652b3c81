//! Analytics, computed by aggregation pipelines on indexed fields (no document is loaded
//! into the process): a user's own numbers, and the topics trending across everyone.

use std::collections::{BTreeMap, BTreeSet};

use bson::{DateTime, Document, doc, oid::ObjectId};
use futures::TryStreamExt;
use mongodb::{
    Database,
    error::Error,
    options::{ReadPreference, SelectionCriteria},
};
use serde::{Deserialize, Serialize};

use super::{Timed, attempts, jobs, questions, reviews::Reviews, sessions, sessions::number};
use crate::domain::job::JobKind;

const DAY_MS: i64 = 24 * 3600 * 1000;

/// A user's numbers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MeAnalytics {
    /// Sessions per status (`pending`, `in-progress`, …), all statuses present.
    pub sessions_by_status: BTreeMap<String, i64>,
    /// Sessions in all.
    pub sessions_total: i64,
    /// Questions in all.
    pub questions_total: i64,
    /// Pinned questions.
    pub questions_pinned: i64,
    /// Questions per difficulty, all present.
    pub questions_by_difficulty: BTreeMap<String, i64>,
    /// Questions per source, all present.
    pub questions_by_source: BTreeMap<String, i64>,
    /// Questions added per UTC day, oldest first, for the last 30 days (today included).
    pub questions_per_day: Vec<(String, i64)>,
    /// Questions per session (0 without sessions).
    pub average_questions_per_session: f64,
    /// Practice attempts per UTC day, oldest first, for the last 30 days (today included).
    #[serde(default)]
    pub attempts_per_day: Vec<(String, i64)>,
    /// Mean score of graded attempts over the last 7 days (today included); none without.
    #[serde(default)]
    pub average_score_7d: Option<f64>,
    /// The same over the last 30 days.
    #[serde(default)]
    pub average_score_30d: Option<f64>,
    /// Up to three categories with the lowest mean score over the last 30 days, lowest
    /// first (questions without a category are left out).
    #[serde(default)]
    pub weakest_categories: Vec<CategoryScore>,
    /// Questions due for review by the end of the user's today.
    #[serde(default)]
    pub due_today: i64,
    /// Reviews (ratings and graded attempts) since the start of the user's today.
    #[serde(default)]
    pub reviewed_today: i64,
    /// Consecutive days, in the user's time zone, with at least one review, ending today
    /// (or yesterday, while today has none yet).
    #[serde(default)]
    pub review_streak_days: i64,
    /// FSRS's chance of recall now, averaged over the reviewed questions.
    #[serde(default)]
    pub average_retrievability: Option<f64>,
}

/// A category's mean score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CategoryScore {
    /// The category.
    pub category: String,
    /// Mean score of its graded attempts.
    pub average_score: f64,
    /// Graded attempts.
    pub attempts: i64,
}

/// A topic and how often it was used in the window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicCount {
    /// The topic, as most often written.
    pub topic: String,
    /// Sessions and generation requests that named it.
    pub count: i64,
}

/// Parses `primary`, `primaryPreferred`, `secondary`, `secondaryPreferred` or `nearest`.
pub fn read_preference(name: &str) -> Option<SelectionCriteria> {
    let pref = match name {
        "primary" => ReadPreference::Primary,
        "primaryPreferred" => ReadPreference::PrimaryPreferred {
            options: Default::default(),
        },
        "secondary" => ReadPreference::Secondary {
            options: Default::default(),
        },
        "secondaryPreferred" => ReadPreference::SecondaryPreferred {
            options: Default::default(),
        },
        "nearest" => ReadPreference::Nearest {
            options: Default::default(),
        },
        _ => return None,
    };
    Some(SelectionCriteria::ReadPreference(pref))
}

async fn rows(
    db: &Database,
    collection: &str,
    pipeline: Vec<Document>,
    criteria: &SelectionCriteria,
) -> Result<Vec<Document>, Error> {
    db.collection::<Document>(collection)
        .aggregate(pipeline)
        .selection_criteria(criteria.clone())
        .timed("analytics.rows")
        .await?
        .try_collect()
        .await
}

/// Start of the UTC day `days` before the one holding `now`.
fn day_start(now: DateTime, days: i64) -> DateTime {
    let today = now.timestamp_millis().div_euclid(DAY_MS) * DAY_MS;
    DateTime::from_millis(today - days * DAY_MS)
}

/// The mean (`avg`) in the first row of facet `name`, to one decimal.
fn facet_mean(facet: &Document, name: &str) -> Option<f64> {
    facet
        .get_array(name)
        .ok()?
        .first()?
        .as_document()?
        .get_f64("avg")
        .ok()
        .map(|a| (a * 10.0).round() / 10.0)
}

/// Rows of facet `name`.
fn facet_rows<'a>(facet: &'a Document, name: &str) -> impl Iterator<Item = &'a Document> {
    facet
        .get_array(name)
        .map(|a| a.as_slice())
        .unwrap_or_default()
        .iter()
        .filter_map(bson::Bson::as_document)
}

/// The practice numbers: attempts per day, mean scores, weakest categories.
async fn practice(
    db: &Database,
    user_id: ObjectId,
    criteria: &SelectionCriteria,
    now: DateTime,
    out: &mut MeAnalytics,
) -> Result<(), Error> {
    let since = day_start(now, 29);
    let week = day_start(now, 6);
    let graded = doc! { "$match": { "score": { "$type": "int" } } };
    let facets = rows(
        db,
        attempts::COLLECTION,
        vec![
            doc! { "$match": { "user_id": user_id, "created_at": { "$gte": since } } },
            doc! { "$facet": {
                "days": [
                    { "$group": {
                        "_id": { "$dateToString": { "format": "%Y-%m-%d", "date": "$created_at" } },
                        "n": { "$sum": 1 },
                    } },
                ],
                "month": [graded.clone(), { "$group": { "_id": null, "avg": { "$avg": "$score" } } }],
                "week": [
                    graded.clone(),
                    { "$match": { "created_at": { "$gte": week } } },
                    { "$group": { "_id": null, "avg": { "$avg": "$score" } } },
                ],
                "weakest": [
                    graded,
                    { "$match": { "category": { "$ne": "" } } },
                    { "$group": { "_id": "$category", "avg": { "$avg": "$score" }, "n": { "$sum": 1 } } },
                    { "$sort": { "avg": 1, "_id": 1 } },
                    { "$limit": 3 },
                ],
            } },
        ],
        criteria,
    )
    .await?;
    let facet = facets.into_iter().next().unwrap_or_default();
    let mut per_day: BTreeMap<String, i64> = (0..30)
        .map(|i| {
            let day = DateTime::from_millis(since.timestamp_millis() + i * DAY_MS);
            (day.to_chrono().format("%Y-%m-%d").to_string(), 0)
        })
        .collect();
    for row in facet_rows(&facet, "days") {
        if let Ok(day) = row.get_str("_id")
            && let Some(slot) = per_day.get_mut(day)
        {
            *slot += number(row, "n").unwrap_or(0);
        }
    }
    out.attempts_per_day = per_day.into_iter().collect();
    out.average_score_30d = facet_mean(&facet, "month");
    out.average_score_7d = facet_mean(&facet, "week");
    out.weakest_categories = facet_rows(&facet, "weakest")
        .filter_map(|row| {
            Some(CategoryScore {
                category: row.get_str("_id").ok()?.to_owned(),
                average_score: (row.get_f64("avg").ok()? * 10.0).round() / 10.0,
                attempts: number(row, "n").unwrap_or(0),
            })
        })
        .collect();
    Ok(())
}

/// Midnight starting `day` in `tz` (the first instant of the day when a DST change
/// skips midnight).
fn local_midnight(tz: chrono_tz::Tz, day: chrono::NaiveDate) -> chrono::DateTime<chrono::Utc> {
    use chrono::TimeZone as _;
    let mut t = day.and_time(chrono::NaiveTime::MIN);
    loop {
        if let Some(local) = tz.from_local_datetime(&t).earliest() {
            return local.with_timezone(&chrono::Utc);
        }
        t += chrono::Duration::minutes(30);
    }
}

/// Days with a review, counted back from today (or from yesterday while today has none).
pub fn streak(days: &BTreeSet<chrono::NaiveDate>, today: chrono::NaiveDate) -> i64 {
    let mut day = if days.contains(&today) {
        today
    } else {
        today - chrono::Duration::days(1)
    };
    let mut n = 0;
    while days.contains(&day) {
        n += 1;
        day -= chrono::Duration::days(1);
    }
    n
}

/// The review numbers, in the user's time zone.
async fn review_progress(
    db: &Database,
    user_id: ObjectId,
    tz: chrono_tz::Tz,
    now: DateTime,
    out: &mut MeAnalytics,
) -> Result<(), Error> {
    let reviews = Reviews::new(db);
    let now = now.to_chrono();
    let today = now.with_timezone(&tz).date_naive();
    let start = local_midnight(tz, today);
    let end = local_midnight(tz, today + chrono::Duration::days(1));
    out.due_today = i64::try_from(
        reviews
            .due_count(
                user_id,
                DateTime::from_chrono(end - chrono::Duration::milliseconds(1)),
            )
            .await?,
    )
    .unwrap_or(i64::MAX);
    out.reviewed_today = i64::try_from(
        reviews
            .reviews_since(user_id, DateTime::from_chrono(start))
            .await?,
    )
    .unwrap_or(i64::MAX);
    let since = local_midnight(tz, today - chrono::Duration::days(400));
    let days: BTreeSet<chrono::NaiveDate> = reviews
        .review_times(user_id, DateTime::from_chrono(since))
        .await?
        .into_iter()
        .map(|t| t.with_timezone(&tz).date_naive())
        .collect();
    out.review_streak_days = streak(&days, today);
    let states = reviews.states_of(user_id).await?;
    #[expect(clippy::cast_precision_loss, reason = "counts are far below 2^52")]
    if !states.is_empty() {
        let sum: f64 = states.iter().map(|s| s.retrievability(now)).sum();
        out.average_retrievability = Some((sum / states.len() as f64 * 1000.0).round() / 1000.0);
    }
    Ok(())
}

/// The user's numbers: review days in `tz`, the other series by UTC day.
pub async fn me(
    db: &Database,
    user_id: ObjectId,
    tz: chrono_tz::Tz,
    criteria: &SelectionCriteria,
    now: DateTime,
) -> Result<MeAnalytics, Error> {
    let mut out = MeAnalytics::default();
    for status in ["pending", "in-progress", "completed", "cancelled"] {
        out.sessions_by_status.insert(status.to_owned(), 0);
    }
    for d in ["easy", "medium", "hard"] {
        out.questions_by_difficulty.insert(d.to_owned(), 0);
    }
    for s in ["ai", "bank", "custom"] {
        out.questions_by_source.insert(s.to_owned(), 0);
    }

    let by_status = rows(
        db,
        sessions::COLLECTION,
        vec![
            doc! { "$match": { "user_id": user_id } },
            doc! { "$group": { "_id": "$status", "n": { "$sum": 1 } } },
        ],
        criteria,
    )
    .await?;
    for row in by_status {
        let n = number(&row, "n").unwrap_or(0);
        out.sessions_total += n;
        if let Ok(status) = row.get_str("_id") {
            *out.sessions_by_status.entry(status.to_owned()).or_default() += n;
        }
    }

    let since = day_start(now, 29);
    let facets = rows(
        db,
        questions::COLLECTION,
        vec![
            doc! { "$match": { "user_id": user_id } },
            doc! { "$facet": {
                "kinds": [
                    { "$group": {
                        "_id": { "d": "$difficulty", "s": "$source", "p": "$is_pinned" },
                        "n": { "$sum": 1 },
                    } },
                ],
                "days": [
                    { "$match": { "created_at": { "$gte": since } } },
                    { "$group": {
                        "_id": { "$dateToString": { "format": "%Y-%m-%d", "date": "$created_at" } },
                        "n": { "$sum": 1 },
                    } },
                ],
            } },
        ],
        criteria,
    )
    .await?;
    let facet = facets.into_iter().next().unwrap_or_default();
    for row in facet
        .get_array("kinds")
        .map(|a| a.as_slice())
        .unwrap_or_default()
    {
        let Some(row) = row.as_document() else {
            continue;
        };
        let n = number(row, "n").unwrap_or(0);
        let key = row.get_document("_id").cloned().unwrap_or_default();
        out.questions_total += n;
        if key.get_bool("p").unwrap_or(false) {
            out.questions_pinned += n;
        }
        if let Ok(d) = key.get_str("d") {
            *out.questions_by_difficulty.entry(d.to_owned()).or_default() += n;
        }
        if let Ok(s) = key.get_str("s") {
            *out.questions_by_source.entry(s.to_owned()).or_default() += n;
        }
    }
    let mut per_day: BTreeMap<String, i64> = (0..30)
        .map(|i| {
            let day = DateTime::from_millis(since.timestamp_millis() + i * DAY_MS);
            (day.to_chrono().format("%Y-%m-%d").to_string(), 0)
        })
        .collect();
    for row in facet
        .get_array("days")
        .map(|a| a.as_slice())
        .unwrap_or_default()
    {
        let Some(row) = row.as_document() else {
            continue;
        };
        if let Ok(day) = row.get_str("_id")
            && let Some(slot) = per_day.get_mut(day)
        {
            *slot += number(row, "n").unwrap_or(0);
        }
    }
    out.questions_per_day = per_day.into_iter().collect();
    practice(db, user_id, criteria, now, &mut out).await?;
    review_progress(db, user_id, tz, now, &mut out).await?;
    #[expect(clippy::cast_precision_loss, reason = "counts are far below 2^52")]
    if out.sessions_total > 0 {
        out.average_questions_per_session = out.questions_total as f64 / out.sessions_total as f64;
    }
    Ok(out)
}

/// The lower bound of ULIDs created at or after `at` (their first 10 characters encode the
/// time), so a range on `_id` selects jobs by creation time.
fn ulid_floor(at: DateTime) -> String {
    let ms = u64::try_from(at.timestamp_millis()).unwrap_or(0);
    ulid::Ulid::from_parts(ms, 0).to_string()
}

/// The `limit` topics named most often by sessions created, and generation jobs started, in
/// the last `days` UTC days (today included); ties by name.
pub async fn trending(
    db: &Database,
    now: DateTime,
    days: i64,
    limit: usize,
    criteria: &SelectionCriteria,
) -> Result<Vec<TopicCount>, Error> {
    let since = day_start(now, days - 1);
    let group = |field: &str| {
        vec![
            doc! { "$unwind": format!("${field}") },
            doc! { "$group": {
                "_id": { "$toLower": format!("${field}") },
                "name": { "$first": format!("${field}") },
                "n": { "$sum": 1 },
            } },
        ]
    };
    let mut stages = vec![doc! { "$match": { "created_at": { "$gte": since } } }];
    stages.extend(group("topics"));
    let from_sessions = rows(db, sessions::COLLECTION, stages, criteria).await?;
    let mut stages = vec![doc! { "$match": {
        "_id": { "$gte": ulid_floor(since) },
        "kind": JobKind::GenerateQuestions.as_str(),
    } }];
    stages.extend(group("payload.topics"));
    let from_jobs = rows(db, jobs::COLLECTION, stages, criteria).await?;

    let mut counts: BTreeMap<String, (String, i64)> = BTreeMap::new();
    for row in from_sessions.iter().chain(&from_jobs) {
        let (Ok(key), Ok(name)) = (row.get_str("_id"), row.get_str("name")) else {
            continue;
        };
        let entry = counts
            .entry(key.to_owned())
            .or_insert_with(|| (name.to_owned(), 0));
        entry.1 += number(row, "n").unwrap_or(0);
    }
    let mut top: Vec<TopicCount> = counts
        .into_values()
        .map(|(topic, count)| TopicCount { topic, count })
        .collect();
    top.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.topic.cmp(&b.topic)));
    top.truncate(limit);
    Ok(top)
}

/// The Redis key caching a user's analytics.
pub fn cache_key(kv: &crate::kv::Kv, user_id: ObjectId) -> String {
    kv.key(&format!("analytics:me:{}", user_id.to_hex()))
}

/// Drops the user's cached analytics (their sessions or questions changed). Best effort:
/// the cache expires within a minute anyway.
pub async fn invalidate(kv: &crate::kv::Kv, user_id: ObjectId) {
    use redis::AsyncCommands;
    let mut conn = kv.conn();
    if let Err(e) = conn.del::<_, ()>(cache_key(kv, user_id)).await {
        tracing::warn!(error = %e, "analytics cache not invalidated");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_and_ulid_bounds() {
        let now = DateTime::parse_rfc3339_str("2026-11-24T15:30:00Z").unwrap();
        assert_eq!(
            day_start(now, 6).to_chrono().to_rfc3339(),
            "2026-11-18T00:00:00+00:00"
        );
        let floor = ulid_floor(now);
        let later = ulid::Ulid::from_parts(now.timestamp_millis() as u64 + 1, 5).to_string();
        let earlier =
            ulid::Ulid::from_parts(now.timestamp_millis() as u64 - 1, u128::MAX >> 48).to_string();
        assert!(later > floor && earlier < floor);
        assert!(read_preference("secondaryPreferred").is_some());
        assert!(read_preference("bogus").is_none());
    }
}
