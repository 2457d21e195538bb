//! Following the store's log: a new graph from the current one plus the
//! likes and posts added and removed since, without going back to the
//! store.
//!
//! The graph's arrays are immutable (requests read them without locks), so
//! an update is a new graph beside the current one; but it starts from the
//! current graph's interned ids instead of from strings, only the changed
//! likes are interned, and each row is the current row merged with its new
//! likes (see `merge`), so it costs a sequential copy of the edges rather
//! than a scan of the store or a sort. Ids of users and posts whose likes
//! all went stay in the interners until the next full build from the
//! store.

use feedmixer_atproto::Post;
use rustc_hash::FxHashMap;

use crate::builder::GraphBuilder;
use crate::graph::{LikeGraph, PostId, RawLike, UserId};
use crate::merge::Delta;

/// One change to the likes or the posts, in the order it happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraphChange<'a> {
    /// A like record was created at `ts` (unix seconds).
    Added {
        user: &'a str,
        post: &'a str,
        ts: u32,
    },
    /// The like record of `user` on `post` created at `ts` was deleted. The
    /// pair stays while another record of it is live.
    Removed {
        user: &'a str,
        post: &'a str,
        ts: u32,
    },
    /// The post entered the index.
    PostAdded {
        post: &'a str,
        indexed_us: u64,
        info: &'a Post,
    },
    /// The post was deleted.
    PostRemoved { post: &'a str },
    /// The account was deleted: its posts so far go.
    AccountRemoved { user: &'a str },
    /// The account became inactive: its posts are not served and its
    /// likes and the likes on its posts do not count while it is.
    AccountHidden { user: &'a str },
    /// The inactive account is active again: all of that returns.
    AccountRevealed { user: &'a str },
}

/// A change to the post index, applied in order after the likes'.
enum PostStep<'a> {
    Add(&'a str, u64, &'a Post),
    Remove(&'a str),
    RemoveAccount(&'a str),
    Hide(&'a str),
    Reveal(&'a str),
}

impl LikeGraph {
    /// This graph with `changes` applied in order, and likes older than
    /// `window_start_secs` dropped.
    ///
    /// Like records are counted per `(user, post)` pair: the pair is in the
    /// graph while one of its records is live and in the window, at the
    /// earliest such record's time, as [`GraphBuilder`] does. A removal
    /// names the record by its time; one the graph does not hold (older
    /// than the window, or never added) changes nothing. Changes the
    /// builder would refuse (bad DIDs or URIs, times before the window) are
    /// skipped.
    pub fn with_changes(&self, window_start_secs: u32, changes: &[GraphChange<'_>]) -> LikeGraph {
        let mut builder = GraphBuilder::from_graph(self, window_start_secs);
        let mut touched = Touched::default();
        let mut post_steps: Vec<PostStep<'_>> = Vec::new();
        for change in changes {
            match *change {
                GraphChange::PostAdded {
                    post,
                    indexed_us,
                    info,
                } => post_steps.push(PostStep::Add(post, indexed_us, info)),
                GraphChange::PostRemoved { post } => post_steps.push(PostStep::Remove(post)),
                GraphChange::AccountRemoved { user } => {
                    post_steps.push(PostStep::RemoveAccount(user))
                }
                GraphChange::AccountHidden { user } => post_steps.push(PostStep::Hide(user)),
                GraphChange::AccountRevealed { user } => post_steps.push(PostStep::Reveal(user)),
                GraphChange::Added { user, post, ts } => {
                    if let Some(pair) = builder.intern_like(user, post, ts) {
                        touched.times(self, pair, window_start_secs).push(ts);
                    }
                }
                GraphChange::Removed { user, post, ts } => {
                    if let Some(pair) = builder.find_like(user, post) {
                        let times = touched.times(self, pair, window_start_secs);
                        if let Some(at) = times.iter().position(|&t| t == ts) {
                            times.swap_remove(at);
                        }
                    }
                }
            }
        }
        let delta = self.delta(window_start_secs, touched);
        // Whether a post is removed does not depend on when its likes
        // came, so the index changes need only keep their own order.
        for step in post_steps {
            match step {
                PostStep::Add(post, indexed_us, info) => {
                    builder.add_post(post, indexed_us, info);
                }
                PostStep::Remove(post) => {
                    builder.remove_post(post);
                }
                PostStep::RemoveAccount(user) => {
                    builder.remove_account(user);
                }
                PostStep::Hide(user) => {
                    builder.hide_account(user);
                }
                PostStep::Reveal(user) => {
                    builder.reveal_account(user);
                }
            }
        }
        builder.build_on(self, delta)
    }

    /// What happens to each pair: those `touched` get their live records'
    /// times, the others with repeated records keep theirs, the window
    /// sliding past their earliest.
    fn delta(&self, window_start: u32, touched: Touched) -> Delta {
        let Touched {
            times: mut touched,
            named,
        } = touched;
        let mut delta = Delta::default();
        let settle = |delta: &mut Delta, pair: (UserId, PostId), mut times: Vec<u32>| {
            times.sort_unstable();
            let now = self
                .like_time(pair.0, pair.1)
                .filter(|&ts| ts >= window_start);
            let Some((&first, rest)) = times.split_first() else {
                if now.is_some() {
                    delta.dropped.insert(pair);
                }
                return;
            };
            if now != Some(first) {
                if now.is_some() {
                    delta.dropped.insert(pair);
                }
                delta.added.push(RawLike {
                    user: pair.0,
                    post: pair.1,
                    ts: first,
                });
            }
            if !rest.is_empty() {
                delta.repeats.insert(pair, rest.to_vec());
            }
        };
        for (&pair, _) in self
            .repeats
            .iter()
            .filter(|(pair, _)| !touched.contains_key(pair))
        {
            let times = self.record_times(pair.0, pair.1, window_start);
            settle(&mut delta, pair, times);
        }
        for pair in named {
            if let Some(times) = touched.remove(&pair) {
                settle(&mut delta, pair, times);
            }
        }
        delta
    }
}

/// The live records' times of each pair a like change names, and the
/// order the pairs were first named in (the arrival order of what they
/// add).
#[derive(Default)]
struct Touched {
    times: FxHashMap<(UserId, PostId), Vec<u32>>,
    named: Vec<(UserId, PostId)>,
}

impl Touched {
    /// The pair's times so far, starting from those `graph` holds.
    fn times(
        &mut self,
        graph: &LikeGraph,
        pair: (UserId, PostId),
        window_start: u32,
    ) -> &mut Vec<u32> {
        self.times.entry(pair).or_insert_with(|| {
            self.named.push(pair);
            graph.record_times(pair.0, pair.1, window_start)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn post(n: u8) -> String {
        format!("at://did:plc:author{}/app.bsky.feed.post/p{n}", n % 3)
    }

    fn user(n: u8) -> String {
        format!("did:plc:user{n}")
    }

    /// Every (user, post, ts) like of a graph, sorted.
    fn likes(g: &LikeGraph) -> Vec<(String, String, u32)> {
        let mut out = Vec::new();
        for u in 0..g.num_users() as UserId {
            for e in g.likes_of(u) {
                out.push((g.user_did(u), g.post_uri(e.id), e.ts));
            }
        }
        out.sort();
        out
    }

    #[test]
    fn adds_removes_and_slides_the_window() {
        let mut b = GraphBuilder::new(0);
        b.add_like(&user(1), &post(1), 10);
        b.add_like(&user(1), &post(2), 20);
        b.add_like(&user(2), &post(1), 30);
        let g = b.build();
        let (u1, u2, u3, p1, p2, p3) = (user(1), user(2), user(3), post(1), post(2), post(3));
        let next = g.with_changes(
            15,
            &[
                GraphChange::Added {
                    user: &u3,
                    post: &p3,
                    ts: 40,
                },
                GraphChange::Removed {
                    user: &u2,
                    post: &p1,
                    ts: 30,
                },
                GraphChange::Added {
                    user: &u2,
                    post: &p1,
                    ts: 50,
                },
                GraphChange::Added {
                    user: &u1,
                    post: &p3,
                    ts: 60,
                },
                GraphChange::Removed {
                    user: &u1,
                    post: &p3,
                    ts: 60,
                },
            ],
        );
        assert_eq!(
            likes(&next),
            vec![
                (u1.clone(), p2.clone(), 20),
                (u2.clone(), p1.clone(), 50),
                (u3.clone(), p3.clone(), 40),
            ]
        );
        // Both directions agree.
        let p1_id = next.post_id(&p1).unwrap();
        assert_eq!(next.likers_of(p1_id).len(), 1);
        assert_eq!(next.num_likes(), 3);
    }

    #[test]
    fn a_pair_stays_while_one_of_its_records_is_live() {
        let (u, p) = (user(1), post(1));
        let at = |g: &LikeGraph| -> Vec<u32> { likes(g).into_iter().map(|l| l.2).collect() };
        let mut b = GraphBuilder::new(0);
        b.add_like(&u, &p, 10);
        b.add_like(&u, &p, 20);
        let g = b.build();
        assert_eq!(at(&g), vec![10]);
        let removed = |ts| GraphChange::Removed {
            user: &u,
            post: &p,
            ts,
        };
        let added = |ts| GraphChange::Added {
            user: &u,
            post: &p,
            ts,
        };
        // Deleting the earliest record leaves the pair at the next one.
        let g = g.with_changes(0, &[removed(10)]);
        assert_eq!(at(&g), vec![20]);
        let pid = g.post_id(&p).unwrap();
        assert_eq!(g.likers_of(pid).len(), 1);
        // A record created earlier than the one held becomes the pair's.
        let g = g.with_changes(0, &[added(5), added(30)]);
        assert_eq!(at(&g), vec![5]);
        // Deleting a later one changes nothing; one never held neither.
        let g = g.with_changes(0, &[removed(20), removed(99)]);
        assert_eq!(at(&g), vec![5]);
        // The window passing the earliest leaves the next.
        let g = g.with_changes(6, &[]);
        assert_eq!(at(&g), vec![30]);
        assert_eq!(g.num_likes(), 1);
        // The last record deleted: the pair goes.
        let g = g.with_changes(6, &[removed(30)]);
        assert!(at(&g).is_empty());
        assert!(g.repeats.is_empty());
    }

    #[test]
    fn an_update_keeps_the_lineage_and_its_ids() {
        let mut b = GraphBuilder::new(0);
        b.add_like(&user(1), &post(1), 10);
        b.add_like(&user(2), &post(2), 20);
        let g = b.build();
        let (u3, p3, p1) = (user(3), post(3), post(1));
        let next = g.with_changes(
            15,
            &[GraphChange::Added {
                user: &u3,
                post: &p3,
                ts: 30,
            }],
        );
        assert_eq!(next.lineage(), g.lineage());
        for p in 0..g.num_posts() as PostId {
            assert_eq!(next.post_uri(p), g.post_uri(p), "ids keep their posts");
        }
        assert_eq!(next.post_id(&p1), g.post_id(&p1), "even out of the window");
        let fresh = GraphBuilder::new(0).build();
        assert!(
            fresh.lineage() > next.lineage(),
            "a new build starts a newer one"
        );
    }

    /// Every like of a graph read from the likers' side, sorted; and
    /// whether every row of both sides is in time order.
    fn likes_by_post(g: &LikeGraph) -> (Vec<(String, String, u32)>, bool) {
        let mut out = Vec::new();
        let mut ordered = true;
        for p in 0..g.num_posts() as PostId {
            ordered &= g.likers_of(p).is_sorted_by_key(|e| e.ts);
            for e in g.likers_of(p) {
                out.push((g.user_did(e.id), g.post_uri(p), e.ts));
            }
        }
        for u in 0..g.num_users() as UserId {
            ordered &= g.likes_of(u).is_sorted_by_key(|e| e.ts);
        }
        out.sort();
        (out, ordered)
    }

    proptest! {
        /// Applying changes, in two updates, equals building the resulting
        /// set of likes from scratch.
        #[test]
        fn equals_a_fresh_build(
            start in proptest::collection::vec((0u8..6, 0u8..8, 1u32..100), 0..40),
            ops in proptest::collection::vec((0u8..5, 0u8..6, 0u8..8, 1u32..100), 0..40),
            split in 0usize..40,
            window in 0u32..60,
        ) {
            // Ops: 0 adds the like, 1 removes it, 2 makes its user
            // inactive, 3 active again, 4 deletes its post. Authors
            // `author0..2` are users too when `user` is given 0..2 through
            // `author`. The first `split` ops are one update (window 0),
            // the rest a second one (window `window`).
            // The model: (user, post) -> the times of its live likes.
            type Model = std::collections::BTreeMap<(String, String), Vec<u32>>;
            let mut model: Model = Default::default();
            let mut b = GraphBuilder::new(0);
            for (u, p, ts) in &start {
                b.add_like(&user(*u), &post(*p), *ts);
                model.entry((user(*u), post(*p))).or_default().push(*ts);
            }
            let g = b.build();
            let names: Vec<(String, String)> = ops.iter().map(|(_, u, p, _)| (user(*u), post(*p))).collect();
            // Hiding alternates between a liker and an author.
            let hidden_names: Vec<String> = ops
                .iter()
                .map(|(_, u, _, _)| if u % 2 == 0 { user(*u) } else { format!("did:plc:author{}", u % 3) })
                .collect();
            let split = split.min(ops.len());
            let mut hidden = std::collections::BTreeSet::new();
            let mut removed = std::collections::BTreeSet::new();
            // The time each op names: a removal deletes one of the pair's
            // records (picked by the op's time), when it has any.
            let mut op_times = Vec::new();
            for (i, ((op, _, _, ts), (key, h))) in ops.iter().zip(names.iter().zip(&hidden_names)).enumerate() {
                let window = if i < split { 0 } else { window };
                let mut named = *ts;
                match op {
                    // The builder refuses likes before the window.
                    0 if *ts >= window => model.entry(key.clone()).or_default().push(*ts),
                    0 => {}
                    1 => {
                        if let Some(times) = model.get_mut(key).filter(|t| !t.is_empty()) {
                            named = times.swap_remove(*ts as usize % times.len());
                        }
                    }
                    2 => { hidden.insert(h.clone()); }
                    3 => { hidden.remove(h); }
                    _ => { removed.insert(key.1.clone()); }
                }
                op_times.push(named);
            }
            let changes: Vec<GraphChange<'_>> = ops
                .iter()
                .zip(names.iter().zip(&hidden_names))
                .zip(&op_times)
                .map(|(((op, _, _, _), ((u, p), h)), &ts)| match op {
                    0 => GraphChange::Added { user: u, post: p, ts },
                    1 => GraphChange::Removed { user: u, post: p, ts },
                    2 => GraphChange::AccountHidden { user: h },
                    3 => GraphChange::AccountRevealed { user: h },
                    _ => GraphChange::PostRemoved { post: p },
                })
                .collect();
            let halfway = g.with_changes(0, &changes[..split]);
            let updated = halfway.with_changes(window, &changes[split..]);
            let author = |p: &str| p.split('/').nth(2).unwrap().to_string();
            // Each pair at its earliest time in the window.
            let (expected, withheld): (Vec<_>, Vec<_>) = model
                .into_iter()
                .filter(|((_, p), _)| !removed.contains(p))
                .filter_map(|((u, p), times)| {
                    times.into_iter().filter(|&ts| ts >= window).min().map(|ts| (u, p, ts))
                })
                .partition(|(u, p, _)| !hidden.contains(u) && !hidden.contains(&author(p)));
            prop_assert_eq!(likes(&updated), expected.clone());
            let (by_post, ordered) = likes_by_post(&updated);
            prop_assert_eq!(by_post, expected.clone());
            prop_assert!(ordered, "rows are time-ordered");
            prop_assert_eq!(updated.num_withheld_likes(), withheld.len());
            let mut fresh = GraphBuilder::new(window);
            for (u, p, ts) in &expected {
                fresh.add_like(u, p, *ts);
            }
            let fresh = fresh.build();
            prop_assert_eq!(updated.num_likers(), fresh.num_likers());
            prop_assert_eq!(updated.newest_ts(), fresh.newest_ts());
            // Showing everyone again gives every like back.
            let everyone: Vec<GraphChange<'_>> = hidden
                .iter()
                .map(|h| GraphChange::AccountRevealed { user: h })
                .collect();
            let shown = updated.with_changes(window, &everyone);
            prop_assert_eq!(shown.num_likes(), likes(&updated).len() + withheld.len());
            prop_assert!(likes_by_post(&shown).1, "returned likes are in time order");
        }
    }
}
