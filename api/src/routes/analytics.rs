//! Analytics: the caller's own numbers (cached briefly in Redis) and the public trending
//! topics (served from the in-process snapshot of `crate::trending`).

use std::collections::BTreeMap;

use bson::DateTime;
use common::{
    db::{
        analytics::{self, MeAnalytics},
        usage::{AiUsage, Budget},
        users::Users,
    },
    domain::user::TimeZone,
};
use poem::web::Data;
use poem_openapi::{
    ApiResponse, Object, OpenApi,
    param::{Header, Query},
    payload::Json,
};
use redis::AsyncCommands;
use sha2::{Digest, Sha256};

use crate::{auth::BearerAuth, error::ApiResult, routes::ApiTags, state::AppState};

/// How long clients and shared caches may reuse the trending list.
const CACHE_CONTROL: &str = "public, max-age=300";

/// The caller's numbers.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct MeView {
    /// Sessions per status.
    pub sessions_by_status: BTreeMap<String, i64>,
    /// Sessions in all.
    pub sessions_total: i64,
    /// Questions in all.
    pub questions_total: i64,
    /// Pinned questions.
    pub questions_pinned: i64,
    /// Questions per difficulty.
    pub questions_by_difficulty: BTreeMap<String, i64>,
    /// Questions per source (`ai`, `bank`, `custom`).
    pub questions_by_source: BTreeMap<String, i64>,
    /// Questions added per UTC day over the last 30 days, oldest first.
    pub questions_per_day: Vec<DayCount>,
    /// Questions per session.
    pub average_questions_per_session: f64,
    /// Practice attempts per UTC day over the last 30 days, oldest first.
    pub attempts_per_day: Vec<DayCount>,
    /// Mean score of graded attempts over the last 7 days (absent without any).
    pub average_score_7d: Option<f64>,
    /// Mean score of graded attempts over the last 30 days (absent without any).
    pub average_score_30d: Option<f64>,
    /// Up to three categories with the lowest mean score over the last 30 days, lowest
    /// first.
    pub weakest_categories: Vec<CategoryScoreView>,
    /// Questions due for review by the end of today (in the profile's time zone).
    pub due_today: i64,
    /// Reviews (ratings and graded attempts) made today.
    pub reviewed_today: i64,
    /// Consecutive days with at least one review, ending today (or yesterday while today
    /// has none yet), in the profile's time zone.
    pub review_streak_days: i64,
    /// The chance of recalling a reviewed question now (FSRS), averaged; absent before the
    /// first review.
    pub average_retrievability: Option<f64>,
    /// Today's AI token budget (live, not cached).
    pub ai_tokens: TokenBudgetView,
}

/// A category's mean score.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct CategoryScoreView {
    /// The category.
    pub category: String,
    /// Mean score of its graded attempts, 0–100.
    pub average_score: f64,
    /// Graded attempts.
    pub attempts: i64,
}

/// The caller's AI token budget for today (UTC).
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct TokenBudgetView {
    /// Tokens (prompt + completion) spent today.
    pub used_today: i64,
    /// Tokens allowed per day.
    pub daily_limit: i64,
    /// Tokens left today; at 0, generation is refused with 429 `token-budget-spent`.
    pub remaining: i64,
    /// When the count starts again (the next UTC midnight).
    pub resets_at: chrono::DateTime<chrono::Utc>,
}

impl From<Budget> for TokenBudgetView {
    fn from(b: Budget) -> Self {
        Self {
            used_today: b.used,
            daily_limit: b.limit,
            remaining: b.remaining(),
            resets_at: b.resets_at,
        }
    }
}

/// A count on one day.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct DayCount {
    /// `YYYY-MM-DD` (UTC).
    pub date: String,
    /// Questions added, or attempts made, that day.
    pub count: i64,
}

impl MeView {
    fn new(a: MeAnalytics, budget: Budget) -> Self {
        Self {
            sessions_by_status: a.sessions_by_status,
            sessions_total: a.sessions_total,
            questions_total: a.questions_total,
            questions_pinned: a.questions_pinned,
            questions_by_difficulty: a.questions_by_difficulty,
            questions_by_source: a.questions_by_source,
            questions_per_day: a
                .questions_per_day
                .into_iter()
                .map(|(date, count)| DayCount { date, count })
                .collect(),
            average_questions_per_session: a.average_questions_per_session,
            attempts_per_day: a
                .attempts_per_day
                .into_iter()
                .map(|(date, count)| DayCount { date, count })
                .collect(),
            average_score_7d: a.average_score_7d,
            average_score_30d: a.average_score_30d,
            weakest_categories: a
                .weakest_categories
                .into_iter()
                .map(|c| CategoryScoreView {
                    category: c.category,
                    average_score: c.average_score,
                    attempts: c.attempts,
                })
                .collect(),
            due_today: a.due_today,
            reviewed_today: a.reviewed_today,
            review_streak_days: a.review_streak_days,
            average_retrievability: a.average_retrievability,
            ai_tokens: budget.into(),
        }
    }
}

/// A trending topic.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct TrendingTopic {
    /// The topic.
    pub topic: String,
    /// Sessions and generation requests that named it in the window.
    pub count: i64,
}

/// The most used topics.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct TrendingView {
    /// Most used first.
    pub topics: Vec<TrendingTopic>,
    /// Days in the rolling window (whole UTC days, today included).
    pub window_days: i64,
    /// When the snapshot was computed.
    pub refreshed_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// The caller's numbers.
#[derive(Debug, ApiResponse)]
pub enum MeResponse {
    /// The numbers.
    #[oai(status = 200)]
    Ok(Json<MeView>),
}

/// Trending topics.
#[derive(Debug, ApiResponse)]
pub enum TrendingResponse {
    /// The topics.
    #[oai(status = 200)]
    Ok(
        Json<TrendingView>,
        /// `public, max-age=300`.
        #[oai(header = "Cache-Control")]
        String,
        /// Send it back as `If-None-Match` to get a 304 while nothing changed.
        #[oai(header = "ETag")]
        String,
    ),
    /// Unchanged since the `ETag` given in `If-None-Match`.
    #[oai(status = 304)]
    NotModified(
        /// `public, max-age=300`.
        #[oai(header = "Cache-Control")]
        String,
        /// The current `ETag`.
        #[oai(header = "ETag")]
        String,
    ),
}

/// Analytics.
#[derive(Debug)]
pub struct AnalyticsApi;

#[OpenApi(prefix_path = "/api/v1/analytics", tag = "ApiTags::Analytics")]
impl AnalyticsApi {
    /// The caller's numbers: sessions, questions, practice, reviews, AI budget
    ///
    /// The caller's numbers: sessions by status, questions by difficulty and source,
    /// activity over the last 30 days (cached up to a minute), and today's AI token budget.
    #[oai(path = "/me", method = "get", operation_id = "analytics_me")]
    async fn me(&self, auth: BearerAuth, state: Data<&AppState>) -> ApiResult<MeResponse> {
        let budget = AiUsage::new(&state.db)
            .budget(auth.0.id, state.config.common.ai_daily_token_budget)
            .await?;
        let key = analytics::cache_key(&state.kv, auth.0.id);
        let mut conn = state.kv.conn();
        let cached: Option<String> = conn.get(&key).await.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "analytics cache unavailable");
            None
        });
        if let Some(numbers) =
            cached.and_then(|json| serde_json::from_str::<MeAnalytics>(&json).ok())
        {
            metrics::counter!("analytics_cache_total", "outcome" => "hit").increment(1);
            return Ok(MeResponse::Ok(Json(MeView::new(numbers, budget))));
        }
        metrics::counter!("analytics_cache_total", "outcome" => "miss").increment(1);
        let user = Users::new(&state.db)
            .by_id(auth.0.id)
            .await?
            .ok_or_else(|| crate::error::ApiError::not_found("account"))?;
        let numbers = analytics::me(
            &state.db,
            auth.0.id,
            TimeZone::of(&user).0,
            &state.config.analytics.read_preference,
            DateTime::now(),
        )
        .await?;
        if let Ok(json) = serde_json::to_string(&numbers) {
            let ttl = state.config.analytics.cache_ttl.as_secs().max(1);
            let stored: redis::RedisResult<()> = conn.set_ex(&key, json, ttl).await;
            if let Err(e) = stored {
                tracing::warn!(error = %e, "analytics not cached");
            }
        }
        Ok(MeResponse::Ok(Json(MeView::new(numbers, budget))))
    }

    /// Topics used most across all users over the last 7 days
    ///
    /// The topics used most across all users over the last 7 days (public; cacheable for
    /// five minutes).
    #[oai(
        path = "/trending-topics",
        method = "get",
        operation_id = "analytics_trending_topics"
    )]
    async fn trending(
        &self,
        state: Data<&AppState>,
        /// Topics to return, 1–50 (default 10).
        #[oai(
            default = "default_limit",
            validator(minimum(value = "1"), maximum(value = "50"))
        )]
        limit: Query<usize>,
        /// An `ETag` from an earlier response.
        #[oai(name = "If-None-Match")]
        if_none_match: Header<Option<String>>,
    ) -> ApiResult<TrendingResponse> {
        let snapshot = state.trending.load();
        let view = TrendingView {
            topics: snapshot
                .topics
                .iter()
                .take(limit.0)
                .map(|t| TrendingTopic {
                    topic: t.topic.clone(),
                    count: t.count,
                })
                .collect(),
            window_days: state.config.analytics.trending_days,
            refreshed_at: snapshot.refreshed_at,
        };
        let body: Vec<(&str, i64)> = view
            .topics
            .iter()
            .map(|t| (t.topic.as_str(), t.count))
            .collect();
        let digest = Sha256::digest(serde_json::to_vec(&body).unwrap_or_default());
        let etag = format!("\"{}\"", hex::encode(&digest[..12]));
        let matches = if_none_match.0.as_deref().is_some_and(|given| {
            given
                .split(',')
                .map(|t| t.trim().trim_start_matches("W/"))
                .any(|t| t == etag || t == "*")
        });
        Ok(if matches {
            TrendingResponse::NotModified(CACHE_CONTROL.to_owned(), etag)
        } else {
            TrendingResponse::Ok(Json(view), CACHE_CONTROL.to_owned(), etag)
        })
    }
}

fn default_limit() -> usize {
    10
}
