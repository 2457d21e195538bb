//! Start-up: the like graph is built from the store's like log and post
//! index, keeping what lies inside the retention window.

use feedmixer_atproto::post_uri;
use feedmixer_graph::{GraphBuilder, LikeGraph};
use feedmixer_store::{LikeRef, PostRef, RemovedRef, Store, StoreError};

/// Builds the graph from every stored like and post newer than `now -
/// retention`, hiding the deleted posts and the posts of deleted accounts.
/// `progress(records_read)` is called every 100k likes and posts.
pub async fn load_graph(
    store: &dyn Store,
    retention_days: u32,
    now_secs: u32,
    progress: &mut (dyn FnMut(u64) + Send),
) -> Result<LikeGraph, StoreError> {
    let window_start = now_secs.saturating_sub(retention_days.saturating_mul(86_400));
    let expected = store.counts().await?.likes as usize;
    let mut builder = GraphBuilder::with_capacity(window_start, expected);
    let mut read = 0u64;
    let mut sink = |like: LikeRef<'_>| {
        let ts = (like.time_us / 1_000_000).min(u64::from(u32::MAX)) as u32;
        builder.add_like(like.did, like.subject, ts);
        read += 1;
        if read.is_multiple_of(100_000) {
            progress(read);
        }
    };
    store
        .scan_likes(u64::from(window_start) * 1_000_000, &mut sink)
        .await?;
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
