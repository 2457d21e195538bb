//! The time-based split: one global time T, the users whose likes after T
//! are held out, and the seeded sample of them an evaluation ranks for.
//!
//! - **T** is a whole second. By default it leaves the newest 10 % of the
//!   log's likes after it ([`split_time`] at quantile 0.9); everything the
//!   flows read is what was stored before T.
//! - **A user's held-out likes** are their first `holdout` (K) likes at or
//!   after T (the likes that came next, in time order) that a feed ranking
//!   at T could have served: of a post the graph knew at T and may serve,
//!   not their own, not one they had liked before T, each post once. Likes
//!   of posts created after T are skipped, not counted as misses: no
//!   ranking at T could know them ([`SplitStats`] counts them).
//! - **Eligible users** liked something before T (at least `min_history`
//!   likes in the graph) and have at least `min_holdout` held-out likes
//!   (default 1: every user who came back after T, light users included,
//!   who are most users; `min_holdout = holdout` keeps only users with K).
//! - **The sample**: eligible users ordered by SHA-256 of the seed
//!   (8 bytes, little-endian) followed by their DID, the first `users` of
//!   them. The same log, seed and size give the same users on every
//!   machine, and a smaller sample is part of a larger one with the same
//!   seed.

use feedmixer_atproto::clock::secs_of_us;
use feedmixer_graph::{LikeGraph, PostId, UserId};
use rustc_hash::FxHashMap;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::EvalError;

/// The split time, unix seconds: the second of the like at quantile
/// `quantile` of `times_us` (every like's time, microseconds, oldest
/// first), so that about `1 - quantile` of the likes lie at or after it.
pub fn split_time(times_us: &[u64], quantile: f64) -> Result<u32, EvalError> {
    if !(quantile > 0.0 && quantile < 1.0) {
        return Err(EvalError::Quantile(quantile));
    }
    if times_us.is_empty() {
        return Err(EvalError::EmptyLog);
    }
    debug_assert!(times_us.is_sorted(), "likes come in time order");
    let index = ((times_us.len() as f64 * quantile) as usize).min(times_us.len() - 1);
    Ok(secs_of_us(times_us[index]))
}

/// What became of the likes at or after T.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SplitStats {
    /// Likes at or after T.
    pub likes_after: u64,
    /// By users with fewer than `min_history` likes before T (new users
    /// among them).
    pub no_history: u64,
    /// Of posts the graph did not know at T (created after it), or may
    /// not serve (deleted, hidden).
    pub unknown_post: u64,
    /// Of the user's own posts.
    pub own_post: u64,
    /// Of posts the user had liked before T (or already held out).
    pub repeated: u64,
    /// Held out (the first `holdout` per user, eligible or not).
    pub held_out: u64,
    /// Left over once a user had `holdout` held-out likes.
    pub past_holdout: u64,
}

/// One sampled user and their held-out posts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvalUser {
    pub did: String,
    pub id: UserId,
    /// `min_holdout..=holdout` posts, in the order they were liked.
    pub held_out: Vec<PostId>,
}

/// The split an evaluation runs on.
#[derive(Debug, Clone)]
pub struct Split {
    /// T, unix seconds: every flow runs with this as its clock.
    pub at_secs: u32,
    pub rules: Rules,
    /// Users with `min_holdout` held-out likes and history before T.
    pub eligible: usize,
    /// Held-out likes of the eligible users.
    pub eligible_held_out: usize,
    /// The sample, ordered by DID.
    pub users: Vec<EvalUser>,
    pub stats: SplitStats,
}

/// Who is held out, and how much.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    /// At most this many held-out likes per user (K).
    pub holdout: usize,
    /// Users with fewer held-out likes are not sampled.
    pub min_holdout: usize,
    /// Users with fewer likes before T are not sampled (at least 1).
    pub min_history: usize,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            holdout: 10,
            min_holdout: 1,
            min_history: 1,
        }
    }
}

impl Rules {
    fn check(&self) -> Result<(), EvalError> {
        if self.holdout == 0 || self.min_holdout == 0 || self.min_history == 0 {
            return Err(EvalError::Sizes(*self));
        }
        if self.min_holdout > self.holdout {
            return Err(EvalError::Sizes(*self));
        }
        Ok(())
    }
}

/// Collects the held-out likes from the likes at or after T, fed in time
/// order (as the store scans them), against the graph as of T.
pub struct HeldOut<'g> {
    graph: &'g LikeGraph,
    at_us: u64,
    rules: Rules,
    by_user: FxHashMap<UserId, Vec<PostId>>,
    stats: SplitStats,
}

impl<'g> HeldOut<'g> {
    /// `graph` holds what was known before `at_secs` (T).
    pub fn new(graph: &'g LikeGraph, at_secs: u32, rules: Rules) -> Result<Self, EvalError> {
        rules.check()?;
        Ok(HeldOut {
            graph,
            at_us: u64::from(at_secs) * 1_000_000,
            rules,
            by_user: FxHashMap::default(),
            stats: SplitStats::default(),
        })
    }

    /// One like of the log; those before T are ignored.
    pub fn add(&mut self, did: &str, subject: &str, time_us: u64) {
        if time_us < self.at_us {
            return;
        }
        let graph = self.graph;
        self.stats.likes_after += 1;
        let Some(user) = graph
            .user_id(did)
            .filter(|&u| graph.likes_of(u).len() >= self.rules.min_history)
        else {
            self.stats.no_history += 1;
            return;
        };
        let Some(post) = graph.post_id(subject).filter(|&p| graph.is_servable(p)) else {
            self.stats.unknown_post += 1;
            return;
        };
        if graph.post_author(post) == user {
            self.stats.own_post += 1;
            return;
        }
        let held = self.by_user.entry(user).or_default();
        if held.len() >= self.rules.holdout {
            self.stats.past_holdout += 1;
        } else if held.contains(&post) || graph.has_liked(user, post) {
            self.stats.repeated += 1;
        } else {
            held.push(post);
            self.stats.held_out += 1;
        }
    }

    /// The split: the eligible users and a sample of `users` of them,
    /// drawn with `seed`.
    pub fn finish(self, users: usize, seed: u64) -> Result<Split, EvalError> {
        if users == 0 {
            return Err(EvalError::NoSample);
        }
        let graph = self.graph;
        let mut eligible: Vec<(u64, String, UserId, Vec<PostId>)> = self
            .by_user
            .into_iter()
            .filter(|(_, held)| held.len() >= self.rules.min_holdout)
            .map(|(user, held)| {
                let did = graph.user_did(user);
                (sample_key(seed, &did), did, user, held)
            })
            .collect();
        if eligible.is_empty() {
            let s = &self.stats;
            return Err(EvalError::NoUsers {
                holdout: self.rules.min_holdout,
                reason: format!(
                    "{} likes after it: {} by users without history, {} of posts unknown \
                     at the split, {} held out; lower --min-holdout or move the split earlier",
                    s.likes_after, s.no_history, s.unknown_post, s.held_out
                ),
            });
        }
        let count = eligible.len();
        let eligible_held_out = eligible.iter().map(|e| e.3.len()).sum();
        eligible.sort_unstable_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        eligible.truncate(users);
        let mut sample: Vec<EvalUser> = eligible
            .into_iter()
            .map(|(_, did, id, held_out)| EvalUser { did, id, held_out })
            .collect();
        sample.sort_unstable_by(|a, b| a.did.cmp(&b.did));
        Ok(Split {
            at_secs: (self.at_us / 1_000_000) as u32,
            rules: self.rules,
            eligible: count,
            eligible_held_out,
            users: sample,
            stats: self.stats,
        })
    }
}

/// Where a user falls in the seed's order: the first 8 bytes of
/// SHA-256(seed as 8 little-endian bytes, DID).
fn sample_key(seed: u64, did: &str) -> u64 {
    let digest = Sha256::new()
        .chain_update(seed.to_le_bytes())
        .chain_update(did.as_bytes())
        .finalize();
    u64::from_be_bytes(
        digest[..8]
            .try_into()
            .expect("a SHA-256 digest is 32 bytes"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use feedmixer_graph::GraphBuilder;

    const T: u32 = 1_000_000;
    const T_US: u64 = T as u64 * 1_000_000;

    fn rules(holdout: usize, min_holdout: usize, min_history: usize) -> Rules {
        Rules {
            holdout,
            min_holdout,
            min_history,
        }
    }

    fn did(n: usize) -> String {
        format!("did:plc:u{n:03}")
    }

    fn post(n: usize) -> String {
        format!("at://did:plc:author/app.bsky.feed.post/{n:04}")
    }

    /// Users 0..n liked posts 0..10 before T; user 0 also liked post 10,
    /// and `did:plc:author` wrote them all.
    fn graph(n: usize) -> LikeGraph {
        let mut b = GraphBuilder::new(0);
        for u in 0..n {
            for p in 0..10 {
                b.add_like(&did(u), &post(p), T - 100);
            }
        }
        b.add_like(&did(0), &post(10), T - 50);
        b.add_like("did:plc:author", &post(11), T - 10);
        for p in 20..40 {
            b.add_like("did:plc:other", &post(p), T - 10);
        }
        b.build()
    }

    #[test]
    fn the_split_leaves_the_newest_share_after_it() {
        let times: Vec<u64> = (0..10u64).map(|s| s * 1_000_000 + 5).collect();
        assert_eq!(split_time(&times, 0.9), Ok(9));
        assert_eq!(split_time(&times, 0.5), Ok(5));
        assert_eq!(split_time(&times, 0.999), Ok(9));
        assert_eq!(split_time(&times, 1.0), Err(EvalError::Quantile(1.0)));
        assert_eq!(split_time(&times, 0.0), Err(EvalError::Quantile(0.0)));
        assert_eq!(split_time(&[], 0.9), Err(EvalError::EmptyLog));
    }

    #[test]
    fn held_out_likes_are_the_first_servable_new_ones() {
        let g = graph(1);
        let mut h = HeldOut::new(&g, T, rules(3, 1, 1)).unwrap();
        let u = did(0);
        h.add(&u, &post(20), T_US - 1); // before T: not part of the split
        h.add(&u, &post(3), T_US); // liked before T
        h.add(&u, &post(99), T_US + 1); // a post created after T
        h.add(&u, &post(20), T_US + 2);
        h.add(&u, &post(20), T_US + 3); // again
        h.add("did:plc:new", &post(21), T_US + 4); // no history
        h.add(&u, &post(21), T_US + 5);
        h.add(&u, &post(22), T_US + 6);
        h.add(&u, &post(23), T_US + 7); // past the holdout
        let split = h.finish(10, 0).unwrap();
        let id = |n| g.post_id(&post(n)).unwrap();
        assert_eq!(split.users.len(), 1);
        assert_eq!(split.users[0].held_out, vec![id(20), id(21), id(22)]);
        assert_eq!(
            split.stats,
            SplitStats {
                likes_after: 8,
                no_history: 1,
                unknown_post: 1,
                own_post: 0,
                repeated: 2,
                held_out: 3,
                past_holdout: 1,
            }
        );
    }

    #[test]
    fn own_posts_are_not_held_out_and_short_users_are_not_eligible() {
        let g = graph(2);
        let mut h = HeldOut::new(&g, T, rules(2, 2, 1)).unwrap();
        // The author has history (a like of post 11) but likes only its own
        // posts after T.
        h.add("did:plc:author", &post(20), T_US);
        h.add("did:plc:author", &post(21), T_US);
        h.add(&did(0), &post(20), T_US + 1); // one held-out like: too few
        h.add(&did(1), &post(11), T_US + 1);
        h.add(&did(1), &post(20), T_US + 2);
        let split = h.finish(5, 0).unwrap();
        assert_eq!(split.stats.own_post, 2);
        let dids: Vec<&str> = split.users.iter().map(|u| u.did.as_str()).collect();
        assert_eq!(dids, [did(1)]);
        assert_eq!(split.eligible, 1);

        let mut h = HeldOut::new(&g, T, rules(2, 2, 1)).unwrap();
        h.add(&did(1), &post(20), T_US);
        assert!(matches!(
            h.finish(5, 0),
            Err(EvalError::NoUsers { holdout: 2, .. })
        ));
    }

    #[test]
    fn users_need_the_minimum_history() {
        let g = graph(1);
        let mut h = HeldOut::new(&g, T, rules(1, 1, 11)).unwrap();
        h.add(&did(0), &post(20), T_US);
        assert_eq!(h.finish(1, 0).unwrap().users.len(), 1, "11 likes before T");
        let mut h = HeldOut::new(&g, T, rules(1, 1, 12)).unwrap();
        h.add(&did(0), &post(20), T_US);
        assert!(h.finish(1, 0).is_err());
    }

    fn sample(g: &LikeGraph, n: usize, seed: u64) -> Vec<String> {
        let mut h = HeldOut::new(g, T, rules(1, 1, 1)).unwrap();
        for u in 0..100 {
            h.add(&did(u), &post(20 + u % 20), T_US + u as u64);
        }
        let split = h.finish(n, seed).unwrap();
        assert_eq!(split.eligible, 100);
        split.users.into_iter().map(|u| u.did).collect()
    }

    #[test]
    fn the_sample_is_seeded_and_nested() {
        let g = graph(100);
        let a = sample(&g, 10, 7);
        assert_eq!(a.len(), 10);
        assert!(a.is_sorted(), "ordered by DID");
        assert_eq!(a, sample(&g, 10, 7), "same seed, same users");
        assert_ne!(a, sample(&g, 10, 8), "another seed, other users");
        let larger = sample(&g, 30, 7);
        assert!(a.iter().all(|d| larger.contains(d)), "nested");
        assert_eq!(sample(&g, 1000, 7).len(), 100, "at most the eligible");
        assert_eq!(sample_key(7, "did:plc:u000"), sample_key(7, "did:plc:u000"));
    }

    #[test]
    fn sizes_must_be_positive_and_ordered() {
        let g = graph(1);
        for bad in [
            rules(0, 0, 1),
            rules(1, 0, 1),
            rules(1, 1, 0),
            rules(2, 3, 1),
        ] {
            assert!(
                matches!(HeldOut::new(&g, T, bad), Err(EvalError::Sizes(_))),
                "{bad:?}"
            );
        }
        let h = HeldOut::new(&g, T, Rules::default()).unwrap();
        assert!(matches!(h.finish(0, 0), Err(EvalError::NoSample)));
    }

    #[test]
    fn users_with_fewer_than_k_are_sampled_down_to_the_minimum() {
        let g = graph(3);
        let mut h = HeldOut::new(&g, T, rules(3, 2, 1)).unwrap();
        for (u, n) in [(0, 1), (1, 2), (2, 4)] {
            for p in 0..n {
                h.add(&did(u), &post(20 + p), T_US + p as u64);
            }
        }
        let split = h.finish(10, 0).unwrap();
        let sizes: Vec<(String, usize)> = split
            .users
            .iter()
            .map(|u| (u.did.clone(), u.held_out.len()))
            .collect();
        assert_eq!(sizes, [(did(1), 2), (did(2), 3)]);
        assert_eq!((split.eligible, split.eligible_held_out), (2, 5));
    }
}
