//! The `jti` replay cache.
//!
//! CDS Hooks makes the service responsible for refusing a token it has already seen. A
//! token can only be replayed while it is valid, so an entry is needed exactly until the
//! token would expire (its `exp` plus the leeway the verifier grants): after that the token
//! is refused as expired anyway, and the entry is dropped.
//!
//! **When full, new tokens are refused** ([`Refusal::Full`], a 503), and only expired
//! entries are ever evicted. Evicting a live entry would reopen the replay window for that
//! token, which is exactly the attack the cache exists to stop; refusing service for a moment
//! is the safe failure. Memory is bounded by the capacity; how quickly entries leave is
//! bounded by the verifier's maximum token lifetime, so a capacity of (peak requests per
//! second) × (max lifetime + 2 × leeway) never fills with honest traffic.

use std::collections::{BTreeSet, HashMap};

/// Why the cache refused to record a `jti`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Seen before, and the earlier token has not expired.
    Replayed,
    /// The cache holds `capacity` live entries.
    Full,
}

/// Live `(issuer, jti)` pairs with the time each may be forgotten.
#[derive(Debug)]
pub(crate) struct ReplayCache {
    capacity: usize,
    /// (issuer index, jti) → forget-at (unix seconds).
    entries: HashMap<(usize, Box<str>), u64>,
    /// The same entries ordered by forget-at, to drop expired ones from the front.
    by_expiry: BTreeSet<(u64, usize, Box<str>)>,
}

impl ReplayCache {
    pub(crate) fn new(capacity: usize) -> Self {
        ReplayCache {
            capacity,
            entries: HashMap::new(),
            by_expiry: BTreeSet::new(),
        }
    }

    /// Records `jti` of `issuer` until `forget_at`, unless it is live already or the cache is
    /// full. Entries with `forget_at <= now` are dropped first.
    pub(crate) fn record(
        &mut self,
        issuer: usize,
        jti: &str,
        forget_at: u64,
        now: u64,
    ) -> Result<(), Refusal> {
        self.purge(now);
        let key = (issuer, Box::<str>::from(jti));
        if self.entries.contains_key(&key) {
            return Err(Refusal::Replayed);
        }
        if self.entries.len() >= self.capacity {
            return Err(Refusal::Full);
        }
        self.by_expiry.insert((forget_at, issuer, key.1.clone()));
        self.entries.insert(key, forget_at);
        Ok(())
    }

    /// How many live entries the cache holds (for a metrics gauge).
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    fn purge(&mut self, now: u64) {
        while let Some(first) = self.by_expiry.first() {
            if first.0 > now {
                break;
            }
            if let Some((_, issuer, jti)) = self.by_expiry.pop_first() {
                self.entries.remove(&(issuer, jti));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_a_live_jti_and_forgets_an_expired_one() {
        let mut cache = ReplayCache::new(10);
        assert_eq!(cache.record(0, "a", 100, 50), Ok(()));
        assert_eq!(cache.record(0, "a", 100, 99), Err(Refusal::Replayed));
        // The same jti from another issuer is another token.
        assert_eq!(cache.record(1, "a", 100, 99), Ok(()));
        // At forget-at the entry goes (the verifier refuses the token as expired by then).
        assert_eq!(cache.record(0, "a", 200, 100), Ok(()));
        // Issuer 1's entry expired at the same moment.
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn when_full_refuses_new_tokens_and_keeps_live_ones() {
        let mut cache = ReplayCache::new(2);
        assert_eq!(cache.record(0, "a", 100, 0), Ok(()));
        assert_eq!(cache.record(0, "b", 200, 0), Ok(()));
        assert_eq!(cache.record(0, "c", 300, 50), Err(Refusal::Full));
        // Still remembered: the full cache did not evict a live entry.
        assert_eq!(cache.record(0, "a", 100, 50), Err(Refusal::Replayed));
        // Once "a" expires there is room again.
        assert_eq!(cache.record(0, "c", 300, 100), Ok(()));
        assert_eq!(cache.record(0, "b", 200, 150), Err(Refusal::Replayed));
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn purge_handles_equal_expiry_times() {
        let mut cache = ReplayCache::new(100);
        for i in 0..50 {
            assert_eq!(cache.record(0, &i.to_string(), 10, 0), Ok(()));
        }
        assert_eq!(cache.record(0, "late", 20, 10), Ok(()));
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.by_expiry.len(), 1);
    }
}
