//! Start-up: the like graph is built from the store's like log and post
//! index, keeping what lies inside the retention window.

use feedmixer_atproto::clock::secs_of_us;
use feedmixer_atproto::post_uri;
use feedmixer_graph::{GraphBuilder, LikeGraph, PackedLike};
use feedmixer_store::{LikeRef, PostRef, RemovedRef, Store, StoreError};

/// Likes handed to the graph builder at a time.
const PACKED_RUN: usize = 1_024;

/// Builds the graph from every stored like and post newer than `now -
/// retention`, hiding the deleted posts and the posts of deleted accounts.
/// `progress(records_read)` is called every 100k likes and posts.
pub async fn load_graph(
    store: &dyn Store,
    retention_days: u32,
    now_secs: u32,
    progress: &mut (dyn FnMut(u64) + Send),
) -> Result<LikeGraph, StoreError> {
    load(store, retention_days, now_secs, u64::MAX, progress).await
}

/// The graph as it was at `until_secs`: [`load_graph`] with `now =
/// until_secs`, of the likes and posts stored before it only (offline
/// evaluation ranks as of a time in the log). Deletions are those the
/// store holds now: a post deleted since is hidden already.
pub async fn load_graph_before(
    store: &dyn Store,
    retention_days: u32,
    until_secs: u32,
    progress: &mut (dyn FnMut(u64) + Send),
) -> Result<LikeGraph, StoreError> {
    let until_us = u64::from(until_secs) * 1_000_000;
    load(store, retention_days, until_secs, until_us, progress).await
}

/// The likes and posts stored in `[now - retention, until_us)`.
async fn load(
    store: &dyn Store,
    retention_days: u32,
    now_secs: u32,
    until_us: u64,
    progress: &mut (dyn FnMut(u64) + Send),
) -> Result<LikeGraph, StoreError> {
    let window_start = now_secs.saturating_sub(retention_days.saturating_mul(86_400));
    let expected = store.counts().await?.likes as usize;
    let mut builder = GraphBuilder::with_capacity(window_start, expected);
    let mut read = 0u64;
    // Likes in the common form go to the builder in runs (see
    // `GraphBuilder::add_packed_likes`); any other flushes the run first,
    // so the builder sees every like in the store's order.
    let mut run: Vec<PackedLike> = Vec::with_capacity(PACKED_RUN);
    let mut sink = |like: LikeRef<'_>| {
        if like.time_us >= until_us {
            return;
        }
        let ts = secs_of_us(like.time_us);
        match PackedLike::of(like.did, like.subject, ts) {
            Some(packed) => {
                run.push(packed);
                if run.len() == PACKED_RUN {
                    builder.add_packed_likes(&run);
                    run.clear();
                }
            }
            None => {
                builder.add_packed_likes(&run);
                run.clear();
                builder.add_like_ref(like.did, like.subject, ts);
            }
        }
        read += 1;
        if read.is_multiple_of(100_000) {
            progress(read);
        }
    };
    store
        .scan_likes(u64::from(window_start) * 1_000_000, &mut sink)
        .await?;
    builder.add_packed_likes(&run);
    // Removals before posts: the store holds a post of a deleted key or
    // account only when it was created after the deletion.
    store
        .scan_removed_posts(&mut |removed| match removed {
            RemovedRef::Post { did, rkey } => {
                builder.remove_post(&post_uri(did, rkey));
            }
            RemovedRef::Account { did } => {
                builder.remove_account(did);
            }
            RemovedRef::Hidden { did } => {
                builder.hide_account(did);
            }
        })
        .await?;
    let mut sink = |post: PostRef<'_>| {
        if post.time_us >= until_us {
            return;
        }
        builder.add_post(&post_uri(post.did, post.rkey), post.time_us, post.post);
        read += 1;
        if read.is_multiple_of(100_000) {
            progress(read);
        }
    };
    store
        .scan_posts(u64::from(window_start) * 1_000_000, &mut sink)
        .await?;
    progress(read);
    Ok(builder.build())
}

#[cfg(test)]
mod tests {
    use super::*;
    use feedmixer_store::testkit::{create, did, open_temp, post, post_create, post_record};

    const DAY_US: u64 = 86_400 * 1_000_000;

    #[tokio::test]
    async fn a_graph_before_a_time_holds_only_what_was_stored_before_it() {
        let (_dir, store) = open_temp();
        let t0 = 100 * DAY_US;
        let (author, rkey) = ("did:plc:author000", "3post000007");
        store
            .apply(&[
                create(&did(1), "a", &post(1), t0 - 3 * DAY_US),
                create(&did(1), "b", &post(2), t0 - 1),
                create(&did(2), "c", &post(1), t0),
                create(&did(3), "d", &post(3), t0 + 5),
                post_create(author, rkey, post_record(&["en"], ""), t0 + 1),
            ])
            .await
            .unwrap();
        let until = (t0 / 1_000_000) as u32;
        let graph = load_graph_before(&store, 7, until, &mut |_| {})
            .await
            .unwrap();
        assert_eq!(graph.num_likes(), 2, "the two likes before the time");
        assert!(graph.user_id(&did(2)).is_none() && graph.user_id(&did(3)).is_none());
        assert_eq!(graph.num_indexed_posts(), 0, "the post came later");
        let narrow = load_graph_before(&store, 1, until, &mut |_| {})
            .await
            .unwrap();
        assert_eq!(narrow.num_likes(), 1, "the window ends at the time");
        let now = load_graph(&store, 7, until + 10, &mut |_| {})
            .await
            .unwrap();
        assert_eq!((now.num_likes(), now.num_indexed_posts()), (4, 1));
    }
}
