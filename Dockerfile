# syntax=docker/dockerfile:1.7
# One image with both binaries: `/app/api` (default) and `/app/worker`.
#
#   docker build -t interview-prep .
#   docker run --env-file .env -p 8080:8080 interview-prep               # the api
#   docker run --env-file .env interview-prep /app/worker                 # a worker
#   docker run --env-file .env interview-prep /app/api create-indexes     # pre-deploy step
#
# Linted by the test suite with hadolint (tests/it/deploy); no Docker engine is needed for that.

ARG RUST_VERSION=1.95.0
ARG DEBIAN_RELEASE=bookworm

# --- build: release binaries, with the cargo registry and target dir cached between builds.
FROM rust:${RUST_VERSION}-slim-${DEBIAN_RELEASE} AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends cmake=3.25.* pkg-config=1.8.* \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY common common
COPY api api
COPY worker worker
COPY tests tests
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p api -p worker \
    && mkdir -p /out \
    && cp target/release/api target/release/worker /out/

# --- runtime: slim Debian, CA roots, the fonts PDF exports fall back to, an unprivileged user.
FROM debian:${DEBIAN_RELEASE}-slim AS runtime
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        ca-certificates=20230311* \
        curl=7.88.* \
        fonts-noto-cjk=1:20220127* \
        fonts-noto-color-emoji=2.042-* \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /nonexistent --shell /usr/sbin/nologin app
COPY --from=build /out/api /out/worker /app/
ENV LOG_FORMAT=json \
    HOST=0.0.0.0 \
    PORT=8080 \
    WORKER_HEALTH_HOST=0.0.0.0 \
    WORKER_HEALTH_PORT=8081 \
    FONT_DIRS=/usr/share/fonts
USER 10001:10001
EXPOSE 8080 8081
# The api answers on PORT, a worker on WORKER_HEALTH_PORT; whichever this container runs.
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD ["/bin/sh", "-c", "curl -fsS http://127.0.0.1:${PORT}/health/live || curl -fsS http://127.0.0.1:${WORKER_HEALTH_PORT}/health/live || exit 1"]
STOPSIGNAL SIGTERM
CMD ["/app/api"]
