//! For tests of code that drives a [`Store`]: the events and likes the
//! store suites compare, and a throwaway embedded store. Behind the
//! `testkit` feature; never in the binary.

use tempfile::TempDir;

use crate::{EmbeddedStore, RepoEvent, Store, StoreCounts};

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

/// Every live like since `since_us`, in scan order.
pub async fn scan(store: &dyn Store, since_us: u64) -> Vec<Like> {
    let mut likes = Vec::new();
    let delivered = store
        .scan_likes(since_us, &mut |like| {
            likes.push((
                like.did.to_owned(),
                like.rkey.to_owned(),
                like.subject.to_owned(),
                like.time_us,
            ));
        })
        .await
        .unwrap();
    assert_eq!(delivered, likes.len() as u64);
    likes
}

/// The whole observable state: every like and the counts.
pub async fn snapshot(store: &dyn Store) -> (Vec<Like>, StoreCounts) {
    (scan(store, 0).await, store.counts().await.unwrap())
}
