//! Building a [`LikeGraph`] from likes given as strings.
//!
//! Likes are interned as they arrive and kept as 12-byte `(user, post, ts)`
//! triples; `build` lays them out as CSR by counting sort (one pass to
//! count, one to fill), which keeps arrival order inside each row. Input in
//! time order (a Jetstream replay) therefore needs no sort at all; anything
//! else gets one stable sort per row.

use feedmixer_atproto::{AtUri, DidRef, Post, RkeyRef, SubjectRef, Tid, is_did};
use rustc_hash::{FxHashMap, FxHashSet};

use crate::did_keys::DidKeys;
use crate::graph::{Csr, Edge, LikeGraph, Lineage, PostId, RawLike, Repeats, UserId};
use crate::merge::{self, Adjacency, Fate, Fates};
use crate::post_keys::{self, PostKeys};
use crate::posts::{self, PostIndex, PostInfo};

/// Collects likes, then [`build`](GraphBuilder::build)s the immutable graph.
///
/// A repeated `(user, post)` pair counts once and keeps its **earliest**
/// time: that is when the user first showed the interest, and it makes the
/// graph depend only on the set of likes added, not on their order.
/// The later times are kept aside, for when the earliest record is deleted
/// or leaves the window (see [`LikeGraph::with_changes`]).
#[derive(Debug)]
pub struct GraphBuilder {
    window_start: u32,
    users: DidKeys,
    posts: PostKeys,
    likes: Vec<RawLike>,
    /// Whether `likes` is in time order so far (then `build` skips sorting).
    in_order: bool,
    post_index: PostIndex,
    /// Each author's posts, made on the first account removal or return
    /// and kept up to date after it.
    posts_by_author: Option<FxHashMap<UserId, Vec<PostId>>>,
    /// Inactive accounts (see [`GraphBuilder::hide_account`]).
    hidden: FxHashSet<UserId>,
    /// When updating a graph: its chronological order, and the posts
    /// indexed since.
    previous_order: Option<Vec<PostId>>,
    indexed: Vec<PostId>,
    lineage: Lineage,
}

impl GraphBuilder {
    /// Likes with `ts < window_start_secs` are ignored.
    pub fn new(window_start_secs: u32) -> Self {
        Self::with_capacity(window_start_secs, 0)
    }

    /// Like [`new`](Self::new), reserving room for about `likes` likes.
    pub fn with_capacity(window_start_secs: u32, likes: usize) -> Self {
        // Rough Bluesky shape: ~10 likes per active user and per liked post;
        // the interners grow if this is off.
        let users = likes / 10;
        let posts = likes / 10;
        GraphBuilder {
            window_start: window_start_secs,
            users: DidKeys::with_capacity(users),
            posts: PostKeys::with_capacity(posts),
            likes: Vec::with_capacity(likes),
            in_order: true,
            post_index: PostIndex::default(),
            posts_by_author: None,
            hidden: FxHashSet::default(),
            previous_order: None,
            indexed: Vec::new(),
            lineage: Lineage::new(),
        }
    }

    /// Adds one like. Returns false (and adds nothing) when `ts_secs` is
    /// before the window, `user_did` is not a DID, or `post_uri` is not an
    /// `at://DID/app.bsky.feed.post/RKEY` URI. The post's author (the DID in
    /// the URI) is interned as a user too, though it may have no likes.
    ///
    /// Likes may come in any time order. A repeated `(user, post)` pair
    /// returns true but counts once, at its earliest time (see the type docs).
    pub fn add_like(&mut self, user_did: &str, post_uri: &str, ts_secs: u32) -> bool {
        self.add_like_ref(
            DidRef::parse(user_did),
            SubjectRef::parse(post_uri),
            ts_secs,
        )
    }

    /// [`add_like`](Self::add_like) of a like a store handed over packed:
    /// a `did:plc` and a post's TID key are numbers already, so nothing is
    /// parsed, checked or hashed as text.
    pub fn add_like_ref(
        &mut self,
        user: DidRef<'_>,
        subject: SubjectRef<'_>,
        ts_secs: u32,
    ) -> bool {
        let Some((user, post)) = self.intern_like_ref(user, subject, ts_secs) else {
            return false;
        };
        if let Some(last) = self.likes.last() {
            self.in_order &= last.ts <= ts_secs;
        }
        self.likes.push(RawLike {
            user,
            post,
            ts: ts_secs,
        });
        true
    }

    /// [`add_like_ref`](Self::add_like_ref) of many likes in the common
    /// form. Start-up is mostly looking ids up in tables too big for the
    /// cache (1M users: 16 MiB of keys and as much of slots); each like's
    /// first lookups are started a few likes ahead, so their misses overlap
    /// instead of coming one after another.
    pub fn add_packed_likes(&mut self, likes: &[PackedLike]) {
        // Four steps a like apart by AHEAD: start loading the slots of its
        // user and author; then the keys those slots likely point at; look
        // them up and start loading its post's slot; look the post up. Ids
        // come out as `add_like_ref` gives them: users and authors in
        // arrival order, posts in arrival order.
        const AHEAD: usize = 8;
        let mut authors: [Option<(UserId, UserId)>; AHEAD] = [None; AHEAD];
        for j in 0..likes.len() + AHEAD {
            if let Some(later) = likes.get(j + 2 * AHEAD) {
                self.users.prefetch_plc(later.user);
                self.users.prefetch_plc(later.author);
            }
            if let Some(soon) = likes.get(j + AHEAD) {
                self.users.prefetch_plc_key(soon.user);
                self.users.prefetch_plc_key(soon.author);
            }
            // The like AHEAD before `j` leaves its place in `authors` to
            // like `j`.
            if let Some(i) = j.checked_sub(AHEAD)
                && let Some((user, author)) = authors[i % AHEAD].take()
            {
                let like = &likes[i];
                let post = self.intern_post_of(author, RkeyRef::Tid(like.rkey));
                if let Some(last) = self.likes.last() {
                    self.in_order &= last.ts <= like.ts_secs;
                }
                self.likes.push(RawLike {
                    user,
                    post,
                    ts: like.ts_secs,
                });
            }
            if let Some(like) = likes.get(j) {
                authors[j % AHEAD] = (like.ts_secs >= self.window_start).then(|| {
                    let (user, _) = self.users.intern_ref(DidRef::Plc(like.user));
                    let (author, _) = self.users.intern_ref(DidRef::Plc(like.author));
                    self.posts.prefetch_tid(author, like.rkey);
                    (user, author)
                });
            }
        }
    }

    /// The ids of the like's user and post, interned when new; `None` when
    /// [`add_like`](Self::add_like) would refuse the like.
    pub(crate) fn intern_like(
        &mut self,
        user_did: &str,
        post_uri: &str,
        ts_secs: u32,
    ) -> Option<(UserId, PostId)> {
        self.intern_like_ref(
            DidRef::parse(user_did),
            SubjectRef::parse(post_uri),
            ts_secs,
        )
    }

    fn intern_like_ref(
        &mut self,
        user: DidRef<'_>,
        subject: SubjectRef<'_>,
        ts_secs: u32,
    ) -> Option<(UserId, PostId)> {
        let SubjectRef::Post { author, rkey } = subject else {
            return None;
        };
        if ts_secs < self.window_start || !is_valid(user) || !is_valid(author) {
            return None;
        }
        let (user, _) = self.users.intern_ref(user);
        Some((user, self.intern_post_ref(author, rkey)))
    }

    /// The ids of a like's user and post, when both are known.
    pub(crate) fn find_like(&self, user_did: &str, post_uri: &str) -> Option<(UserId, PostId)> {
        let uri = AtUri::parse(post_uri).ok().filter(AtUri::is_post)?;
        let user = self.users.find(user_did)?;
        Some((user, self.posts.find(self.users.find(uri.did)?, uri.rkey)?))
    }

    /// Adds `post` to the index, indexed at `indexed_us` (its create's
    /// Jetstream time). Returns false (and adds nothing) when it was
    /// indexed before the window or `post_uri` is not a post's URI. A post
    /// removed before is servable again (its record was created again).
    pub fn add_post(&mut self, post_uri: &str, indexed_us: u64, post: &Post) -> bool {
        if indexed_us / 1_000_000 < u64::from(self.window_start) {
            return false;
        }
        let Ok(uri) = AtUri::parse(post_uri) else {
            return false;
        };
        if !uri.is_post() {
            return false;
        }
        let p = self.intern_post(&uri);
        self.post_index.set(p, indexed_us, post);
        if self.previous_order.is_some() {
            self.indexed.push(p);
        }
        true
    }

    /// Marks the post deleted: never served, its likes dropped at build.
    /// Returns false when `post_uri` is not a post's URI.
    pub fn remove_post(&mut self, post_uri: &str) -> bool {
        let Ok(uri) = AtUri::parse(post_uri) else {
            return false;
        };
        if !uri.is_post() {
            return false;
        }
        let p = self.intern_post(&uri);
        self.post_index.remove(p);
        true
    }

    /// Marks every post of `did` known so far deleted (the account was);
    /// posts added after this call are servable (the store only keeps
    /// those created after the deletion). Returns false when `did` is not
    /// a DID.
    pub fn remove_account(&mut self, did: &str) -> bool {
        if !is_did(did) {
            return false;
        }
        let Some(author) = self.users.find(did) else {
            return true;
        };
        // The store forgets a deleted account's status with it.
        self.hidden.remove(&author);
        for p in self.posts_of(author) {
            self.post_index.remove(p);
        }
        true
    }

    /// Marks `did` inactive: until [`reveal_account`](Self::reveal_account),
    /// its posts are not served, and its likes and the likes on its posts
    /// are held back from the adjacency (kept, to return with it). Returns
    /// false when `did` is not a DID.
    pub fn hide_account(&mut self, did: &str) -> bool {
        if !is_did(did) {
            return false;
        }
        let (user, _) = self.users.intern(did);
        self.hidden.insert(user);
        true
    }

    /// Marks the inactive `did` active again: its posts and likes return.
    /// Returns false when `did` is not a DID.
    pub fn reveal_account(&mut self, did: &str) -> bool {
        if !is_did(did) {
            return false;
        }
        let Some(user) = self.users.find(did) else {
            return true;
        };
        if self.hidden.remove(&user) && self.previous_order.is_some() {
            // Back in the chronological order, as if indexed now.
            let posts = self.posts_of(user);
            self.indexed.extend(posts);
        }
        true
    }

    /// The posts of `author` known so far.
    fn posts_of(&mut self, author: UserId) -> Vec<PostId> {
        let by_author = self.posts_by_author.get_or_insert_with(|| {
            let mut map: FxHashMap<UserId, Vec<PostId>> = FxHashMap::default();
            for (p, &a) in self.posts.authors().iter().enumerate() {
                map.entry(a).or_default().push(p as PostId);
            }
            map
        });
        by_author.get(&author).cloned().unwrap_or_default()
    }

    /// The id of the post `uri`, interning it and its author when new.
    fn intern_post(&mut self, uri: &AtUri<'_>) -> PostId {
        self.intern_post_ref(DidRef::parse(uri.did), RkeyRef::parse(uri.rkey))
    }

    fn intern_post_ref(&mut self, author: DidRef<'_>, rkey: RkeyRef<'_>) -> PostId {
        let (author, _) = self.users.intern_ref(author);
        self.intern_post_of(author, rkey)
    }

    /// The id of post `rkey` of user `author`, interning it when new.
    fn intern_post_of(&mut self, author: UserId, rkey: RkeyRef<'_>) -> PostId {
        let (post, new_post) = self.posts.intern_ref(author, rkey);
        if new_post {
            self.post_index.info.push(PostInfo::default());
            if let Some(by_author) = &mut self.posts_by_author {
                by_author.entry(author).or_default().push(post);
            }
        }
        post
    }

    /// A builder with `graph`'s ids, post index (less what is older than
    /// `window_start_secs`) and inactive accounts, to which the changes
    /// are added before [`build_on`](Self::build_on) the graph: the start
    /// of [`LikeGraph::with_changes`].
    pub(crate) fn from_graph(graph: &LikeGraph, window_start_secs: u32) -> Self {
        GraphBuilder {
            window_start: window_start_secs,
            users: graph.users.clone(),
            posts: graph.posts.clone(),
            likes: Vec::new(),
            in_order: false,
            post_index: {
                let mut index = graph.post_index.clone();
                index.forget_before(u64::from(window_start_secs) * 1_000_000);
                index
            },
            posts_by_author: None,
            hidden: graph.hidden.clone(),
            previous_order: Some(graph.chronological.clone()),
            indexed: Vec::new(),
            lineage: graph.lineage,
        }
    }

    /// Lays the likes out as time-ordered CSR in both directions and drops
    /// repeated pairs. The two directions are built on two threads.
    pub fn build(self) -> LikeGraph {
        self.finish(None)
    }

    /// The graph `base` (which this builder started from, see
    /// [`from_graph`](Self::from_graph)) with the post changes made here
    /// and the like changes of `delta`, less the likes older than the
    /// window. Likes go through `delta` only (it settles them pair by pair
    /// against `base`), not [`add_like`](Self::add_like).
    pub(crate) fn build_on(self, base: &LikeGraph, delta: merge::Delta) -> LikeGraph {
        self.finish(Some((base, delta)))
    }

    fn finish(self, base: Option<(&LikeGraph, merge::Delta)>) -> LikeGraph {
        let GraphBuilder {
            window_start,
            mut users,
            mut posts,
            likes,
            in_order,
            mut post_index,
            posts_by_author: _,
            mut hidden,
            previous_order,
            indexed,
            lineage,
        } = self;
        post_index.info.shrink_to_fit();
        // Dense marks: the hot loops below look up arrays, not the set.
        let mut hidden_users = vec![false; if hidden.is_empty() { 0 } else { users.len() }];
        for &u in &hidden {
            hidden_users[u as usize] = true;
        }
        let is_hidden = |u: UserId| hidden_users.get(u as usize).copied().unwrap_or(false);
        post_index.set_hidden(|p| is_hidden(posts.author(p)));
        let post_fates = post_index
            .info
            .iter()
            .map(|info| {
                if info.is_removed() {
                    Fate::Drop
                } else if info.is_hidden() {
                    Fate::Withhold
                } else {
                    Fate::Keep
                }
            })
            .collect();
        let fates = Fates::new(post_fates, hidden_users);
        hidden.shrink_to_fit();
        let chronological = posts::chronological(
            &post_index,
            &|p| post_keys::uri(&users, &posts, p),
            u64::from(window_start) * 1_000_000,
            previous_order
                .as_deref()
                .map(|order| (order, indexed.as_slice())),
        );
        let sizes = (users.len(), posts.len());
        let Adjacency {
            by_user,
            by_post,
            withheld,
            mut repeats,
        } = match base {
            None => adjacency(likes, in_order, &fates, sizes),
            Some((base, delta)) => {
                debug_assert!(likes.is_empty(), "an update's likes come in its delta");
                merge::adjacency(base, delta, window_start, &fates, sizes)
            }
        };
        repeats.retain(|&(user, post), _| fates.of(user, post) != Fate::Drop);
        repeats.shrink_to_fit();
        drop(fates);

        users.shrink_to_fit();
        posts.shrink_to_fit();
        let num_likers = by_user.offsets.windows(2).filter(|w| w[0] < w[1]).count();
        // Rows are time-ordered: the newest like ends a row.
        let newest_ts = (0..by_user.rows() as u32)
            .filter_map(|u| by_user.row(u).last().map(|e| e.ts))
            .max()
            .unwrap_or(window_start);
        LikeGraph {
            window_start,
            newest_ts,
            users,
            posts,
            likes: by_user,
            likers: by_post,
            num_likers,
            post_index,
            chronological,
            hidden,
            withheld,
            repeats,
            lineage,
        }
    }
}

/// The adjacency of a graph built anew: the likes (interned, in arrival
/// order) sorted into rows by counting sort, in both directions on two
/// threads.
fn adjacency(
    mut likes: Vec<RawLike>,
    in_order: bool,
    fates: &Fates,
    (num_users, num_posts): (usize, usize),
) -> Adjacency {
    let mut withheld = Vec::new();
    likes.retain(|like| fates.admit(*like, &mut withheld));
    let mut repeats = Repeats::default();
    let mut repeat = |user: UserId, post: PostId, ts: u32| {
        repeats.entry((user, post)).or_default().push(ts);
    };
    merge::earliest_withheld(&mut withheld, |like| repeat(like.user, like.post, like.ts));
    merge::assert_fits(likes.len());
    let (by_user, by_post) = std::thread::scope(|scope| {
        let by_post = scope.spawn(|| {
            build_direction(
                num_posts,
                num_users,
                in_order,
                &likes,
                |l| (l.post, l.user),
                |_, _| {},
            )
        });
        // This direction collects the repeated pairs' later times.
        let by_user = build_direction(
            num_users,
            num_posts,
            in_order,
            &likes,
            |l| (l.user, l.post),
            |user, edge| repeat(user, edge.id, edge.ts),
        );
        (by_user, by_post.join().expect("CSR build thread panicked"))
    });
    Adjacency {
        by_user,
        by_post,
        withheld,
        repeats,
    }
}

/// One direction of the graph: `key(like)` gives `(row, neighbour)`.
fn build_direction(
    rows: usize,
    neighbours: usize,
    in_order: bool,
    likes: &[RawLike],
    key: impl Fn(&RawLike) -> (u32, u32),
    repeat: impl FnMut(u32, Edge),
) -> Csr {
    // Counting sort: offsets[r + 1] = likes in rows 0..=r.
    let mut offsets = vec![0u32; rows + 1];
    for like in likes {
        offsets[key(like).0 as usize + 1] += 1;
    }
    for r in 0..rows {
        offsets[r + 1] += offsets[r];
    }
    let mut cursor = offsets[..rows].to_vec();
    let mut edges = vec![Edge { id: 0, ts: 0 }; likes.len()];
    for like in likes {
        let (row, id) = key(like);
        let at = &mut cursor[row as usize];
        edges[*at as usize] = Edge { id, ts: like.ts };
        *at += 1;
    }
    drop(cursor);

    let mut csr = Csr { offsets, edges };
    if !in_order {
        for r in 0..rows as u32 {
            let (start, end) = row_bounds(&csr, r);
            // Stable, and linear on a row that is already sorted.
            csr.edges[start..end].sort_by_key(|e| e.ts);
        }
    }
    dedup_rows(&mut csr, neighbours, repeat);
    csr
}

fn row_bounds(csr: &Csr, r: u32) -> (usize, usize) {
    (
        csr.offsets[r as usize] as usize,
        csr.offsets[r as usize + 1] as usize,
    )
}

/// Keeps the first (earliest, rows being time-ordered) edge to each
/// neighbour in every row, compacting in place, and hands each later one
/// to `repeat` with its row. Both directions keep the same time for a
/// repeated pair: both rows are stable-sorted from the same arrival order.
fn dedup_rows(csr: &mut Csr, neighbours: usize, mut repeat: impl FnMut(u32, Edge)) {
    // last_row[n] = the last row that reached neighbour n.
    let mut last_row = vec![u32::MAX; neighbours];
    let mut write = 0usize;
    for r in 0..csr.rows() {
        let (start, end) = row_bounds(csr, r as u32);
        csr.offsets[r] = write as u32;
        for k in start..end {
            let edge = csr.edges[k];
            let seen = &mut last_row[edge.id as usize];
            if *seen != r as u32 {
                *seen = r as u32;
                csr.edges[write] = edge;
                write += 1;
            } else {
                repeat(r as u32, edge);
            }
        }
    }
    if let Some(last) = csr.offsets.last_mut() {
        *last = write as u32;
    }
    if write < csr.edges.len() {
        csr.edges.truncate(write);
        csr.edges.shrink_to_fit();
    }
}

/// A like in the form nearly every like has, all numbers: a `did:plc`
/// liking a post of a `did:plc` whose key is a TID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PackedLike {
    pub user: u128,
    pub author: u128,
    pub rkey: Tid,
    pub ts_secs: u32,
}

impl PackedLike {
    /// The like in this form, when it has it.
    pub fn of(user: DidRef<'_>, subject: SubjectRef<'_>, ts_secs: u32) -> Option<Self> {
        match (user, subject) {
            (
                DidRef::Plc(user),
                SubjectRef::Post {
                    author: DidRef::Plc(author),
                    rkey: RkeyRef::Tid(rkey),
                },
            ) => Some(PackedLike {
                user,
                author,
                rkey,
                ts_secs,
            }),
            _ => None,
        }
    }
}

/// Whether a DID handed over is one: a packed `did:plc` always is.
fn is_valid(did: DidRef<'_>) -> bool {
    match did {
        DidRef::Plc(_) => true,
        DidRef::Other(did) => is_did(did),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "did:plc:alice";
    const B: &str = "did:plc:bob";

    fn post(author: &str, rkey: &str) -> String {
        format!("at://{author}/app.bsky.feed.post/{rkey}")
    }

    /// Every like of `graph` as `(user DID, post URI, ts)`, sorted.
    fn all_likes(graph: &LikeGraph) -> Vec<(String, String, u32)> {
        let mut out: Vec<_> = (0..graph.num_users() as UserId)
            .flat_map(|u| {
                graph
                    .likes_of(u)
                    .iter()
                    .map(move |e| (graph.user_did(u), graph.post_uri(e.id), e.ts))
            })
            .collect();
        out.sort();
        out
    }

    proptest::proptest! {
        /// Likes handed over packed, in runs between ones that are not,
        /// make the graph the same likes as text would, in the same ids.
        #[test]
        fn packed_runs_build_what_text_builds(
            likes in proptest::collection::vec(
                (
                    proptest::prop_oneof!["did:plc:[a-z2-7]{24}", "did:web:[a-z]{1,4}"],
                    proptest::prop_oneof!["did:plc:[a-z2-7]{24}", "did:web:[a-z]{1,4}"],
                    proptest::prop_oneof!["[2-7a-j][2-7a-z]{12}", "[a-z]{1,4}"],
                    0u32..40,
                ),
                0..120,
            ),
            run in 1usize..40,
        ) {
            let likes: Vec<(String, String, u32)> = likes
                .into_iter()
                .map(|(user, author, rkey, ts)| (user, post(&author, &rkey), ts))
                .collect();
            let mut text = GraphBuilder::new(10);
            for (user, uri, ts) in &likes {
                text.add_like(user, uri, *ts);
            }
            let mut packed = GraphBuilder::new(10);
            let mut pending = Vec::new();
            for (user, uri, ts) in &likes {
                let (user, subject) = (DidRef::parse(user), SubjectRef::parse(uri));
                match PackedLike::of(user, subject, *ts) {
                    Some(like) => pending.push(like),
                    None => {
                        packed.add_packed_likes(&pending);
                        pending.clear();
                        packed.add_like_ref(user, subject, *ts);
                    }
                }
                if pending.len() == run {
                    packed.add_packed_likes(&pending);
                    pending.clear();
                }
            }
            packed.add_packed_likes(&pending);
            let (text, packed) = (text.build(), packed.build());
            proptest::prop_assert_eq!(all_likes(&text), all_likes(&packed));
            proptest::prop_assert_eq!(text.num_users(), packed.num_users());
            proptest::prop_assert_eq!(text.num_posts(), packed.num_posts());
            for u in 0..text.num_users() as UserId {
                proptest::prop_assert_eq!(text.user_did(u), packed.user_did(u));
            }
        }
    }

    #[test]
    fn interns_likers_posts_and_authors() {
        let mut b = GraphBuilder::new(100);
        let p = post("did:plc:carol", "3k1");
        assert!(b.add_like(A, &p, 100));
        assert!(b.add_like(B, &p, 150));
        let g = b.build();
        assert_eq!(
            (g.num_users(), g.num_posts(), g.num_likes(), g.num_likers()),
            (3, 1, 2, 2)
        );
        let (a, bob) = (g.user_id(A).unwrap(), g.user_id(B).unwrap());
        let carol = g.user_id("did:plc:carol").unwrap();
        let pid = g.post_id(&p).unwrap();
        assert_eq!(g.user_did(carol), "did:plc:carol");
        assert_eq!(g.post_uri(pid), p);
        assert_eq!(g.post_author(pid), carol);
        assert!(g.likes_of(carol).is_empty());
        assert_eq!(g.likes_of(a), &[Edge { id: pid, ts: 100 }]);
        assert_eq!(
            g.likers_of(pid),
            &[Edge { id: a, ts: 100 }, Edge { id: bob, ts: 150 }]
        );
        assert!(g.has_liked(a, pid) && !g.has_liked(carol, pid));
        assert_eq!((g.window_start(), g.newest_ts()), (100, 150));
        assert_eq!(g.user_id("did:plc:nobody"), None);
        assert_eq!(g.post_id(&post(A, "nope")), None);
        assert!(g.memory_bytes() > 0);
    }

    #[test]
    fn filters_the_window_and_non_posts() {
        let mut b = GraphBuilder::new(1_000);
        assert!(!b.add_like(A, &post(B, "old"), 999));
        assert!(!b.add_like(A, "at://did:plc:bob/app.bsky.feed.like/3k", 1_000));
        assert!(!b.add_like(A, "at://did:plc:bob/app.bsky.actor.profile/self", 1_000));
        assert!(!b.add_like(A, "at://bob.bsky.social/app.bsky.feed.post/3k", 1_000));
        assert!(!b.add_like(A, "https://bsky.app/profile/bob/post/3k", 1_000));
        assert!(!b.add_like("alice", &post(B, "3k"), 1_000));
        let g = b.build();
        assert_eq!((g.num_users(), g.num_posts(), g.num_likes()), (0, 0, 0));
        assert_eq!(g.newest_ts(), 1_000);

        let mut b = GraphBuilder::new(1_000);
        assert!(b.add_like(A, &post(B, "new"), 1_000));
        assert_eq!(b.build().num_likes(), 1);
    }

    #[test]
    fn repeated_pairs_count_once_at_their_earliest_time() {
        let p = post(B, "3k");
        let q = post(B, "3l");
        for order in [[300, 100, 200], [100, 200, 300], [200, 300, 100]] {
            let mut b = GraphBuilder::new(0);
            for ts in order {
                assert!(b.add_like(A, &p, ts));
            }
            assert!(b.add_like(A, &q, 250));
            let g = b.build();
            let (a, pid, qid) = (
                g.user_id(A).unwrap(),
                g.post_id(&p).unwrap(),
                g.post_id(&q).unwrap(),
            );
            assert_eq!(g.num_likes(), 2, "{order:?}");
            assert_eq!(
                g.likes_of(a),
                &[Edge { id: pid, ts: 100 }, Edge { id: qid, ts: 250 }]
            );
            assert_eq!(g.likers_of(pid), &[Edge { id: a, ts: 100 }]);
            assert_eq!(g.likers_of(qid), &[Edge { id: a, ts: 250 }]);
            assert_eq!(g.num_likers(), 1);
            assert_eq!(g.newest_ts(), 250);
        }
    }

    #[test]
    fn rows_are_time_ordered_when_added_out_of_order() {
        let mut b = GraphBuilder::with_capacity(0, 16);
        let users = ["did:plc:u0", "did:plc:u1", "did:plc:u2"];
        let posts: Vec<String> = (0..4).map(|i| post(B, &format!("p{i}"))).collect();
        // (user, post, ts) in scrambled time order; ties keep arrival order.
        let likes = [
            (0, 0, 50),
            (1, 0, 10),
            (0, 1, 20),
            (2, 0, 30),
            (0, 2, 5),
            (1, 3, 20),
            (1, 1, 20),
            (2, 3, 1),
        ];
        for (u, p, ts) in likes {
            assert!(b.add_like(users[u], &posts[p], ts));
        }
        let g = b.build();
        let uid = |u: usize| g.user_id(users[u]).unwrap();
        let pid = |p: usize| g.post_id(&posts[p]).unwrap();
        let e = |id, ts| Edge { id, ts };
        assert_eq!(
            g.likes_of(uid(0)),
            &[e(pid(2), 5), e(pid(1), 20), e(pid(0), 50)]
        );
        assert_eq!(
            g.likes_of(uid(1)),
            &[e(pid(0), 10), e(pid(3), 20), e(pid(1), 20)]
        );
        assert_eq!(
            g.likers_of(pid(0)),
            &[e(uid(1), 10), e(uid(2), 30), e(uid(0), 50)]
        );
        assert_eq!(g.likers_of(pid(3)), &[e(uid(2), 1), e(uid(1), 20)]);
        for u in 0..g.num_users() as u32 {
            assert!(g.likes_of(u).is_sorted_by_key(|e| e.ts));
        }
        assert_eq!(g.num_likes(), likes.len());
        assert_eq!(g.newest_ts(), 50);
    }
}
