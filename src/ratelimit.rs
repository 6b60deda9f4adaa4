//! Request rate limits per API key and per tenant, from the plan's API calls per hour (governor).
//!
//! GCRA with a burst of the whole hourly allowance: a tenant may spend its hour at once, then
//! earns calls back evenly. Limiters live in memory; with `TALLY_INSTANCES = N` behind a load
//! balancer each instance enforces 1/N of the allowance, so the fleet never exceeds it.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

type Keyed =
    RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock, StateInformationMiddleware>;

/// The answer for one request, with what the `X-RateLimit-*` headers report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// Calls per hour this instance allows (the plan's, divided among instances).
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the allowance is whole again.
    pub reset_s: u64,
    /// Seconds until the next call would be allowed (0 when allowed).
    pub retry_after_s: u64,
}

#[derive(Clone)]
pub struct RateLimits {
    by_quota: Arc<Mutex<HashMap<u32, Arc<Keyed>>>>,
    instances: u32,
}

impl RateLimits {
    pub fn new(instances: u32) -> Self {
        Self {
            by_quota: Arc::default(),
            instances: instances.max(1),
        }
    }

    fn limiter(&self, per_hour: NonZeroU32) -> Arc<Keyed> {
        let mut map = self.by_quota.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(per_hour.get())
            .or_insert_with(|| {
                Arc::new(RateLimiter::keyed(Quota::per_hour(per_hour)).with_middleware())
            })
            .clone()
    }

    /// Counts one call against the key and the tenant; denied if either is spent.
    pub fn check(&self, per_hour: u32, tenant: &str, key_id: &str) -> Decision {
        let share = NonZeroU32::new(per_hour / self.instances).unwrap_or(NonZeroU32::MIN);
        let limiter = self.limiter(share);
        let key = limiter.check_key(&format!("k:{key_id}"));
        let tenant = key
            .as_ref()
            .ok()
            .map(|_| limiter.check_key(&format!("t:{tenant}")));
        let limit = share.get();
        let denied = |not_until: governor::NotUntil<_>| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            let retry_after_s = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            Decision {
                allowed: false,
                limit,
                remaining: 0,
                reset_s: 3600,
                retry_after_s: retry_after_s.max(1),
            }
        };
        match (key, tenant) {
            (Err(not_until), _) | (_, Some(Err(not_until))) => denied(not_until),
            (Ok(k), t) => {
                let remaining = t
                    .and_then(Result::ok)
                    .map_or(k.remaining_burst_capacity(), |t| {
                        t.remaining_burst_capacity()
                            .min(k.remaining_burst_capacity())
                    });
                let spent = u64::from(limit - remaining.min(limit));
                let reset_s = (spent * 3600).div_ceil(u64::from(limit));
                Decision {
                    allowed: true,
                    limit,
                    remaining,
                    reset_s,
                    retry_after_s: 0,
                }
            }
        }
    }

    /// Forgets keys whose allowance is whole again, bounding memory to the active keys.
    pub fn shrink(&self) {
        let map = self.by_quota.lock().unwrap_or_else(|e| e.into_inner());
        for limiter in map.values() {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

/// How often idle limiter entries are dropped.
pub const SHRINK_INTERVAL: Duration = Duration::from_secs(60);
