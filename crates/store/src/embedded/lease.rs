//! The embedded store's leases: one process owns the data dir, so they
//! live in its memory, each expiring at an [`Instant`].

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The shortest TTL a lease is taken for, as on Redis (whole
/// milliseconds).
const MIN_TTL: Duration = Duration::from_millis(1);
/// The longest, about 2,000 years, as on Redis.
const MAX_TTL: Duration = Duration::from_millis(1 << 46);

#[derive(Default)]
pub(super) struct Leases(Mutex<HashMap<String, Lease>>);

struct Lease {
    holder: String,
    until: Instant,
}

impl Leases {
    pub(super) fn acquire(&self, name: &str, holder: &str, ttl: Duration) -> bool {
        let now = Instant::now();
        // MAX_TTL fits any monotonic clock feedmixer runs on; a year, or
        // at worst nothing, where it does not.
        let until = now
            .checked_add(ttl.clamp(MIN_TTL, MAX_TTL))
            .or_else(|| now.checked_add(Duration::from_secs(365 * 86_400)))
            .unwrap_or(now);
        let mut leases = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match leases.get_mut(name) {
            Some(lease) if lease.holder != holder && lease.until > now => false,
            Some(lease) => {
                if lease.holder != holder {
                    lease.holder = holder.to_owned();
                }
                lease.until = until;
                true
            }
            None => {
                leases.insert(
                    name.to_owned(),
                    Lease {
                        holder: holder.to_owned(),
                        until,
                    },
                );
                true
            }
        }
    }

    pub(super) fn release(&self, name: &str, holder: &str) {
        let mut leases = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if leases.get(name).is_some_and(|lease| lease.holder == holder) {
            leases.remove(name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_expired_lease_goes_to_the_next_holder() {
        let leases = Leases::default();
        assert!(leases.acquire("ingest", "a", Duration::from_millis(20)));
        assert!(!leases.acquire("ingest", "b", Duration::from_secs(60)));
        std::thread::sleep(Duration::from_millis(40));
        assert!(leases.acquire("ingest", "b", Duration::from_secs(60)));
        assert!(!leases.acquire("ingest", "a", Duration::from_secs(60)));
        // A huge TTL does not overflow.
        assert!(leases.acquire("other", "a", Duration::MAX));
        assert!(!leases.acquire("other", "b", Duration::ZERO));
    }
}
