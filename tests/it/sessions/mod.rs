//! Sessions and questions (issue #4): CRUD, filters, pagination, the cap, search, bulk
//! actions, statistics, ownership and the indexes behind them.

mod bulk;
mod cap;
mod crud;
pub(crate) mod indexes;
mod ownership;
mod questions;
mod search;
mod stats;
