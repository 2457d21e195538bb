//! The small hand-checked graph the unit tests share.
//!
//! Time is `NOW` minus whole hours and the half-life is one hour, so every
//! decay factor is a power of 1/2 and expected scores are exact fractions.
//! `Hh` below means "liked H hours before NOW".
//!
//! ```text
//! user   likes (post@age)               deg
//! V      p0@0h  p1@1h                   2    (the viewer)
//! A      p0@1h  p2@0h  p3@2h            3
//! B      p0@2h  p1@0h  p3@1h  p4@1h     4
//! C      p1@2h  p5@0h                   2
//! X      (authors every post, likes nothing)
//!
//! post   likers                         deg
//! p0     V@0h A@1h B@2h                 3
//! p1     V@1h B@0h C@2h                 3
//! p2     A@0h                           1
//! p3     A@2h B@1h                      2
//! p4     B@1h                           1
//! p5     C@0h                           1
//! ```

use crate::{GraphBuilder, LikeGraph, PostId, UserId};

pub(crate) const NOW: u32 = 1_000_000;
pub(crate) const HOUR: u32 = 3_600;
pub(crate) const AUTHOR: &str = "did:plc:xauthor";

pub(crate) fn did(name: &str) -> String {
    format!("did:plc:{name}")
}

pub(crate) fn uri(post: usize) -> String {
    format!("at://{AUTHOR}/app.bsky.feed.post/p{post}")
}

/// The graph above. Likes are added out of time order (but posts are first
/// mentioned in order, so `p0..p5` get ids 0..5), plus a repeated like of
/// B on p3, newer than the original, that must not change anything.
pub(crate) fn graph() -> LikeGraph {
    let likes: [(&str, usize, u32); 12] = [
        ("v", 0, 0),
        ("b", 1, 0),
        ("a", 2, 0),
        ("b", 3, 1),
        ("b", 4, 1),
        ("c", 5, 0),
        ("a", 0, 1),
        ("v", 1, 1),
        ("b", 0, 2),
        ("c", 1, 2),
        ("a", 3, 2),
        ("b", 3, 0), // repeat: the earlier p3@1h stays
    ];
    let mut builder = GraphBuilder::new(NOW - 24 * HOUR);
    for (user, post, hours) in likes {
        assert!(builder.add_like(&did(user), &uri(post), NOW - hours * HOUR));
    }
    // Refused: too old, not a post.
    assert!(!builder.add_like(&did("a"), &uri(4), NOW - 25 * HOUR));
    assert!(!builder.add_like(&did("a"), "at://did:plc:xauthor/app.bsky.feed.like/p4", NOW));
    builder.build()
}

pub(crate) fn user(g: &LikeGraph, name: &str) -> UserId {
    g.user_id(&did(name)).expect("user in fixture")
}

pub(crate) fn post(g: &LikeGraph, p: usize) -> PostId {
    let id = g.post_id(&uri(p)).expect("post in fixture");
    assert_eq!(id as usize, p);
    id
}

/// Asserts `got` is `expected` (post index, exact score) in that order, to
/// 1e-6 relative.
#[track_caller]
pub(crate) fn assert_scores(got: &[(PostId, f32)], expected: &[(usize, f64)]) {
    let ids: Vec<usize> = got.iter().map(|&(p, _)| p as usize).collect();
    let want: Vec<usize> = expected.iter().map(|&(p, _)| p).collect();
    assert_eq!(ids, want, "order: got {got:?}");
    for (&(p, score), &(_, exact)) in got.iter().zip(expected) {
        let err = (f64::from(score) - exact).abs() / exact.abs();
        assert!(err <= 1e-6, "p{p}: {score} vs {exact} (rel err {err:e})");
    }
}
