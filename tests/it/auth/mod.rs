//! Accounts, tokens, password reset and the rate limiter.

mod flow;
mod jwt;
mod passwords;
mod rate_limit;
pub(crate) mod reset;
mod validation;
