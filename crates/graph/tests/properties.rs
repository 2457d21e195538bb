//! Property tests: the builder against a set-of-likes model, and the walk
//! against a plain f64 transcription of its formula.

use std::collections::HashMap;

use feedmixer_graph::{
    Edge, GraphBuilder, LikeGraph, PostId, UserId, WalkParams, WalkScratch, recent_like_scores,
    walk,
};
use proptest::prelude::*;

const NOW: u32 = 1_000_000;
const WINDOW_START: u32 = NOW - 86_400;

fn did(u: u8) -> String {
    format!("did:plc:user{u}")
}

fn uri(p: u8) -> String {
    // Authors are users too, some of them likers.
    format!("at://did:plc:user{}/app.bsky.feed.post/p{p}", p % 7)
}

/// Likes as `(user, post, seconds before NOW)`, some before the window.
fn likes() -> impl Strategy<Value = Vec<(u8, u8, u32)>> {
    prop::collection::vec((0u8..12, 0u8..16, 0u32..100_000), 0..80)
}

fn build(likes: &[(u8, u8, u32)]) -> LikeGraph {
    let mut builder = GraphBuilder::new(WINDOW_START);
    for &(u, p, age) in likes {
        let added = builder.add_like(&did(u), &uri(p), NOW - age);
        assert_eq!(added, NOW - age >= WINDOW_START);
    }
    builder.build()
}

fn params() -> impl Strategy<Value = WalkParams> {
    (
        (1usize..8, 1usize..8, 1usize..12, 1usize..8),
        (
            3_600u32..200_000,
            0.0f32..2.0,
            0.0f32..2.0,
            prop_oneof![Just(0.0f32), 0.0f32..2.0],
        ),
    )
        .prop_map(
            |((likes, likers, colikers, per_coliker), (hl, spec, pop, paths))| WalkParams {
                max_likes: likes,
                max_likers_per_post: likers,
                max_colikers: colikers,
                max_likes_per_coliker: per_coliker,
                half_life_secs: hl,
                specificity_power: spec,
                popularity_power: pop,
                num_paths_power: paths,
                max_results: usize::MAX,
            },
        )
}

/// The walk formula, transcribed as plainly as possible, in f64. (Half-lives
/// of an hour or more keep every f32 product clear of underflow.)
fn reference(g: &LikeGraph, viewer: UserId, p: &WalkParams) -> HashMap<PostId, f64> {
    let decay = |ts: u32| {
        let age = f64::from(NOW.saturating_sub(ts));
        (-std::f64::consts::LN_2 * age / f64::from(p.half_life_secs)).exp()
    };
    let inv_pow = |deg: usize, power: f32| (1.0 / deg as f64).powf(f64::from(power));
    let newest =
        |edges: &[Edge], n: usize| -> Vec<Edge> { edges.iter().rev().take(n).copied().collect() };
    let viewer_likes = g.likes_of(viewer);
    let mut order: Vec<UserId> = Vec::new();
    let mut w: HashMap<UserId, f64> = HashMap::new();
    for j in newest(viewer_likes, p.max_likes) {
        let likers = g.likers_of(j.id);
        for s in newest(likers, p.max_likers_per_post) {
            if s.id == viewer {
                continue;
            }
            let add = (1.0 / viewer_likes.len() as f64)
                * inv_pow(likers.len(), p.popularity_power)
                * inv_pow(g.likes_of(s.id).len(), p.specificity_power)
                * decay(j.ts)
                * decay(s.ts);
            if let Some(ws) = w.get_mut(&s.id) {
                *ws += add;
            } else if order.len() < p.max_colikers {
                order.push(s.id);
                w.insert(s.id, add);
            }
        }
    }
    let mut scores: HashMap<PostId, (f64, u32)> = HashMap::new();
    for s in order {
        if w[&s] <= 0.0 {
            continue;
        }
        for i in newest(g.likes_of(s), p.max_likes_per_coliker) {
            if g.has_liked(viewer, i.id) {
                continue;
            }
            let entry = scores.entry(i.id).or_default();
            entry.0 += w[&s] * decay(i.ts);
            entry.1 += 1;
        }
    }
    scores
        .into_iter()
        .map(|(i, (score, paths))| {
            let boost = if p.num_paths_power != 0.0 {
                f64::from(paths).powf(f64::from(p.num_paths_power))
            } else {
                1.0
            };
            (i, score * boost)
        })
        .filter(|&(_, score)| score > 0.0)
        .collect()
}

fn sorted(scores: &[(PostId, f32)]) -> bool {
    scores
        .windows(2)
        .all(|w| w[0].1 > w[1].1 || (w[0].1 == w[1].1 && w[0].0 < w[1].0))
}

proptest! {
    #[test]
    fn builder_keeps_each_pair_once_at_its_earliest_time(likes in likes()) {
        let g = build(&likes);
        let mut model: HashMap<(String, String), u32> = HashMap::new();
        for &(u, p, age) in &likes {
            if NOW - age >= WINDOW_START {
                let ts = model.entry((did(u), uri(p))).or_insert(NOW - age);
                *ts = (*ts).min(NOW - age);
            }
        }
        prop_assert_eq!(g.num_likes(), model.len());
        let mut seen = 0;
        for u in 0..g.num_users() as UserId {
            let row = g.likes_of(u);
            prop_assert!(row.is_sorted_by_key(|e| e.ts));
            for e in row {
                let key = (g.user_did(u), g.post_uri(e.id));
                prop_assert_eq!(model.get(&key), Some(&e.ts));
                let back = Edge { id: u, ts: e.ts };
                prop_assert!(g.likers_of(e.id).contains(&back));
                prop_assert!(g.has_liked(u, e.id));
                seen += 1;
            }
        }
        prop_assert_eq!(seen, model.len());
        for p in 0..g.num_posts() as PostId {
            prop_assert!(g.likers_of(p).is_sorted_by_key(|e| e.ts));
            let uri = g.post_uri(p);
            prop_assert_eq!(g.post_id(&uri), Some(p));
            let author = uri.split('/').nth(2).unwrap();
            prop_assert_eq!(g.user_did(g.post_author(p)), author);
        }
        let likers = (0..g.num_users() as UserId).filter(|&u| !g.likes_of(u).is_empty()).count();
        prop_assert_eq!(g.num_likers(), likers);
    }

    #[test]
    fn walk_matches_the_formula(likes in likes(), viewer in 0u8..12, p in params()) {
        let g = build(&likes);
        let Some(viewer) = g.user_id(&did(viewer)) else { return Ok(()) };
        let got = walk(&g, viewer, &p, NOW, &mut WalkScratch::new());
        let want = reference(&g, viewer, &p);
        prop_assert_eq!(got.len(), want.len(), "got {:?} want {:?}", got, want);
        for &(i, score) in &got {
            let exact = want[&i];
            prop_assert!(
                (f64::from(score) - exact).abs() <= 1e-4 * exact,
                "post {}: {} vs {}", i, score, exact
            );
        }
    }

    #[test]
    fn walk_output_is_well_formed(
        likes in likes(),
        viewer in 0u8..12,
        p in params(),
        k in 0usize..6,
    ) {
        let g = build(&likes);
        let Some(viewer) = g.user_id(&did(viewer)) else { return Ok(()) };
        let mut scratch = WalkScratch::new();
        let all = walk(&g, viewer, &p, NOW, &mut scratch);
        prop_assert!(sorted(&all));
        for &(i, score) in &all {
            prop_assert!(score.is_finite() && score > 0.0);
            prop_assert!(!g.has_liked(viewer, i));
        }
        let top = walk(&g, viewer, &WalkParams { max_results: k, ..p }, NOW, &mut scratch);
        prop_assert_eq!(&top[..], &all[..k.min(all.len())]);
    }

    #[test]
    fn recent_scores_are_sorted_and_bounded(likes in likes(), window in 0u32..100_000) {
        let g = build(&likes);
        let scores = recent_like_scores(&g, NOW, window, 0, usize::MAX);
        prop_assert!(sorted(&scores));
        for &(p, count) in &scores {
            let in_window = g.likers_of(p).iter().filter(|e| e.ts >= NOW - window).count();
            prop_assert_eq!(count, in_window as f32);
        }
        let posts = (0..g.num_posts() as PostId)
            .filter(|&p| g.likers_of(p).iter().any(|e| e.ts >= NOW - window))
            .count();
        prop_assert_eq!(scores.len(), posts);
    }
}
