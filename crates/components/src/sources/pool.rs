//! `pool`: the feed's candidate pool as candidates — the posts an operator
//! admitted to the feed, freshest and most liked first.
//!
//! score(p) = (1 + likes of p in the window) x decay(age of p), with the
//! post's age from its TID record key (or its first like) and
//! decay(age) = 2^(-age / half_life). Pool posts nobody has liked in the
//! window are not in the graph and cannot be candidates yet.

use std::sync::Arc;

use async_trait::async_trait;
use feedmixer_flow::{
    CandidateSource, ComponentError, FeatureKey, Fetched, Kind, Params, Registration,
    RequestContext, SourceScores, params, register,
};
use feedmixer_graph::post_created_secs;

use crate::features::feed_pool::FeedPool;
use crate::hours_to_secs;

pub const KIND: Kind<dyn CandidateSource> = Kind {
    name: "pool",
    description: "The feed's candidate pool, freshest and most liked first",
    reads: &[FeatureKey::of::<FeedPool>()],
    params: PoolParams::docs,
    build: |table| Ok(Arc::new(PoolSource(PoolParams::from_table(table)?))),
};

register!(Registration::Source(KIND));

params! {
    /// How pool posts are scored.
    pub struct PoolParams {
        /// Half-life of a post's freshness, hours.
        half_life_hours: f64 = 24.0, in 0.01..=8760.0;
        /// Candidates returned.
        max_results: usize = 500, in 1..=10_000;
    }
}

pub struct PoolSource(PoolParams);

#[async_trait]
impl CandidateSource for PoolSource {
    async fn fetch(&self, ctx: &RequestContext) -> Result<Fetched, ComponentError> {
        let Some(pool) = ctx.feature::<FeedPool>() else {
            return Ok(Fetched::default());
        };
        let graph = &ctx.graph;
        let half_life = f64::from(hours_to_secs(self.0.half_life_hours).max(1));
        let mut scores: SourceScores = pool
            .iter()
            .filter_map(|uri| graph.post_id(uri))
            .map(|post| {
                let age = ctx.now_secs.saturating_sub(post_created_secs(graph, post));
                let likes = graph.likers_of(post).len() as f64;
                let score = (1.0 + likes) * (-(f64::from(age)) / half_life).exp2();
                (post, score as f32)
            })
            .collect();
        scores.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        scores.truncate(self.0.max_results);
        Ok(scores.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{ctx, graph, post};
    use crate::features::feed_pool::Pool;

    #[tokio::test]
    async fn scores_pool_posts_in_the_graph_by_likes_and_freshness() {
        let (a, b, c, outside) = (post("x", 1), post("x", 2), post("x", 3), post("x", 4));
        // a: 2 likes, first liked 1 h ago; b: 1 like 1 h ago; c: 1 like 25 h ago.
        let g = graph(&[
            ("u1", &a, 3600),
            ("u2", &a, 3600),
            ("u1", &b, 3600),
            ("u1", &c, 25 * 3600),
            ("u1", &outside, 60),
        ]);
        let source = PoolSource(PoolParams::default());
        let mut c_ctx = ctx(&g, None);
        assert!(
            source.fetch(&c_ctx).await.unwrap().scores.is_empty(),
            "no pool, nothing"
        );
        let never_liked = "at://did:plc:x/app.bsky.feed.post/p9".to_string();
        c_ctx.features.insert::<FeedPool>(Arc::new(Pool::new([
            a.clone(),
            b.clone(),
            c.clone(),
            never_liked,
        ])));
        let found = source.fetch(&c_ctx).await.unwrap().scores;
        let posts: Vec<String> = found.iter().map(|(p, _)| g.post_uri(*p)).collect();
        assert_eq!(posts, vec![a.as_str(), b.as_str(), c.as_str()]);
        let decay_1h = (-1.0f64 / 24.0).exp2();
        assert!((f64::from(found[0].1) - 3.0 * decay_1h).abs() < 1e-5);
        assert!((f64::from(found[1].1) - 2.0 * decay_1h).abs() < 1e-5);
        assert!((f64::from(found[2].1) - 2.0 * (-25.0f64 / 24.0).exp2()).abs() < 1e-5);
    }

    #[test]
    fn params_have_bounds() {
        assert!((KIND.build)(toml::from_str("max_results = 0").unwrap()).is_err());
        assert!((KIND.build)(toml::from_str("half_life_hours = 0.0").unwrap()).is_err());
    }
}
