//! S3-compatible object storage: where exports live, and how clients download them.

use std::time::Duration;

use aws_sdk_s3::{
    Client,
    config::{BehaviorVersion, Credentials, Region, retry::RetryConfig, timeout::TimeoutConfig},
};
use secrecy::ExposeSecret;

use crate::config::S3Config;

/// Records how long an S3 call took when dropped (`s3_request_duration_seconds{op}`).
struct Timer {
    op: &'static str,
    start: std::time::Instant,
}

impl Timer {
    fn new(op: &'static str) -> Self {
        Self {
            op,
            start: std::time::Instant::now(),
        }
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        metrics::histogram!("s3_request_duration_seconds", "op" => self.op)
            .record(self.start.elapsed().as_secs_f64());
    }
}

/// Clients for the export bucket: one for the services' own calls, one that signs URLs
/// with the host clients reach (they differ behind a proxy or in containers).
#[derive(Debug, Clone)]
pub struct Storage {
    client: Client,
    presigner: Client,
    bucket: String,
}

fn build_client(config: &S3Config, endpoint: Option<&str>) -> Client {
    let credentials = Credentials::new(
        config.access_key_id.clone(),
        config.secret_access_key.expose_secret().to_owned(),
        None,
        None,
        "config",
    );
    let mut builder = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(config.region.clone()))
        .credentials_provider(credentials)
        .force_path_style(config.force_path_style)
        .retry_config(RetryConfig::standard().with_max_attempts(3))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(3))
                .operation_attempt_timeout(Duration::from_secs(60))
                .build(),
        );
    if let Some(endpoint) = endpoint {
        builder = builder.endpoint_url(endpoint);
    }
    Client::from_conf(builder.build())
}

impl Storage {
    /// Builds the clients (no network traffic).
    pub fn new(config: &S3Config) -> Self {
        Self {
            client: build_client(config, config.endpoint.as_deref()),
            presigner: build_client(config, config.public_endpoint.as_deref()),
            bucket: config.bucket.clone(),
        }
    }

    /// The client for the services' own calls.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The client whose endpoint goes into presigned URLs.
    pub fn presigner(&self) -> &Client {
        &self.presigner
    }

    /// The export bucket.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// Stores `body` at `key` in one request (the object appears whole or not at all).
    pub async fn put(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
        disposition: &str,
    ) -> anyhow::Result<()> {
        let _timer = Timer::new("put");
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .content_disposition(disposition)
            .body(body.into())
            .send()
            .await
            .map_err(|e| anyhow::anyhow!(aws_sdk_s3::error::DisplayErrorContext(e).to_string()))?;
        Ok(())
    }

    /// Deletes the object at `key` (a missing object is not an error).
    pub async fn delete(&self, key: &str) -> anyhow::Result<()> {
        let _timer = Timer::new("delete");
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!(aws_sdk_s3::error::DisplayErrorContext(e).to_string()))?;
        Ok(())
    }

    /// A URL that downloads `key` until `ttl` has passed, signed for the public endpoint.
    /// Minted on demand; never store or log it.
    pub async fn presign_get(&self, key: &str, ttl: Duration) -> anyhow::Result<String> {
        let config = aws_sdk_s3::presigning::PresigningConfig::expires_in(ttl)?;
        let request = self
            .presigner
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(config)
            .await
            .map_err(|e| anyhow::anyhow!(aws_sdk_s3::error::DisplayErrorContext(e).to_string()))?;
        Ok(request.uri().to_owned())
    }

    /// Checks that the bucket exists and the credentials are accepted.
    pub async fn ping(&self) -> anyhow::Result<()> {
        let _timer = Timer::new("head_bucket");
        self.client
            .head_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!(aws_sdk_s3::error::DisplayErrorContext(e).to_string()))?;
        Ok(())
    }
}
