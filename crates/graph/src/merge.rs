//! The adjacency of an updated graph, merged row by row from the current
//! graph's and the changed likes.
//!
//! A graph update used to lay every like out again by counting sort, from
//! a 12-byte copy of each: a pass of random writes over the whole graph
//! and a third copy of it in memory while the serving graph was still
//! alive. Rows are time-ordered and new likes are (nearly always) newer
//! than the old ones, so a row of the new graph is its old row, filtered,
//! with the row's new likes merged in by time: sequential copies, and
//! nothing held beside the two graphs but the changes.

use rustc_hash::FxHashSet;

use crate::graph::{Csr, Edge, LikeGraph, PostId, RawLike, Repeats, UserId};

/// What becomes of a like in the graph being built.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fate {
    /// In the adjacency.
    Keep,
    /// Held back: its user or its post's author is inactive.
    Withhold,
    /// Its post is removed: it does not count.
    Drop,
}

/// The fate of every like by its user and post, from dense marks (the hot
/// loops read two small arrays, not the post index or a set).
pub(crate) struct Fates {
    /// Per post: `Keep` unless removed or by an inactive author.
    posts: Vec<Fate>,
    /// Per user, empty when no account is inactive.
    hidden_users: Vec<bool>,
}

impl Fates {
    pub(crate) fn new(posts: Vec<Fate>, hidden_users: Vec<bool>) -> Self {
        Fates {
            posts,
            hidden_users,
        }
    }

    #[inline]
    pub(crate) fn of(&self, user: UserId, post: PostId) -> Fate {
        match self.posts[post as usize] {
            Fate::Keep if self.is_hidden(user) => Fate::Withhold,
            fate => fate,
        }
    }

    /// Whether `like` goes in the adjacency; one held back is added to
    /// `withheld` instead, one that does not count to neither.
    #[inline]
    pub(crate) fn admit(&self, like: RawLike, withheld: &mut Vec<RawLike>) -> bool {
        match self.of(like.user, like.post) {
            Fate::Keep => true,
            Fate::Withhold => {
                withheld.push(like);
                false
            }
            Fate::Drop => false,
        }
    }

    #[inline]
    pub(crate) fn is_hidden(&self, user: UserId) -> bool {
        self.hidden_users
            .get(user as usize)
            .copied()
            .unwrap_or(false)
    }
}

/// Both directions of the adjacency, the likes held back and the pairs'
/// repeated records.
pub(crate) struct Adjacency {
    pub(crate) by_user: Csr,
    pub(crate) by_post: Csr,
    pub(crate) withheld: Vec<RawLike>,
    pub(crate) repeats: Repeats,
}

/// `(user, post)` pairs.
pub(crate) type Pairs = FxHashSet<(UserId, PostId)>;

/// What changes in the likes from a graph to the next, pair by pair.
#[derive(Default)]
pub(crate) struct Delta {
    /// A like for each pair that enters the graph or changes its time, in
    /// arrival order, with the new graph's ids: none of them is in the base
    /// graph at that time (see `dropped`).
    pub(crate) added: Vec<RawLike>,
    /// Pairs whose like in the base graph goes (if they come back, they
    /// are in `added`).
    pub(crate) dropped: Pairs,
    /// The new graph's repeated records (see [`Repeats`]).
    pub(crate) repeats: Repeats,
}

/// The adjacency of `base` updated by `delta`: its likes no older than
/// `window_start` except the dropped pairs, plus the added ones, with
/// `fates` deciding what is kept, held back or dropped. Likes `base` held
/// back return when their accounts are active again.
pub(crate) fn adjacency(
    base: &LikeGraph,
    delta: Delta,
    window_start: u32,
    fates: &Fates,
    (num_users, num_posts): (usize, usize),
) -> Adjacency {
    let Delta {
        added,
        dropped,
        repeats,
    } = delta;
    // Likes to merge into the rows, in arrival order: those held back
    // before (which came first), then the added ones.
    let mut fresh: Vec<(RawLike, u32)> = Vec::with_capacity(added.len());
    let mut withheld: Vec<RawLike> = Vec::new();
    let live_before = base
        .withheld
        .iter()
        .filter(|like| like.ts >= window_start && !dropped.contains(&(like.user, like.post)));
    for (order, like) in live_before.chain(&added).enumerate() {
        if fates.admit(*like, &mut withheld) {
            fresh.push((*like, order as u32));
        }
    }
    drop(added);
    assert_fits(base.num_likes() + fresh.len());
    // What may take a base edge out besides the window and `dropped`: a
    // post that stopped counting (removed, or its author inactive) or a
    // user that became inactive in this update. Usually nothing: then
    // rows are copied without looking up each edge's post.
    let base_counted = |p: usize| {
        base.post_index
            .info
            .get(p)
            .is_none_or(|info| !info.is_removed() && !info.is_hidden())
    };
    let gone_posts = Marks::of(
        num_posts,
        (0..num_posts).filter(|&p| fates.posts[p] != Fate::Keep && base_counted(p)),
    );
    let gone_users = Marks::of(
        num_users,
        (0..fates.hidden_users.len())
            .filter(|&u| fates.hidden_users[u] && !base.hidden.contains(&(u as UserId))),
    );
    let suspect = |user: UserId, post: PostId| gone_users.has(user) || gone_posts.has(post);
    let user_drops = Marks::of(num_users, dropped.iter().map(|pair| pair.0 as usize));
    let post_drops = Marks::of(num_posts, dropped.iter().map(|pair| pair.1 as usize));
    let is_dropped =
        |marks: &Marks, row: u32, pair: (UserId, PostId)| marks.has(row) && dropped.contains(&pair);

    let by_post = {
        let fresh = rows_of(&fresh, |like| (like.post, like.user));
        merge_direction(
            &base.likers,
            num_posts,
            &fresh,
            window_start,
            |post| !post_drops.has(post) && !gone_posts.has(post) && gone_users.is_empty(),
            |post, edge| {
                let user = edge.id;
                !is_dropped(&post_drops, post, (user, post))
                    && (!suspect(user, post) || fates.of(user, post) == Fate::Keep)
            },
        )
    };
    let by_user = {
        let fresh = rows_of(&fresh, |like| (like.user, like.post));
        merge_direction(
            &base.likes,
            num_users,
            &fresh,
            window_start,
            |user| !user_drops.has(user) && !gone_users.has(user) && gone_posts.is_empty(),
            |user, edge| {
                let post = edge.id;
                if is_dropped(&user_drops, user, (user, post)) {
                    return false;
                }
                // One held back now is kept beside the adjacency (this
                // direction collects them, the other just leaves them out).
                let like = RawLike {
                    user,
                    post,
                    ts: edge.ts,
                };
                !suspect(user, post) || fates.admit(like, &mut withheld)
            },
        )
    };
    // Each pair is in one place at most: no repeats to collect.
    earliest_withheld(&mut withheld, |_| {});
    Adjacency {
        by_user,
        by_post,
        withheld,
        repeats,
    }
}

/// Each like as `(row, edge, order)` of the direction `key` gives
/// (`(row, neighbour)`), sorted by row, then time, then arrival.
fn rows_of(
    likes: &[(RawLike, u32)],
    key: impl Fn(&RawLike) -> (u32, u32),
) -> Vec<(u32, Edge, u32)> {
    let mut rows: Vec<(u32, Edge, u32)> = likes
        .iter()
        .map(|(like, order)| {
            let (row, id) = key(like);
            (row, Edge { id, ts: like.ts }, *order)
        })
        .collect();
    rows.sort_unstable_by_key(|&(row, edge, order)| (row, edge.ts, order));
    rows
}

/// Panics unless a graph of `likes` likes fits its `u32` offsets.
pub(crate) fn assert_fits(likes: usize) {
    assert!(
        likes < u32::MAX as usize,
        "a LikeGraph holds at most u32::MAX - 1 likes"
    );
}

/// One bit per id, allocated only when one is set: membership in a
/// sparse set of ids, read once per edge, from a few cache lines.
struct Marks(Vec<u64>);

impl Marks {
    fn of(len: usize, marked: impl Iterator<Item = usize>) -> Self {
        let mut words = Vec::new();
        for id in marked {
            if words.is_empty() {
                words = vec![0u64; len.div_ceil(64)];
            }
            words[id / 64] |= 1 << (id % 64);
        }
        Marks(words)
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    #[inline]
    fn has(&self, id: u32) -> bool {
        let id = id as usize;
        self.0
            .get(id / 64)
            .is_some_and(|word| word & (1 << (id % 64)) != 0)
    }
}

/// Sorts the held-back likes and keeps each pair once, at its earliest
/// time, as the adjacency does, handing each later one to `repeat`.
pub(crate) fn earliest_withheld(withheld: &mut Vec<RawLike>, mut repeat: impl FnMut(RawLike)) {
    withheld.sort_unstable_by_key(|like| (like.user, like.post, like.ts));
    withheld.dedup_by(|later, kept| {
        let same = (later.user, later.post) == (kept.user, kept.post);
        if same {
            repeat(*later);
        }
        same
    });
    withheld.shrink_to_fit();
}

/// One direction: row `r` is `base`'s row from `window_start` on, edges
/// passing `keep(r, edge)`, merged by time with the `fresh` edges of `r`
/// (sorted by row, then time); on equal times the older edge first. Rows
/// where `clean(r)` (every edge kept) are copied in runs, not edge by
/// edge.
fn merge_direction(
    base: &Csr,
    rows: usize,
    fresh: &[(u32, Edge, u32)],
    window_start: u32,
    clean: impl Fn(u32) -> bool,
    mut keep: impl FnMut(u32, &Edge) -> bool,
) -> Csr {
    let mut offsets = Vec::with_capacity(rows + 1);
    let mut edges: Vec<Edge> = Vec::with_capacity(base.edges.len() + fresh.len());
    let mut next = 0;
    for r in 0..rows as u32 {
        offsets.push(edges.len() as u32);
        let mut old = if (r as usize) < base.rows() {
            let row = base.row(r);
            &row[row.partition_point(|e| e.ts < window_start)..]
        } else {
            &[]
        };
        let clean = clean(r);
        let mut emit = |run: &[Edge], edges: &mut Vec<Edge>| {
            if clean {
                edges.extend_from_slice(run);
            } else {
                edges.extend(run.iter().filter(|e| keep(r, e)));
            }
        };
        while let Some(&(_, edge, _)) = fresh.get(next).filter(|f| f.0 == r) {
            let before = old.partition_point(|o| o.ts <= edge.ts);
            emit(&old[..before], &mut edges);
            old = &old[before..];
            edges.push(edge);
            next += 1;
        }
        emit(old, &mut edges);
    }
    offsets.push(edges.len() as u32);
    edges.shrink_to_fit();
    Csr { offsets, edges }
}
