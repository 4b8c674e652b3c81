//! A circuit breaker around the provider, per worker process.
//!
//! Closed: calls go through; `failures` consecutive failures within `window` open it.
//! Open: calls are refused (the caller uses the offline bank) until `cooldown` has passed.
//! Half-open: one probe call is let through; its success closes the breaker, its failure
//! opens it again for another cool-down.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

/// The breaker's state, as a metric (`ai_breaker_state`: 0 closed, 1 open, 2 half-open).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Calls go through.
    Closed,
    /// Calls are refused.
    Open,
    /// One probe is in flight.
    HalfOpen,
}

#[derive(Debug)]
struct Inner {
    state: State,
    /// Consecutive failures, with the time of the first.
    failures: u32,
    first_failure: Option<Instant>,
    opened_at: Option<Instant>,
}

/// Shared by every job of the process (cheap to clone).
#[derive(Debug, Clone)]
pub struct Breaker {
    inner: Arc<Mutex<Inner>>,
    failures: u32,
    window: Duration,
    cooldown: Duration,
}

impl Breaker {
    /// A closed breaker.
    pub fn new(failures: u32, window: Duration, cooldown: Duration) -> Self {
        let breaker = Self {
            inner: Arc::new(Mutex::new(Inner {
                state: State::Closed,
                failures: 0,
                first_failure: None,
                opened_at: None,
            })),
            failures: failures.max(1),
            window,
            cooldown,
        };
        breaker.report(State::Closed);
        breaker
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn report(&self, state: State) {
        let value = match state {
            State::Closed => 0.0,
            State::Open => 1.0,
            State::HalfOpen => 2.0,
        };
        metrics::gauge!("ai_breaker_state").set(value);
    }

    /// Whether a call may go to the provider now (and, when half-open, reserves the probe).
    pub fn allow(&self) -> bool {
        let mut inner = self.lock();
        match inner.state {
            State::Closed => true,
            State::HalfOpen => false,
            State::Open => {
                if inner
                    .opened_at
                    .is_some_and(|t| t.elapsed() >= self.cooldown)
                {
                    inner.state = State::HalfOpen;
                    self.report(State::HalfOpen);
                    true
                } else {
                    false
                }
            }
        }
    }

    /// A call succeeded.
    pub fn success(&self) {
        let mut inner = self.lock();
        inner.failures = 0;
        inner.first_failure = None;
        if inner.state != State::Closed {
            tracing::info!("AI provider breaker closed");
        }
        inner.state = State::Closed;
        self.report(State::Closed);
    }

    /// A call failed; returns whether the breaker is now open.
    pub fn failure(&self) -> bool {
        let mut inner = self.lock();
        let now = Instant::now();
        if inner
            .first_failure
            .is_none_or(|t| now.duration_since(t) > self.window)
        {
            inner.first_failure = Some(now);
            inner.failures = 0;
        }
        inner.failures += 1;
        if inner.state == State::HalfOpen || inner.failures >= self.failures {
            if inner.state != State::Open {
                tracing::warn!(failures = inner.failures, "AI provider breaker opened");
            }
            inner.state = State::Open;
            inner.opened_at = Some(now);
            self.report(State::Open);
        }
        inner.state == State::Open
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.lock().state
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_consecutive_failures_and_probes_after_cooldown() {
        let b = Breaker::new(3, Duration::from_secs(60), Duration::from_millis(50));
        assert!(b.allow());
        assert!(!b.failure());
        assert!(!b.failure());
        b.success(); // resets the count
        assert!(!b.failure());
        assert!(!b.failure());
        assert!(b.failure());
        assert_eq!(b.state(), State::Open);
        assert!(!b.allow());
        std::thread::sleep(Duration::from_millis(60));
        assert!(b.allow(), "one probe after the cool-down");
        assert!(!b.allow(), "only one");
        assert!(b.failure(), "a failed probe opens it again");
        std::thread::sleep(Duration::from_millis(60));
        assert!(b.allow());
        b.success();
        assert_eq!(b.state(), State::Closed);
        assert!(b.allow());
    }

    #[test]
    fn failures_outside_the_window_do_not_add_up() {
        let b = Breaker::new(2, Duration::from_millis(30), Duration::from_secs(60));
        assert!(!b.failure());
        std::thread::sleep(Duration::from_millis(40));
        assert!(!b.failure(), "the first one is out of the window");
        assert!(b.failure());
    }
}
