//! `freshness`: a soft preference for new posts, where `max_post_age` is a
//! hard cut: each score is multiplied by 2^(-age / `half_life_hours`), age
//! from the post's creation time (`post_created_secs`: its TID key's time,
//! never later than its first like), then the list is re-sorted.

use std::sync::Arc;

use async_trait::async_trait;
use feedmixer_flow::candidate::rescored;
use feedmixer_flow::{
    Candidate, ComponentError, Kind, Params, Registration, RequestContext, Transform, params,
    register,
};
use feedmixer_graph::post_created_secs;

pub const KIND: Kind<dyn Transform> = Kind {
    name: "freshness",
    description: "Multiplies each score by 2^(-post age / half-life) and re-sorts",
    reads: &[],
    params: FreshnessParams::docs,
    build: |table| Ok(Arc::new(Freshness(FreshnessParams::from_table(table)?))),
};

register!(Registration::Transform(KIND));

params! {
    /// How fast a post's score fades with its age.
    pub struct FreshnessParams {
        /// Age at which a post keeps half its score, hours.
        half_life_hours: f64 = 24.0, in 0.1..=8760.0;
    }
}

pub struct Freshness(FreshnessParams);

#[async_trait]
impl Transform for Freshness {
    async fn transform(
        &self,
        ctx: &RequestContext,
        candidates: &[Candidate],
    ) -> Result<Vec<Candidate>, ComponentError> {
        let half_life_secs = self.0.half_life_hours * 3600.0;
        Ok(rescored(candidates, |c| {
            let created = post_created_secs(&ctx.graph, c.post);
            let age = f64::from(ctx.now_secs.saturating_sub(created));
            (-age / half_life_secs).exp2() as f32
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{candidate, ctx, graph, post, uris};

    #[tokio::test]
    async fn older_posts_fade_by_half_lives() {
        // Keys are not TIDs: a post's age is its first like's.
        let (old, new) = (post("x", 1), post("y", 2));
        let g = graph(&[("u", &old, 48 * 3600), ("u", &new, 0)]);
        let scored = |uri: &str, score: f32| Candidate {
            score,
            ..candidate(&g, uri, &[score])
        };
        let list = vec![scored(&old, 3.0), scored(&new, 1.0)];
        let t = (KIND.build)(toml::Table::new()).unwrap();
        let out = t.transform(&ctx(&g, None), &list).await.unwrap();
        // old: 3.0 x 2^-2 = 0.75, below new's 1.0.
        assert_eq!(uris(&g, &out), vec![new, old]);
        assert!((out[1].score - 0.75).abs() < 1e-6);
    }

    #[test]
    fn params_have_bounds() {
        for bad in ["half_life_hours = 0.0", "half_life_hours = 9000.0", "half_life = 3"] {
            assert!((KIND.build)(toml::from_str(bad).unwrap()).is_err(), "{bad}");
        }
    }
}
