//! The popularity baseline every evaluation reports beside the feeds: the
//! most-liked posts of the last 24 hours before T, the same list for
//! everyone, skipping what the user already liked and their own posts (as
//! every shipped feed does).

use feedmixer_graph::{LikeGraph, PostId, UserId, like_counts_in};

/// The window the baseline counts likes in.
pub const WINDOW_SECS: u32 = 24 * 3600;

/// The servable posts liked in the window, most likes first (ties by
/// lower post id, which is the graph's interning order).
pub struct Popularity {
    ranked: Vec<PostId>,
}

impl Popularity {
    /// Counts the likes of `[now - window, now)` in `graph` (the graph as
    /// of T holds none after).
    pub fn new(graph: &LikeGraph, now_secs: u32, window_secs: u32) -> Self {
        let from = now_secs.saturating_sub(window_secs);
        let mut counted: Vec<(usize, PostId)> = (0..graph.num_posts() as PostId)
            .filter(|&p| graph.is_servable(p))
            .map(|p| (like_counts_in(graph, p, from, now_secs), p))
            .filter(|&(likes, _)| likes > 0)
            .collect();
        counted.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        Popularity {
            ranked: counted.into_iter().map(|(_, p)| p).collect(),
        }
    }

    /// The first `k` posts of the list that `user` neither liked nor wrote.
    pub fn for_user(&self, graph: &LikeGraph, user: UserId, k: usize) -> Vec<PostId> {
        self.ranked
            .iter()
            .copied()
            .filter(|&p| graph.post_author(p) != user && !graph.has_liked(user, p))
            .take(k)
            .collect()
    }

    /// Every post of the list, best first.
    pub fn ranked(&self) -> &[PostId] {
        &self.ranked
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use feedmixer_graph::GraphBuilder;

    const NOW: u32 = 1_000_000;
    const HOUR: u32 = 3600;

    fn post(n: usize) -> String {
        format!("at://did:plc:a{}/app.bsky.feed.post/{n}", n % 2)
    }

    /// Post n has n likes in the last day (by users l0..ln); post 9 has
    /// 20 likes, all older than a day; user `v` liked post 2.
    fn graph() -> LikeGraph {
        let mut b = GraphBuilder::new(0);
        for n in 1..=5 {
            for l in 0..n {
                b.add_like(&format!("did:plc:l{l}"), &post(n), NOW - HOUR);
            }
        }
        for l in 0..20 {
            b.add_like(&format!("did:plc:l{l}"), &post(9), NOW - 30 * HOUR);
        }
        b.add_like("did:plc:v", &post(2), NOW - 40 * HOUR);
        b.build()
    }

    #[test]
    fn most_liked_in_the_window_first() {
        let g = graph();
        let pop = Popularity::new(&g, NOW, WINDOW_SECS);
        let ranked: Vec<String> = pop.ranked().iter().map(|&p| g.post_uri(p)).collect();
        assert_eq!(ranked, [post(5), post(4), post(3), post(2), post(1)]);
        let wider = Popularity::new(&g, NOW, 48 * HOUR);
        assert_eq!(g.post_uri(wider.ranked()[0]), post(9), "20 likes in 48 h");
    }

    #[test]
    fn skips_what_the_user_liked_and_wrote() {
        let g = graph();
        let pop = Popularity::new(&g, NOW, WINDOW_SECS);
        let uris =
            |posts: Vec<PostId>| -> Vec<String> { posts.iter().map(|&p| g.post_uri(p)).collect() };
        let v = g.user_id("did:plc:v").unwrap();
        assert_eq!(uris(pop.for_user(&g, v, 3)), [post(5), post(4), post(3)]);
        assert_eq!(
            uris(pop.for_user(&g, v, 10)),
            [post(5), post(4), post(3), post(1)]
        );
        // l3 liked posts 4 and 5 (and 9); a1 wrote the odd posts.
        let l3 = g.user_id("did:plc:l3").unwrap();
        assert_eq!(uris(pop.for_user(&g, l3, 10)), [post(3), post(2), post(1)]);
        let a1 = g.user_id("did:plc:a1").unwrap();
        assert_eq!(uris(pop.for_user(&g, a1, 10)), [post(4), post(2)]);
    }
}
