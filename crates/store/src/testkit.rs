//! For tests of code that drives a [`Store`]: the events and likes the
//! store suites compare, and a throwaway embedded store. Behind the
//! `testkit` feature; never in the binary.

use tempfile::TempDir;

use crate::{Change, Changes, EmbeddedStore, RepoEvent, Store, StoreCounts};

/// A like as the tests compare them: (did, rkey, subject, time_us).
pub type Like = (String, String, String, u64);

pub fn open_temp() -> (TempDir, EmbeddedStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    (dir, store)
}

pub fn did(n: u32) -> String {
    format!("did:plc:user{n:04}")
}

pub fn post(n: u32) -> String {
    format!(
        "at://did:plc:author{:03}/app.bsky.feed.post/3post{n:06}",
        n % 7
    )
}

pub fn create(did: &str, rkey: &str, subject: &str, time_us: u64) -> RepoEvent {
    RepoEvent::LikeCreate {
        did: did.into(),
        rkey: rkey.into(),
        subject: subject.into(),
        time_us,
    }
}

pub fn delete(did: &str, rkey: &str, time_us: u64) -> RepoEvent {
    RepoEvent::LikeDelete {
        did: did.into(),
        rkey: rkey.into(),
        time_us,
    }
}

pub fn account_deleted(did: &str, time_us: u64) -> RepoEvent {
    RepoEvent::AccountDeleted {
        did: did.into(),
        time_us,
    }
}

pub fn account_status(did: &str, time_us: u64, active: bool) -> RepoEvent {
    RepoEvent::AccountStatus {
        did: did.into(),
        time_us,
        active,
    }
}

/// Every live like since `since_us`, sorted by `(time_us, did, rkey)`
/// (the store delivers them in its log's order, which backends need not
/// share). Panics when a like is delivered twice.
pub async fn scan(store: &dyn Store, since_us: u64) -> Vec<Like> {
    let mut likes = Vec::new();
    let delivered = store
        .scan_likes(since_us, &mut |like| {
            likes.push((
                like.did.to_string(),
                like.rkey.to_string(),
                like.subject.to_string(),
                like.time_us,
            ));
        })
        .await
        .unwrap();
    assert_eq!(delivered, likes.len() as u64);
    likes.sort_by(|a, b| {
        (a.3, a.0.as_bytes(), a.1.as_bytes()).cmp(&(b.3, b.0.as_bytes(), b.1.as_bytes()))
    });
    let keys: std::collections::BTreeSet<_> = likes.iter().map(|l| (&l.0, &l.1)).collect();
    assert_eq!(keys.len(), likes.len(), "a like delivered twice");
    likes
}

/// The whole observable state: every like and the counts.
pub async fn snapshot(store: &dyn Store) -> (Vec<Like>, StoreCounts) {
    (scan(store, 0).await, store.counts().await.unwrap())
}

/// [`scan_removed`]'s record key of an inactive account: no record key
/// has parentheses.
pub const INACTIVE: &str = "(inactive)";

/// A post as the tests compare them: (did, rkey, time_us, stored post).
pub type PostRow = (String, String, u64, crate::Post);

/// A post with languages `langs` (and nothing else), text included.
pub fn post_record(langs: &[&str], text: &str) -> crate::Post {
    crate::Post {
        langs: langs.iter().map(|l| l.to_string()).collect(),
        text: text.into(),
        ..crate::Post::default()
    }
}

pub fn post_create(did: &str, rkey: &str, post: crate::Post, time_us: u64) -> RepoEvent {
    RepoEvent::PostCreate {
        did: did.into(),
        rkey: rkey.into(),
        time_us,
        post: Box::new(post),
    }
}

pub fn post_delete(did: &str, rkey: &str, time_us: u64) -> RepoEvent {
    RepoEvent::PostDelete {
        did: did.into(),
        rkey: rkey.into(),
        time_us,
    }
}

/// Every post of the index since `since_us`, in scan order.
pub async fn scan_posts(store: &dyn Store, since_us: u64) -> Vec<PostRow> {
    let mut posts = Vec::new();
    let delivered = store
        .scan_posts(since_us, &mut |post| {
            posts.push((
                post.did.to_owned(),
                post.rkey.to_owned(),
                post.time_us,
                post.post.clone(),
            ));
        })
        .await
        .unwrap();
    assert_eq!(delivered, posts.len() as u64);
    posts
}

/// What must not be served, sorted: deleted posts as `(did, rkey)`,
/// deleted accounts as `(did, "")`, inactive ones as `(did, INACTIVE)`.
pub async fn scan_removed(store: &dyn Store) -> Vec<(String, String)> {
    let mut removed = Vec::new();
    let delivered = store
        .scan_removed_posts(&mut |r| {
            removed.push(match r {
                crate::RemovedRef::Post { did, rkey } => (did.to_owned(), rkey.to_owned()),
                crate::RemovedRef::Account { did } => (did.to_owned(), String::new()),
                crate::RemovedRef::Hidden { did } => (did.to_owned(), INACTIVE.to_owned()),
            });
        })
        .await
        .unwrap();
    assert_eq!(delivered, removed.len() as u64);
    removed.sort();
    removed
}

/// The changes after `after`, at most `max`; panics when trimmed.
pub async fn changes(store: &dyn Store, after: u64, max: usize) -> Vec<Change> {
    match store.changes_since(after, max).await.unwrap() {
        Changes::Since(changes) => changes,
        Changes::Trimmed => panic!("trimmed after {after}"),
    }
}

/// Every change after `after`, read page by page; panics on a gap.
pub async fn all_changes(store: &dyn Store, mut after: u64) -> Vec<Change> {
    let mut all = Vec::new();
    loop {
        let page = changes(store, after, 3_000).await;
        let Some(last) = page.last() else {
            return all;
        };
        assert_eq!(page[0].seq(), after + 1, "no gap");
        assert!(page.windows(2).all(|w| w[1].seq() == w[0].seq() + 1));
        after = last.seq();
        all.extend(page);
    }
}
