//! MongoDB access: the connection and the repositories, one module per collection.

pub mod accounts;
mod indexes;
pub mod tokens;
pub mod users;

use std::time::Duration;

use mongodb::{Client, Database, bson::doc, options::ClientOptions};
use secrecy::ExposeSecret;

use crate::config::MongoConfig;

pub use indexes::ensure_indexes;

/// Opens a client for `config` (lazily: no server needs to be up yet).
pub async fn connect(config: &MongoConfig) -> anyhow::Result<Database> {
    let mut options = ClientOptions::parse(config.uri.expose_secret())
        .await
        .map_err(|e| anyhow::anyhow!("MONGODB_URI cannot be parsed: {e}"))?;
    options.app_name = Some("interview-prep".to_owned());
    options.server_selection_timeout = Some(config.server_selection_timeout);
    options.connect_timeout = Some(Duration::from_secs(3));
    let client = Client::with_options(options)?;
    Ok(client.database(&config.database))
}

/// One round trip to the server.
pub async fn ping(db: &Database) -> Result<(), mongodb::error::Error> {
    db.run_command(doc! { "ping": 1 }).await.map(drop)
}
