//! Analytics, trending topics, metrics, alert rules and logs (issue #8).

mod analytics;
mod full_flow;
mod trending;
