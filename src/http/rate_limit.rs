//! Per-client-address token buckets for the browser endpoints.
//!
//! A public page lets anyone ask for call tokens and open sockets; each call costs an upstream
//! session, so one address must not be able to start calls in a loop. The buckets live in the
//! replica's memory (a handle in the app state, not a global): behind a load balancer each replica
//! limits on its own, so the effective limit is per replica — enough against a loop, and it needs
//! no shared store on the audio path. Memory is bounded: past `MAX_ADDRESSES` the full buckets
//! (addresses that have been quiet long enough to refill) are forgotten first.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use tokio::time::Instant;

/// Most addresses tracked at once.
const MAX_ADDRESSES: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// Token buckets keyed by client address.
#[derive(Debug)]
pub struct RateLimiter {
    burst: f64,
    per_sec: f64,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

impl RateLimiter {
    /// `burst` requests at once, refilled at `per_minute`.
    pub fn new(burst: u32, per_minute: u32) -> RateLimiter {
        RateLimiter {
            burst: f64::from(burst.max(1)),
            per_sec: f64::from(per_minute.max(1)) / 60.0,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Take one request for `addr` at `now`; false = over the limit.
    pub fn allow(&self, addr: IpAddr, now: Instant) -> bool {
        // A poisoned lock only means another request panicked mid-update; the map is still valid.
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= MAX_ADDRESSES && !buckets.contains_key(&addr) {
            let (burst, per_sec) = (self.burst, self.per_sec);
            buckets.retain(|_, b| refill(b, burst, per_sec, now) < burst);
            if buckets.len() >= MAX_ADDRESSES {
                return false;
            }
        }
        let bucket = buckets.entry(addr).or_insert(Bucket {
            tokens: self.burst,
            updated: now,
        });
        bucket.tokens = refill(bucket, self.burst, self.per_sec, now);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

fn refill(bucket: &Bucket, burst: f64, per_sec: f64, now: Instant) -> f64 {
    let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
    (bucket.tokens + elapsed * per_sec).min(burst)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_burst_then_the_refill_rate_per_address() {
        let limiter = RateLimiter::new(3, 60);
        let t0 = Instant::now();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        assert!((0..3).all(|_| limiter.allow(a, t0)));
        assert!(!limiter.allow(a, t0), "fourth request in the same instant is refused");
        assert!(limiter.allow(b, t0), "another address has its own bucket");
        assert!(!limiter.allow(a, t0 + Duration::from_millis(900)));
        assert!(
            limiter.allow(a, t0 + Duration::from_millis(1000)),
            "one per second refills"
        );
        assert!(!limiter.allow(a, t0 + Duration::from_millis(1001)));
        // Long quiet: refills to the burst, not beyond.
        let later = t0 + Duration::from_secs(3600);
        assert!((0..3).all(|_| limiter.allow(a, later)));
        assert!(!limiter.allow(a, later));
    }
}
