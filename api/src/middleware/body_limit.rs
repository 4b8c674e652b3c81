//! Rejects request bodies over the limit with 413, whether or not they declare a length.

use futures::StreamExt;
use poem::{Body, Endpoint, Middleware, Request, Result, error::SizedLimitError, http::header};

/// The middleware: at most `max` bytes of body.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit {
    max: usize,
}

impl BodyLimit {
    /// A limit of `max` bytes.
    pub fn new(max: usize) -> Self {
        Self { max }
    }
}

impl<E: Endpoint> Middleware<E> for BodyLimit {
    type Output = BodyLimitEndpoint<E>;
    fn transform(&self, inner: E) -> Self::Output {
        BodyLimitEndpoint {
            inner,
            max: self.max,
        }
    }
}

/// See [`BodyLimit`].
#[derive(Debug)]
pub struct BodyLimitEndpoint<E> {
    inner: E,
    max: usize,
}

impl<E: Endpoint> Endpoint for BodyLimitEndpoint<E> {
    type Output = E::Output;

    async fn call(&self, mut req: Request) -> Result<Self::Output> {
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        match declared {
            Some(len) if len > self.max as u64 => {
                return Err(SizedLimitError::PayloadTooLarge.into());
            }
            // hyper stops at the declared length, so the limit already holds.
            Some(_) => {}
            None if req.headers().contains_key(header::TRANSFER_ENCODING) => {
                // A chunked body: read it up to the limit, then hand it on whole.
                let mut stream = req.take_body().into_bytes_stream();
                let mut buf = Vec::new();
                while let Some(chunk) = stream.next().await {
                    let chunk = chunk.map_err(poem::error::ReadBodyError::Io)?;
                    if buf.len() + chunk.len() > self.max {
                        return Err(SizedLimitError::PayloadTooLarge.into());
                    }
                    buf.extend_from_slice(&chunk);
                }
                req.set_body(Body::from(buf));
            }
            None => {}
        }
        self.inner.call(req).await
    }
}
