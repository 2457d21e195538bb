//! The bot filter: at most `limit` creates (likes and posts together) per
//! DID in any 60 s of event time.

use std::collections::{HashMap, VecDeque};

use feedmixer_atproto::RepoEvent;

/// The sliding window, in `time_us`.
const WINDOW_US: u64 = 60_000_000;

/// Keeps, per DID, the `time_us` of the creates it admitted in the last
/// window (at most `limit` of them). Windows of DIDs quiet for a whole
/// window are pruned once per window of event time, so memory is bounded
/// by the DIDs active in the last two minutes times `limit`.
///
/// A replayed create (after a reconnect, Jetstream resends the overlap)
/// carries the `time_us` it had the first time: one the window admitted is
/// recognised and admitted again without counting twice, one it refused is
/// refused again.
#[derive(Debug)]
pub(crate) struct BotFilter {
    limit: usize,
    windows: HashMap<String, VecDeque<u64>>,
    next_prune_us: u64,
}

impl BotFilter {
    pub fn new(limit: u32) -> Self {
        BotFilter {
            limit: usize::try_from(limit).unwrap_or(usize::MAX),
            windows: HashMap::new(),
            next_prune_us: 0,
        }
    }

    /// Whether the event goes on to the store. Deletes and account
    /// deletions always do.
    pub fn admit(&mut self, event: &RepoEvent) -> bool {
        match event {
            RepoEvent::LikeCreate { did, time_us, .. }
            | RepoEvent::PostCreate { did, time_us, .. } => self.admit_create(did, *time_us),
            RepoEvent::LikeDelete { .. }
            | RepoEvent::PostDelete { .. }
            | RepoEvent::AccountDeleted { .. }
            | RepoEvent::AccountStatus { .. } => true,
        }
    }

    fn admit_create(&mut self, did: &str, time_us: u64) -> bool {
        self.prune(time_us);
        if !self.windows.contains_key(did) {
            self.windows.insert(did.to_owned(), VecDeque::new());
        }
        let Some(window) = self.windows.get_mut(did) else {
            return true;
        };
        match window.back() {
            Some(&newest) if time_us <= newest => match window.binary_search(&time_us) {
                // Admitted before: a replay.
                Ok(_) => true,
                Err(at) if window.len() < self.limit => {
                    window.insert(at, time_us);
                    true
                }
                Err(_) => false,
            },
            _ => {
                while window
                    .front()
                    .is_some_and(|&t| t.saturating_add(WINDOW_US) <= time_us)
                {
                    window.pop_front();
                }
                if window.len() >= self.limit {
                    return false;
                }
                window.push_back(time_us);
                true
            }
        }
    }

    fn prune(&mut self, now_us: u64) {
        if now_us < self.next_prune_us {
            return;
        }
        self.windows.retain(|_, w| {
            w.back()
                .is_some_and(|&t| t.saturating_add(WINDOW_US) > now_us)
        });
        self.next_prune_us = now_us.saturating_add(WINDOW_US);
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.windows.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000;

    fn create(did: &str, time_us: u64) -> RepoEvent {
        RepoEvent::LikeCreate {
            did: did.into(),
            rkey: format!("r{time_us}"),
            subject: "at://did:plc:a/app.bsky.feed.post/p".into(),
            time_us,
        }
    }

    fn admitted(filter: &mut BotFilter, did: &str, times: impl IntoIterator<Item = u64>) -> usize {
        times
            .into_iter()
            .filter(|&t| filter.admit(&create(did, t)))
            .count()
    }

    #[test]
    fn a_flood_is_cut_at_the_limit_per_did() {
        let mut filter = BotFilter::new(10);
        let base = 1_000 * S;
        assert_eq!(
            admitted(&mut filter, "did:plc:bot", (0..50).map(|i| base + i)),
            10
        );
        assert_eq!(admitted(&mut filter, "did:plc:human", [base + 100]), 1);
    }

    #[test]
    fn the_window_slides_with_event_time() {
        let mut filter = BotFilter::new(2);
        let base = 1_000 * S;
        assert_eq!(
            admitted(&mut filter, "d", [base, base + 10 * S, base + 20 * S]),
            2
        );
        // The first create leaves the window at base + 60 s.
        assert_eq!(admitted(&mut filter, "d", [base + 59 * S]), 0);
        assert_eq!(admitted(&mut filter, "d", [base + 60 * S]), 1);
        assert_eq!(admitted(&mut filter, "d", [base + 61 * S]), 0);
        assert_eq!(admitted(&mut filter, "d", [base + 71 * S]), 1);
    }

    #[test]
    fn replays_keep_their_first_verdict() {
        let mut filter = BotFilter::new(3);
        let times: Vec<u64> = (0..6).map(|i| 1_000 * S + i * S).collect();
        let first: Vec<bool> = times
            .iter()
            .map(|&t| filter.admit(&create("d", t)))
            .collect();
        assert_eq!(first, [true, true, true, false, false, false]);
        let again: Vec<bool> = times
            .iter()
            .map(|&t| filter.admit(&create("d", t)))
            .collect();
        assert_eq!(again, first);
    }

    #[test]
    fn deletes_always_pass() {
        let mut filter = BotFilter::new(1);
        assert!(filter.admit(&create("d", S)));
        assert!(!filter.admit(&create("d", 2 * S)));
        let delete = RepoEvent::LikeDelete {
            did: "d".into(),
            rkey: "r".into(),
            time_us: 3 * S,
        };
        let gone = RepoEvent::AccountDeleted {
            did: "d".into(),
            time_us: 4 * S,
        };
        assert!(filter.admit(&delete));
        assert!(filter.admit(&gone));
    }

    #[test]
    fn quiet_dids_are_pruned() {
        let mut filter = BotFilter::new(5);
        let base = 1_000 * S;
        for n in 0..100 {
            filter.admit(&create(&format!("did:plc:{n}"), base + n));
        }
        assert_eq!(filter.tracked(), 100);
        filter.admit(&create("did:plc:late", base + 2 * WINDOW_US));
        assert_eq!(filter.tracked(), 1);
    }
}
