//! The immutable like graph: interned ids and time-ordered CSR adjacency in
//! both directions.
//!
//! Both directions are needed by the walk (viewer -> posts -> likers ->
//! posts) and both are kept oldest-first so "the N newest" is a slice tail
//! and "likes since t" is a binary search. One like costs 8 bytes per
//! direction plus the amortized offsets.

use feedmixer_atproto::AtUri;
use rustc_hash::{FxHashMap, FxHashSet};

use crate::did_keys::DidKeys;
use crate::post_keys::{self, PostKeys};
use crate::posts::PostIndex;

/// Dense user id, `0..num_users`.
pub type UserId = u32;
/// Dense post id, `0..num_posts`.
pub type PostId = u32;

/// One adjacency entry: the neighbour's id and the like time (unix seconds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct Edge {
    pub id: u32,
    pub ts: u32,
}

/// A like by interned ids and its time (unix seconds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RawLike {
    pub(crate) user: UserId,
    pub(crate) post: PostId,
    pub(crate) ts: u32,
}

/// For each `(user, post)` pair with more than one live like record (the
/// protocol allows it, though apps do not make them), the times of the
/// records after the earliest, which is the one in the adjacency: when that
/// one is deleted or leaves the window, the pair stays at the next one.
pub(crate) type Repeats = FxHashMap<(UserId, PostId), Vec<u32>>;

/// Compressed sparse rows: row `r` is `edges[offsets[r]..offsets[r + 1]]`.
#[derive(Debug, Default)]
pub(crate) struct Csr {
    /// `rows + 1` entries; `u32` halves the offset memory and caps a graph
    /// at 4 G likes, far above what one replica holds.
    pub(crate) offsets: Vec<u32>,
    pub(crate) edges: Vec<Edge>,
}

impl Csr {
    #[inline]
    pub(crate) fn row(&self, r: u32) -> &[Edge] {
        let r = r as usize;
        &self.edges[self.offsets[r] as usize..self.offsets[r + 1] as usize]
    }

    pub(crate) fn rows(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    fn memory_bytes(&self) -> usize {
        self.offsets.capacity() * size_of::<u32>() + self.edges.capacity() * size_of::<Edge>()
    }
}

/// The in-window like graph a serving replica holds. Immutable once built
/// (see [`crate::GraphBuilder`]); share it behind an `Arc` and swap in a new
/// one to refresh.
#[derive(Debug)]
pub struct LikeGraph {
    pub(crate) window_start: u32,
    pub(crate) newest_ts: u32,
    pub(crate) users: DidKeys,
    /// Each post's author and record key.
    pub(crate) posts: PostKeys,
    /// Row per user: the posts it liked.
    pub(crate) likes: Csr,
    /// Row per post: the users that liked it.
    pub(crate) likers: Csr,
    pub(crate) num_likers: usize,
    /// What the post index holds of each post.
    pub(crate) post_index: PostIndex,
    /// The servable indexed posts in the window, oldest first.
    pub(crate) chronological: Vec<PostId>,
    /// Inactive accounts (taken down, suspended, deactivated): their posts
    /// are not served and their likes, and the likes on their posts, are
    /// held back in `withheld` instead of the adjacency, to return when
    /// they are active again.
    pub(crate) hidden: FxHashSet<UserId>,
    /// Sorted by `(user, post)`.
    pub(crate) withheld: Vec<RawLike>,
    pub(crate) repeats: Repeats,
    pub(crate) lineage: Lineage,
}

/// The snapshots that share ids: a graph built anew starts a lineage, and
/// [`LikeGraph::with_changes`] keeps it. A post id means the same post in
/// every snapshot of a lineage (ids are only added), so what was computed
/// from one snapshot can be read against a later one of its lineage.
/// Lineages are numbered in the order they start, within the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Lineage(u64);

impl Lineage {
    pub(crate) fn new() -> Self {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        Lineage(NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
    }
}

impl LikeGraph {
    /// The snapshots whose post ids this one shares.
    pub fn lineage(&self) -> Lineage {
        self.lineage
    }

    /// Users known to the graph: likers and the authors of liked posts.
    pub fn num_users(&self) -> usize {
        self.users.len()
    }

    /// Posts known to the graph: those with an in-window like, those the
    /// post index holds, and removed posts still named by either.
    pub fn num_posts(&self) -> usize {
        self.posts.len()
    }

    /// Distinct (user, post) likes in the window.
    pub fn num_likes(&self) -> usize {
        self.likes.edges.len()
    }

    /// Accounts the graph holds inactive (see [`crate::GraphChange::AccountHidden`]).
    pub fn num_hidden_accounts(&self) -> usize {
        self.hidden.len()
    }

    /// Likes held back because their user or their post's author is
    /// inactive.
    pub fn num_withheld_likes(&self) -> usize {
        self.withheld.len()
    }

    /// Number of distinct users that liked at least one post in the window.
    pub fn num_likers(&self) -> usize {
        self.num_likers
    }

    pub fn user_id(&self, did: &str) -> Option<UserId> {
        self.users.find(did)
    }

    /// The DID of `u`, written back from its stored form. Panics when `u`
    /// is out of range.
    pub fn user_did(&self, u: UserId) -> String {
        let mut did = String::new();
        self.users.write(u, &mut did);
        did
    }

    /// Calls `f` with the DID of `u`, written into a buffer the thread
    /// reuses (see [`LikeGraph::with_post_uri`]). Panics when `u` is out of
    /// range.
    pub fn with_user_did<R>(&self, u: UserId, f: impl FnOnce(&str) -> R) -> R {
        with_buffer(|did| {
            self.users.write(u, did);
            f(did)
        })
    }

    /// The id of the post whose `at://` URI is `uri`, if the graph knows it.
    pub fn post_id(&self, uri: &str) -> Option<PostId> {
        let uri = AtUri::parse(uri).ok().filter(AtUri::is_post)?;
        self.posts.find(self.users.find(uri.did)?, uri.rkey)
    }

    /// The `at://` URI of `p`, written from its author and record key.
    /// Panics when `p` is out of range.
    pub fn post_uri(&self, p: PostId) -> String {
        post_keys::uri(&self.users, &self.posts, p)
    }

    /// Calls `f` with the `at://` URI of `p`, written into a buffer the
    /// thread reuses: for lookups by URI on a hot path, without an
    /// allocation per post. Panics when `p` is out of range.
    pub fn with_post_uri<R>(&self, p: PostId, f: impl FnOnce(&str) -> R) -> R {
        with_buffer(|uri| {
            self.write_post_uri(p, uri);
            f(uri)
        })
    }

    /// Appends the `at://` URI of `p` to `out` (to reuse one buffer over
    /// many posts). Panics when `p` is out of range.
    pub fn write_post_uri(&self, p: PostId, out: &mut String) {
        post_keys::write_uri(out, &self.users, &self.posts, p);
    }

    /// The user whose DID is the authority of the post's URI.
    #[inline]
    pub fn post_author(&self, p: PostId) -> UserId {
        self.posts.author(p)
    }

    /// The time its record key (a TID) claims, unix seconds; `None` when
    /// the key is not a TID.
    #[inline]
    pub fn post_key_secs(&self, p: PostId) -> Option<u32> {
        self.posts.key_secs(p)
    }

    /// The posts `u` liked (`edge.id` is a [`PostId`]), oldest first.
    #[inline]
    pub fn likes_of(&self, u: UserId) -> &[Edge] {
        self.likes.row(u)
    }

    /// The users that liked `p` (`edge.id` is a [`UserId`]), oldest first.
    #[inline]
    pub fn likers_of(&self, p: PostId) -> &[Edge] {
        self.likers.row(p)
    }

    /// Whether `u` liked `p` in the window. Scans the shorter of the two
    /// adjacency lists (they are time-ordered, not id-ordered).
    pub fn has_liked(&self, u: UserId, p: PostId) -> bool {
        self.edge_time(u, p).is_some()
    }

    /// The time of `u`'s like of `p` in the adjacency, if any.
    fn edge_time(&self, u: UserId, p: PostId) -> Option<u32> {
        if u as usize >= self.num_users() || p as usize >= self.num_posts() {
            return None;
        }
        let likes = self.likes_of(u);
        let likers = self.likers_of(p);
        let found = if likes.len() <= likers.len() {
            likes.iter().find(|e| e.id == p)
        } else {
            likers.iter().find(|e| e.id == u)
        };
        found.map(|e| e.ts)
    }

    /// The time of `u`'s like of `p`, in the adjacency or held back.
    pub(crate) fn like_time(&self, u: UserId, p: PostId) -> Option<u32> {
        self.edge_time(u, p).or_else(|| {
            let at = self
                .withheld
                .binary_search_by_key(&(u, p), |like| (like.user, like.post))
                .ok()?;
            Some(self.withheld[at].ts)
        })
    }

    /// The times of every live like record of `u` on `p` no older than
    /// `window_start`, the earliest first when there is one in the graph.
    pub(crate) fn record_times(&self, u: UserId, p: PostId, window_start: u32) -> Vec<u32> {
        let first = self.like_time(u, p);
        let repeats = self.repeats.get(&(u, p)).map(Vec::as_slice).unwrap_or(&[]);
        first
            .iter()
            .chain(repeats)
            .copied()
            .filter(|&ts| ts >= window_start)
            .collect()
    }

    /// Likes older than this (unix seconds) were left out when building.
    pub fn window_start(&self) -> u32 {
        self.window_start
    }

    /// Time of the newest like, or `window_start` for an empty graph.
    pub fn newest_ts(&self) -> u32 {
        self.newest_ts
    }

    /// Approximate heap bytes held (adjacency, ids, strings and their
    /// lookup tables).
    pub fn memory_bytes(&self) -> usize {
        self.likes.memory_bytes()
            + self.likers.memory_bytes()
            + self.users.memory_bytes()
            + self.posts.memory_bytes()
            + self.post_index_memory_bytes()
            + self.hidden.capacity() * (size_of::<UserId>() + 1)
            + self.withheld.capacity() * size_of::<RawLike>()
            + self
                .repeats
                .values()
                .map(|times| size_of::<((UserId, PostId), Vec<u32>)>() + 1 + times.capacity() * 4)
                .sum::<usize>()
    }
}

/// Runs `f` on an emptied string buffer the thread keeps, so writing a
/// DID or URI back for a lookup allocates nothing. Not reentrant: `f` must
/// not call it again.
fn with_buffer<R>(f: impl FnOnce(&mut String) -> R) -> R {
    thread_local! {
        static BUFFER: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
    }
    BUFFER.with_borrow_mut(|buffer| {
        buffer.clear();
        f(buffer)
    })
}
