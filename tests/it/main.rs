//! The integration test binary: every test talks to real MongoDB-wire, Redis, S3 and SMTP
//! servers started by `scripts/test.sh` (see `support`).

mod support;

mod foundation;
