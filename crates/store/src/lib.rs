//! The source of truth of feedmixer: the like log, behind one [`Store`]
//! trait.
//!
//! Ingest and the capture replay write [`RepoEvent`]s through
//! [`Store::apply`]; every serving replica builds its in-memory like graph
//! from [`Store::scan_likes`] at start-up. The trait is backend-neutral and
//! async so that a Redis store can sit behind it next to
//! [`EmbeddedStore`], the single-file default.
//!
//! Next to the like log the store keeps each feed's candidate pool, the
//! posts the feed may show, as operators set them through
//! [`Store::update_pool`].
//!
//! The request path calls the store through [`StoreHealth`]: each call
//! bounded, skipped while the store is known to be down, its failures
//! counted (the crate's metric names are in [`metrics`]).
//!
//! # Semantics every backend keeps
//!
//! Jetstream delivers at least once, a replay window overlaps what is
//! already stored, and two Jetstream instances stamp the same event with
//! different `time_us`. So whether a like is live is a last-writer-wins
//! register per `(did, rkey)`: it is live when the newest create of the key
//! is newer than the newest delete of the key and the newest deletion of
//! its account (a deletion wins a tie). Applying is therefore idempotent
//! and order-insensitive: replaying any window, or the same events in
//! another order, leaves the same likes live.
//!
//! - a create of a key that is live is a duplicate: the first create's
//!   subject and `time_us` stay (a newer one only moves the key's newest
//!   create time);
//! - a delete removes the live like of its key unless a newer create of the
//!   key was seen, and leaves a tombstone `(did, rkey) → time_us`, so a
//!   create of that key arriving later but stamped no later is stale;
//! - an account deletion removes every like of the DID not created again
//!   after it, and records `did → time_us`, so older creates of that DID
//!   are stale. A create newer than the deletion is accepted: DIDs are not
//!   reused, so it can only come from the account itself (a deletion its
//!   PDS reverted), and refusing the account forever would be the worse
//!   error;
//! - an event whose effect is already recorded (a replayed delete or
//!   account deletion, a create older than a recorded deletion) is stale.
//!
//! An account's hosting status (inactive: taken down, suspended,
//! deactivated; active again) is a register per DID too, kept apart from
//! its records: an inactive account keeps its likes and posts in the log,
//! but the store reports it hidden ([`RemovedRef::Hidden`],
//! [`PostChangeKind::AccountHidden`]) and the serving graph neither serves
//! its posts nor counts its likes until it is active again. The newest
//! status event wins (inactive wins a tie), so statuses too are
//! order-insensitive; one at or before the account's deletion is stale,
//! and the deletion clears an older status. Every status event is recorded,
//! active ones included (a later, older inactive event must lose to it);
//! one that does not change whether the account is hidden counts as stale.
//! Statuses are few beside likes and are pruned with the window.
//!
//! # Retention
//!
//! The log keeps a window, not all of history: [`Store::prune`] forgets
//! what lies before a horizon (callers pass `now - retention`). The store
//! records the horizon, and from then on every event stamped before it is
//! stale, whatever it is: the store no longer holds what such an event
//! would be judged against (the likes, tombstones and account deletions
//! before the horizon are gone), and nothing it could do would fall inside
//! the window. So a replay of old events after a prune brings back none of
//! the pruned likes, and deletions older than the horizon, which could
//! only ever make events older than themselves stale, can be dropped.
//!
//! A like whose key was also created at or after the horizon (two
//! Jetstream instances stamped it on both sides) is judged by its log time,
//! its first create, and pruned; its key keeps a tombstone at its newest
//! create, so a replay of that create is stale too.
//!
//! Pruning is not a change to the live likes as [`Store::changes_since`]
//! numbers them (see [`Store::prune`] for why): replicas drop old likes by
//! their own window.
//!
//! # Leases
//!
//! [`Store::acquire_lease`] and [`Store::release_lease`] give one of
//! several replicas sharing a store a job only one should run (the
//! Jetstream ingester). A lease has one holder and expires unless renewed.
//! It is advisory, not a fence: a holder that stalls past its TTL (a long
//! pause, a partition) may still be working when another takes over, and a
//! Redis failover can lose a lease. The guarded work must tolerate a short
//! overlap; ingest does, since applying is idempotent. The embedded store,
//! which one process owns, keeps its leases in memory.

pub mod checks;
mod embedded;
mod error;
mod feed_data;
mod health;
mod interactions;
pub mod like_log;
pub mod metrics;
pub mod pool_update;
pub mod post_codec;
pub mod post_routing;
pub mod replay;
mod special_posts;
#[cfg(feature = "testkit")]
pub mod testkit;

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

pub use embedded::{DATABASE_FILE, EmbeddedStore, MigrationProgress};
pub use error::StoreError;
pub use feedmixer_atproto::{DidRef, Post, RepoEvent, RkeyRef, SubjectRef};
pub use health::{REQUEST_STORE_TIMEOUT, StoreHealth};
pub use interactions::{Interaction, InteractionLimits};
pub use pool_update::PoolUpdate;
pub use post_routing::{NoRouting, PostRouter, apply_routed};
pub use replay::{ReplayReport, replay};
pub use special_posts::{MAX_SPECIAL_POSTS, MAX_SPONSORED_SLOT, SpecialPosts, Sponsored};

/// One live like, borrowed from the store's scan buffer for the duration
/// of a [`Store::scan_likes`] callback, its parts in the packed form the
/// store keeps them (`did:plc` and TID bits; see
/// [`feedmixer_atproto::packed`]): each writes back to its text with
/// `to_string()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LikeRef<'a> {
    pub did: DidRef<'a>,
    pub rkey: RkeyRef<'a>,
    /// What is liked: nearly always a post.
    pub subject: SubjectRef<'a>,
    pub time_us: u64,
}

/// What one [`Store::apply`] did with its events; every event is counted
/// exactly once.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ApplyStats {
    /// Creates that added a like.
    pub created: u64,
    /// Creates of a key that was already live.
    pub duplicates: u64,
    /// Deletes that removed a like.
    pub deleted: u64,
    /// Deletes of a key that was never seen (the create predates the
    /// store's history); the tombstone is recorded all the same.
    pub missing_deletes: u64,
    /// Events superseded by a newer delete, account deletion or create of
    /// the same key, including replays of events already applied, and
    /// events stamped before the prune horizon; and account status events
    /// that change nothing (the account already has that status, or a
    /// newer one was applied).
    pub stale: u64,
    /// Account deletions applied.
    pub accounts_deleted: u64,
    /// Likes those account deletions removed.
    pub likes_removed_by_account: u64,
    /// Post creates that added a post to the index.
    pub posts_created: u64,
    /// Post deletes that removed a post of the index (a delete of a post
    /// the index never held is a missing delete).
    pub posts_deleted: u64,
    /// Posts those account deletions removed.
    pub posts_removed_by_account: u64,
    /// Status events that made an account inactive (hidden).
    pub accounts_hidden: u64,
    /// Status events that made an inactive account active again.
    pub accounts_revealed: u64,
}

impl ApplyStats {
    /// How many events these counts are: every event is counted once, as
    /// one of the outcomes (the likes an account deletion removed are not
    /// events).
    pub fn events(&self) -> u64 {
        self.created
            + self.duplicates
            + self.deleted
            + self.missing_deletes
            + self.stale
            + self.accounts_deleted
            + self.posts_created
            + self.posts_deleted
            + self.accounts_hidden
            + self.accounts_revealed
    }

    /// Adds another batch's counts, for totals over many batches.
    pub fn add(&mut self, other: &ApplyStats) {
        self.created += other.created;
        self.duplicates += other.duplicates;
        self.deleted += other.deleted;
        self.missing_deletes += other.missing_deletes;
        self.stale += other.stale;
        self.accounts_deleted += other.accounts_deleted;
        self.likes_removed_by_account += other.likes_removed_by_account;
        self.posts_created += other.posts_created;
        self.posts_deleted += other.posts_deleted;
        self.posts_removed_by_account += other.posts_removed_by_account;
        self.accounts_hidden += other.accounts_hidden;
        self.accounts_revealed += other.accounts_revealed;
    }
}

impl fmt::Display for ApplyStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} created, {} duplicates, {} deleted, {} missing deletes, {} stale, \
             {} accounts deleted ({} likes, {} posts), {} posts created, {} posts deleted, \
             {} accounts hidden, {} revealed",
            self.created,
            self.duplicates,
            self.deleted,
            self.missing_deletes,
            self.stale,
            self.accounts_deleted,
            self.likes_removed_by_account,
            self.posts_removed_by_account,
            self.posts_created,
            self.posts_deleted,
            self.accounts_hidden,
            self.accounts_revealed
        )
    }
}

/// What one [`Store::prune`] call removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PruneStats {
    /// Live likes that left the log.
    pub likes: u64,
    /// Tombstones (of deleted keys) dropped.
    pub tombstones: u64,
    /// Account deletions dropped.
    pub accounts: u64,
    /// Posts that left the index.
    pub posts: u64,
    /// Tombstones of deleted posts dropped.
    pub post_tombstones: u64,
    /// Account statuses (inactive, or active again) dropped.
    pub account_statuses: u64,
    /// Whether likes, tombstones or account deletions older than the
    /// horizon remain (the call stopped at its bound): call again.
    pub more: bool,
}

impl PruneStats {
    /// How many things of every kind went.
    pub fn removed(&self) -> u64 {
        self.likes
            + self.tombstones
            + self.accounts
            + self.posts
            + self.post_tombstones
            + self.account_statuses
    }

    /// Adds another call's counts, for totals over a loop of calls; `more`
    /// is the other call's.
    pub fn add(&mut self, other: &PruneStats) {
        self.likes += other.likes;
        self.tombstones += other.tombstones;
        self.accounts += other.accounts;
        self.posts += other.posts;
        self.post_tombstones += other.post_tombstones;
        self.account_statuses += other.account_statuses;
        self.more = other.more;
    }
}

impl fmt::Display for PruneStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} likes, {} tombstones, {} account deletions, {} posts, {} post tombstones, \
             {} account statuses pruned{}",
            self.likes,
            self.tombstones,
            self.accounts,
            self.posts,
            self.post_tombstones,
            self.account_statuses,
            if self.more { ", more to prune" } else { "" }
        )
    }
}

/// Sizes of the like log, cheap enough to answer every `/v1/stats` call.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct StoreCounts {
    /// Live likes.
    pub likes: u64,
    /// Posts in the index.
    pub posts: u64,
}

/// What a pool update did.
///
/// `added` counts the posts in the pool afterwards that were not in it
/// before, `removed` those in it before that are not any more, so the new
/// `size` is always the old size plus `added` minus `removed`. A post both
/// added and removed by one update was never in the pool, whatever it was
/// before the update; it is counted once as removed when it was in the pool
/// before, not at all when it was not.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    pub added: u64,
    pub removed: u64,
    pub size: u64,
}

/// The receiver of [`Store::scan_likes`]: called once per like.
pub type LikeSink<'s> = dyn for<'a> FnMut(LikeRef<'a>) + Send + 's;

/// One post of the index, borrowed for the duration of a
/// [`Store::scan_posts`] callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PostRef<'a> {
    pub did: &'a str,
    pub rkey: &'a str,
    /// When the post was indexed (the Jetstream `time_us` of its create).
    pub time_us: u64,
    pub post: &'a Post,
}

/// The receiver of [`Store::scan_posts`]: called once per post, in
/// `time_us` order.
pub type PostSink<'s> = dyn for<'a> FnMut(PostRef<'a>) + Send + 's;

/// A post that must not be served, as [`Store::scan_removed_posts`] reports
/// it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemovedRef<'a> {
    /// The post `at://did/app.bsky.feed.post/rkey` was deleted.
    Post { did: &'a str, rkey: &'a str },
    /// Every post of the account goes.
    Account { did: &'a str },
    /// The account is inactive: its posts are not served and its likes do
    /// not count, until it is active again.
    Hidden { did: &'a str },
}

/// The receiver of [`Store::scan_removed_posts`].
pub type RemovedSink<'s> = dyn for<'a> FnMut(RemovedRef<'a>) + Send + 's;

/// The source of truth behind feedmixer: the like log, the feeds'
/// candidate pools and a small key-value space for service state (cursors
/// and the like).
#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    /// Applies events in order, all in one atomic, durable transaction:
    /// when this returns `Ok`, every event is on disk; when it returns
    /// `Err`, none is. Events stamped before the prune horizon (see
    /// [`Store::prune`]) are counted stale and change nothing.
    async fn apply(&self, events: &[RepoEvent]) -> Result<ApplyStats, StoreError>;

    /// Calls `sink` once for every live like with `time_us >= since_us`,
    /// from one consistent snapshot, in the order the store logged them
    /// (not time order: a like replayed late comes late; a capture applied
    /// in time order comes out nearly so). Returns how many likes it
    /// delivered. Streams: memory does not grow with the size of the log.
    /// Callers that need time order sort; the graph needs none.
    async fn scan_likes(&self, since_us: u64, sink: &mut LikeSink<'_>) -> Result<u64, StoreError>;

    /// Calls `sink` for every post of the index with `time_us >=
    /// since_us`, in `time_us` order (ties by DID, then record key), from
    /// one consistent snapshot; returns how many it delivered. Streams, as
    /// [`Store::scan_likes`] does.
    async fn scan_posts(&self, since_us: u64, sink: &mut PostSink<'_>) -> Result<u64, StoreError>;

    /// Calls `sink` for every post deletion and account deletion the store
    /// still holds (those since the prune horizon), and every account
    /// inactive now, from one consistent snapshot: what a replica building
    /// its graph must hide, whether or not the index held the post (likes
    /// may still point at it).
    async fn scan_removed_posts(&self, sink: &mut RemovedSink<'_>) -> Result<u64, StoreError>;

    /// How many likes, likers and posts are live.
    async fn counts(&self) -> Result<StoreCounts, StoreError>;

    /// Reads a service value (such as the ingest cursor) stored with
    /// [`Store::set_meta`].
    async fn get_meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Stores a service value durably. Keys starting with `store.` belong
    /// to the store itself and are refused.
    async fn set_meta(&self, key: &str, value: &[u8]) -> Result<(), StoreError>;

    /// Stores `value` under `key` unless the key holds a value already, in
    /// one atomic step, and returns the value the key holds afterwards:
    /// of several processes racing to set a shared value (the generated
    /// cursor key), every one gets the same winner. Keys starting with
    /// `store.` are refused.
    async fn set_meta_if_absent(&self, key: &str, value: &[u8]) -> Result<Vec<u8>, StoreError>;

    /// Changes feed `feed`'s pool in one atomic, durable transaction: with
    /// `replace`, the pool becomes exactly `add` (then `remove` is
    /// applied); otherwise `add` are inserted (already present: not
    /// counted) and `remove` deleted (absent: not counted). Returns the
    /// counts and the pool's new size (see [`PoolStats`]).
    ///
    /// A post already in the pool keeps the time it was first added.
    /// Validating feed names and URIs is the caller's job, but an empty
    /// feed name ([`StoreError::EmptyFeedName`]) or an empty URI in `add`
    /// or `remove` ([`StoreError::EmptyPostUri`]) is refused and nothing
    /// is written.
    async fn update_pool(
        &self,
        feed: &str,
        add: &[String],
        remove: &[String],
        replace: bool,
    ) -> Result<PoolStats, StoreError>;

    /// Every post of feed `feed`'s pool, in URI order (empty when the feed
    /// has none). An empty feed name is refused with
    /// [`StoreError::EmptyFeedName`].
    async fn pool(&self, feed: &str) -> Result<Vec<String>, StoreError>;

    /// The feeds that have a non-empty pool, sorted.
    async fn pool_feeds(&self) -> Result<Vec<String>, StoreError>;

    /// Feed `feed`'s special posts, as [`Store::set_special_posts`] left
    /// them (`None`: never set, or unreadable, which is logged).
    async fn special_posts(&self, feed: &str) -> Result<Option<SpecialPosts>, StoreError> {
        special_posts::read(self, feed).await
    }

    /// Replaces feed `feed`'s special posts, durably. Posts that fail
    /// [`SpecialPosts::validate`] are refused
    /// ([`StoreError::InvalidSpecialPosts`]) and nothing is written.
    async fn set_special_posts(&self, feed: &str, posts: &SpecialPosts) -> Result<(), StoreError> {
        special_posts::write(self, feed, posts).await
    }

    /// The version of what operators set per feed (pools, special posts):
    /// it changes whenever [`Store::mark_feed_data_changed`] is called, so
    /// a replica that sees it move reloads them.
    async fn feed_data_version(&self) -> Result<Option<Vec<u8>>, StoreError> {
        feed_data::version(self).await
    }

    /// Moves the feed data version after a change to a pool or special
    /// posts; returns the new version.
    async fn mark_feed_data_changed(&self) -> Result<Vec<u8>, StoreError> {
        feed_data::mark_changed(self).await
    }

    /// Adds a viewer's interactions, durably, keeping the bounded history
    /// [`InteractionLimits`] describes (`now_us` decides what expired). An
    /// empty viewer or item is refused and nothing is written.
    async fn add_interactions(
        &self,
        viewer: &str,
        items: &[Interaction],
        limits: InteractionLimits,
        now_us: u64,
    ) -> Result<(), StoreError>;

    /// The viewer's interactions no older than `since_us`, newest first.
    async fn interactions(
        &self,
        viewer: &str,
        since_us: u64,
    ) -> Result<Vec<Interaction>, StoreError>;

    /// The sequence number of the newest change to the live likes or the
    /// posts (0 before any): it moves whenever [`Store::apply`] adds or
    /// removes a like or a post (not when [`Store::prune`] does). A replica builds
    /// its graph after reading it, then follows [`Store::changes_since`].
    async fn likes_version(&self) -> Result<u64, StoreError>;

    /// The changes to the live likes and the posts after sequence number
    /// `after`, oldest first, at most `max` of them (ask again from the last one's `seq`
    /// for more). The store keeps a bounded tail of changes: when `after`
    /// is older than that, the answer is [`Changes::Trimmed`] and the
    /// caller rebuilds from [`Store::scan_likes`].
    async fn changes_since(&self, after: u64, max: usize) -> Result<Changes, StoreError>;

    /// Adds to the counters of `group`, each named by a field (a missing
    /// one starts at 0), all in one atomic step: tallies every replica adds
    /// to, such as the interactions of an experiment's arms. Durable like
    /// meta.
    async fn add_counts(&self, group: &str, counts: &[(String, u64)]) -> Result<(), StoreError>;

    /// Every counter of `group`, by field; empty when none was added to.
    async fn counts_in(&self, group: &str) -> Result<BTreeMap<String, u64>, StoreError>;

    /// Keeps `value` under `key` for `ttl`: derived state every replica
    /// must see, such as the ranked lists behind cursors. Not durable: a
    /// backend may drop an entry early (memory bound), and the embedded
    /// store keeps these in memory only.
    async fn cache_set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), StoreError>;

    /// A value stored with [`Store::cache_set`], while it lives.
    async fn cache_get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Whether other processes see this store: when not, derived state
    /// need not go through [`Store::cache_set`] at all, and callers keep it
    /// in their own memory instead.
    fn shared(&self) -> bool {
        true
    }

    /// Forgets what lies before `before_us` (callers pass `now -
    /// retention`, a retention of at least a day: Jetstream replays about
    /// 24 hours, so no event that old is still to come).
    ///
    /// First the store moves its prune horizon to `before_us`, durably;
    /// the horizon only moves forward (a `before_us` below it changes
    /// nothing, and the call prunes up to the horizon). From then on,
    /// [`Store::apply`] counts every event stamped before the horizon as
    /// stale, so replaying old events does not bring pruned likes back.
    /// Then, before the horizon:
    ///
    /// - live likes with `time_us` (their log time) before it leave the
    ///   log, and [`Store::counts`] with them;
    /// - tombstones, account deletions and account statuses recorded
    ///   before it are dropped (an account inactive since before the
    ///   horizon has no records left from before it going inactive);
    /// - interaction histories, pools, meta, cached values and leases are
    ///   untouched (histories expire by their own TTL).
    ///
    /// Work is bounded: a call removes at most `max_likes` likes, and at
    /// most as many tombstones and as many account deletions (which ones,
    /// of those before the horizon, is the store's choice), and returns
    /// [`PruneStats::more`] when some remain; call it in a loop to prune a
    /// backlog without holding writers up long.
    /// Likes still waiting are already outside the window (events about
    /// them are stale). A pruned like whose key was also created at or
    /// after the horizon leaves a tombstone there (see the crate docs); one
    /// replacing a tombstone from before the horizon counts that one among
    /// the tombstones dropped, beyond the bound.
    ///
    /// Pruned likes are not numbered changes: [`Store::likes_version`]
    /// does not move and [`Store::changes_since`] does not list them.
    /// Followers keep a window of their own (the serving graph drops likes
    /// older than `now - retention_days` at every update and rebuilds
    /// hourly), so the removals would change nothing for them, while at
    /// steady state pruning removes as many likes as ingest adds: listing
    /// them would double the changes and halve how far a follower can fall
    /// behind before it must rebuild, and the first prune of a long log
    /// would push every follower past the kept tail at once. A follower
    /// keeping a longer window than the store keeps the pruned likes until
    /// its next rebuild.
    async fn prune(&self, before_us: u64, max_likes: usize) -> Result<PruneStats, StoreError>;

    /// Takes or renews the lease `name` for `holder` until `ttl` from now
    /// (a TTL under a millisecond counts as one): `Ok(true)` when `holder`
    /// holds it afterwards (it was free, expired, or already held by
    /// `holder`), `Ok(false)` when someone else holds it. An empty name or
    /// holder is refused with [`StoreError::InvalidLease`].
    ///
    /// A holder renews well within its TTL (every third of it, say) and
    /// stops the guarded work when a renewal says `false` or keeps failing
    /// until the TTL has run out; see the crate docs on what a lease does
    /// not guarantee.
    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError>;

    /// Gives the lease `name` up if `holder` holds it (a no-op otherwise,
    /// also when it expired), so another may take it at once.
    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError>;
}

/// One change to the live likes, numbered in the order the store made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LikeChange {
    pub seq: u64,
    pub did: String,
    /// AT-URI of the liked post.
    pub subject: String,
    /// The like's `time_us`.
    pub time_us: u64,
    /// `true`: the like became live; `false`: it was removed.
    pub added: bool,
}

/// One change to the posts, numbered in the same sequence as the likes'.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostChange {
    pub seq: u64,
    pub did: String,
    /// The post's record key (empty for the account's changes:
    /// [`PostChangeKind::AccountDeleted`], `AccountHidden`,
    /// `AccountRevealed`).
    pub rkey: String,
    /// The event's `time_us`: when the post was indexed, or deleted.
    pub time_us: u64,
    pub kind: PostChangeKind,
}

/// What happened to a post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostChangeKind {
    /// The post entered the index (without its text and hashtags).
    Added(Post),
    /// The post was deleted: it must not be served, and likes on it stop
    /// counting (also when the index never held it).
    Removed,
    /// The account was deleted: none of its posts may be served.
    AccountDeleted,
    /// The account became inactive: its posts are not served and its
    /// likes do not count while it is.
    AccountHidden,
    /// The inactive account is active again: its posts and likes return.
    AccountRevealed,
}

/// One numbered change, to the likes or to the posts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Like(LikeChange),
    Post(PostChange),
}

impl Change {
    /// Its number in the store's one sequence of changes.
    pub fn seq(&self) -> u64 {
        match self {
            Change::Like(change) => change.seq,
            Change::Post(change) => change.seq,
        }
    }
}

/// What [`Store::changes_since`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Changes {
    /// The next changes (empty: none since), oldest first.
    Since(Vec<Change>),
    /// The store no longer holds the changes right after the asked number.
    Trimmed,
}
