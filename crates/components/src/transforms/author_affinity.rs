//! `author_affinity`: lifts posts by the authors the viewer likes most,
//! then re-sorts: score x (1 + `boost` x affinity), affinity in [0, 1] from
//! the `viewer_author_affinity` feature (the viewer's likes of the author's
//! posts over those of their most liked author).

use std::sync::Arc;

use async_trait::async_trait;
use feedmixer_flow::candidate::rescored;
use feedmixer_flow::{
    Candidate, ComponentError, FeatureKey, Kind, Params, Registration, RequestContext, Transform,
    params, register,
};

use crate::features::viewer_author_affinity::ViewerAuthorAffinity;

pub const KIND: Kind<dyn Transform> = Kind {
    name: "author_affinity",
    description: "Lifts posts by the authors the viewer likes most, and re-sorts",
    reads: &[FeatureKey::of::<ViewerAuthorAffinity>()],
    params: AuthorAffinityParams::docs,
    build: |table| Ok(Arc::new(AuthorAffinity(AuthorAffinityParams::from_table(table)?))),
};

register!(Registration::Transform(KIND));

params! {
    /// How much affinity with an author lifts their posts.
    pub struct AuthorAffinityParams {
        /// Score factor for the viewer's most liked author, minus one.
        boost: f32 = 0.5, in 0.0..=10.0;
    }
}

pub struct AuthorAffinity(AuthorAffinityParams);

#[async_trait]
impl Transform for AuthorAffinity {
    async fn transform(
        &self,
        ctx: &RequestContext,
        candidates: &[Candidate],
    ) -> Result<Vec<Candidate>, ComponentError> {
        let Some(affinity) = ctx.feature::<ViewerAuthorAffinity>() else {
            return Ok(candidates.to_vec());
        };
        Ok(rescored(candidates, |c| {
            1.0 + self.0.boost * affinity.get(c.author)
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::viewer_author_affinity::AuthorAffinity as Affinity;
    use crate::testing::{candidate, ctx, graph, post, uris};

    #[tokio::test]
    async fn lifts_liked_authors_past_better_scored_posts() {
        let (a1, a2, b1) = (post("a", 1), post("a", 2), post("b", 1));
        let g = graph(&[("me", &a1, 60), ("u", &a2, 60), ("u", &b1, 60)]);
        let scored = |uri: &str, score: f32| Candidate {
            score,
            ..candidate(&g, uri, &[score])
        };
        let list = vec![scored(&b1, 1.0), scored(&a2, 0.8)];
        let t = (KIND.build)(toml::Table::new()).unwrap();
        let mut context = ctx(&g, Some("me"));
        assert_eq!(t.transform(&context, &list).await.unwrap(), list, "no feature");

        let viewer = context.viewer.unwrap();
        context
            .features
            .insert::<ViewerAuthorAffinity>(Arc::new(Affinity::of(&g, viewer)));
        let out = t.transform(&context, &list).await.unwrap();
        // a2: 0.8 x (1 + 0.5 x 1.0) = 1.2 over b1's 1.0.
        assert_eq!(uris(&g, &out), vec![a2, b1]);
        assert!((out[0].score - 1.2).abs() < 1e-6);
    }
}
