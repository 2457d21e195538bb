//! Following the store's log: a new graph from the current one plus the
//! likes and posts added and removed since, without going back to the
//! store.
//!
//! The graph's arrays are immutable (requests read them without locks), so
//! an update is a rebuild; but it starts from the current graph's interned
//! ids instead of from strings, and only the changed likes are interned, so
//! it costs a pass over the edges rather than a scan of the store. Ids of
//! users and posts whose likes all went stay in the interners until the
//! next full build from the store.

use rustc_hash::FxHashMap;

use feedmixer_atproto::Post;

use crate::builder::GraphBuilder;
use crate::graph::{LikeGraph, PostId, UserId};

/// One change to the likes or the posts, in the order it happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraphChange<'a> {
    Added {
        user: &'a str,
        post: &'a str,
        ts: u32,
    },
    Removed {
        user: &'a str,
        post: &'a str,
    },
    /// The post entered the index.
    PostAdded {
        post: &'a str,
        indexed_us: u64,
        info: &'a Post,
    },
    /// The post was deleted.
    PostRemoved {
        post: &'a str,
    },
    /// The account was deleted: its posts so far go.
    AccountRemoved {
        user: &'a str,
    },
    /// The account became inactive: its posts are not served and its
    /// likes and the likes on its posts do not count while it is.
    AccountHidden {
        user: &'a str,
    },
    /// The inactive account is active again: all of that returns.
    AccountRevealed {
        user: &'a str,
    },
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
    /// A removal drops the `(user, post)` like whatever its time; an
    /// addition after a removal of the pair adds it back at the new time.
    /// Additions of a pair already present keep the earliest time, as
    /// [`GraphBuilder`] does. Changes the builder would refuse (bad DIDs or
    /// URIs, times before the window) are skipped.
    pub fn with_changes(&self, window_start_secs: u32, changes: &[GraphChange<'_>]) -> LikeGraph {
        // Pairs removed at some point: their current edges go.
        let mut dropped: FxHashMap<UserId, Vec<PostId>> = FxHashMap::default();
        // The additions that survive later removals, in order.
        let mut added: Vec<(&str, &str, u32)> = Vec::new();
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
                GraphChange::Added { user, post, ts } => added.push((user, post, ts)),
                GraphChange::Removed { user, post } => {
                    added.retain(|&(u, p, _)| u != user || p != post);
                    if let (Some(u), Some(p)) = (self.user_id(user), self.post_id(post)) {
                        dropped.entry(u).or_default().push(p);
                    }
                }
            }
        }
        let mut builder = GraphBuilder::from_graph(self, window_start_secs, &dropped);
        for (user, post, ts) in added {
            builder.add_like(user, post, ts);
        }
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
        builder.build()
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

    proptest! {
        /// Applying changes equals building the resulting set of likes
        /// from scratch.
        #[test]
        fn equals_a_fresh_build(
            start in proptest::collection::vec((0u8..6, 0u8..8, 1u32..100), 0..40),
            ops in proptest::collection::vec((0u8..4, 0u8..6, 0u8..8, 1u32..100), 0..40),
        ) {
            // Ops: 0 adds the like, 1 removes it, 2 makes its user
            // inactive, 3 active again. Authors `author0..2` are users too
            // when `user` is given 0..2 through `author`.
            // The model: (user, post) -> earliest live time.
            let mut model: std::collections::BTreeMap<(String, String), u32> = Default::default();
            let mut b = GraphBuilder::new(0);
            for (u, p, ts) in &start {
                b.add_like(&user(*u), &post(*p), *ts);
                let t = model.entry((user(*u), post(*p))).or_insert(*ts);
                *t = (*t).min(*ts);
            }
            let g = b.build();
            let names: Vec<(String, String)> = ops.iter().map(|(_, u, p, _)| (user(*u), post(*p))).collect();
            // Hiding alternates between a liker and an author.
            let hidden_names: Vec<String> = ops
                .iter()
                .map(|(_, u, _, _)| if u % 2 == 0 { user(*u) } else { format!("did:plc:author{}", u % 3) })
                .collect();
            let changes: Vec<GraphChange<'_>> = ops
                .iter()
                .zip(names.iter().zip(&hidden_names))
                .map(|((op, _, _, ts), ((u, p), h))| match op {
                    0 => GraphChange::Added { user: u, post: p, ts: *ts },
                    1 => GraphChange::Removed { user: u, post: p },
                    2 => GraphChange::AccountHidden { user: h },
                    _ => GraphChange::AccountRevealed { user: h },
                })
                .collect();
            let mut hidden = std::collections::BTreeSet::new();
            for ((op, _, _, ts), (key, h)) in ops.iter().zip(names.iter().zip(&hidden_names)) {
                match op {
                    0 => {
                        let t = model.entry(key.clone()).or_insert(*ts);
                        *t = (*t).min(*ts);
                    }
                    1 => { model.remove(key); }
                    2 => { hidden.insert(h.clone()); }
                    _ => { hidden.remove(h); }
                }
            }
            let updated = g.with_changes(0, &changes);
            let author = |p: &str| p.split('/').nth(2).unwrap().to_string();
            let (expected, withheld): (Vec<_>, Vec<_>) = model
                .into_iter()
                .map(|((u, p), ts)| (u, p, ts))
                .partition(|(u, p, _)| !hidden.contains(u) && !hidden.contains(&author(p)));
            prop_assert_eq!(likes(&updated), expected);
            prop_assert_eq!(updated.num_withheld_likes(), withheld.len());
            // Showing everyone again gives every like back.
            let everyone: Vec<GraphChange<'_>> = hidden
                .iter()
                .map(|h| GraphChange::AccountRevealed { user: h })
                .collect();
            let shown = updated.with_changes(0, &everyone);
            prop_assert_eq!(shown.num_likes(), likes(&updated).len() + withheld.len());
        }
    }
}
