//! `interaction_feedback`: acts on "show less / show more like this".
//!
//! Each requestLess on a post of an author scales that author's posts by
//! `less_author_factor` (compounding, down to `min_factor`); requestMore
//! scales the author's posts by `more_author_factor`, and boosts posts
//! that the likers of the requested post also liked — "more like this" as
//! a one-hop walk from the post — by `more_related_factor`. The list is
//! then re-sorted by score.

use std::sync::Arc;

use async_trait::async_trait;
use feedmixer_flow::candidate::rescored;
use feedmixer_flow::{
    Candidate, ComponentError, FeatureKey, Kind, Params, Registration, RequestContext, Transform,
    params, register,
};
use feedmixer_graph::{LikeGraph, PostId};
use rustc_hash::FxHashSet;

use crate::features::viewer_feedback::{Feedback, ViewerFeedback};

pub const KIND: Kind<dyn Transform> = Kind {
    name: "interaction_feedback",
    description: "Demotes authors the viewer asked less of, boosts authors and related posts \
                  the viewer asked more of, and re-sorts",
    reads: &[FeatureKey::of::<ViewerFeedback>()],
    params: InteractionFeedbackParams::docs,
    build: |table| {
        Ok(Arc::new(InteractionFeedback(
            InteractionFeedbackParams::from_table(table)?,
        )))
    },
};

register!(Registration::Transform(KIND));

params! {
    /// How strongly "show less / show more" moves posts.
    pub struct InteractionFeedbackParams {
        /// Factor on an author's posts per requestLess on one of them (compounding).
        less_author_factor: f32 = 0.5, in 0.0..=1.0;
        /// The lowest factor compounding requestLess reaches.
        min_factor: f32 = 0.05, in 0.0..=1.0;
        /// Factor on the posts of an author the viewer asked more of.
        more_author_factor: f32 = 1.5, in 1.0..=100.0;
        /// Factor on posts that likers of a requested post also liked.
        more_related_factor: f32 = 1.3, in 1.0..=100.0;
        /// Likers of each requested post followed, newest first.
        max_related_likers: usize = 100, in 0..=10_000;
        /// Likes of each of those likers read, newest first.
        max_likes_per_liker: usize = 50, in 0..=10_000;
        /// requestMore posts followed, newest first.
        max_more_posts: usize = 20, in 0..=1_000;
    }
}

pub struct InteractionFeedback(InteractionFeedbackParams);

impl InteractionFeedback {
    /// Posts the likers of the viewer's requestMore posts also liked.
    fn related(&self, graph: &LikeGraph, feedback: &Feedback) -> FxHashSet<PostId> {
        let p = &self.0;
        let mut related = FxHashSet::default();
        for &post in feedback.more_posts.iter().take(p.max_more_posts) {
            for liker in graph
                .likers_of(post)
                .iter()
                .rev()
                .take(p.max_related_likers)
            {
                let likes = graph.likes_of(liker.id);
                related.extend(likes.iter().rev().take(p.max_likes_per_liker).map(|e| e.id));
            }
        }
        related
    }

    /// The factor `feedback` puts on one candidate.
    fn factor(&self, feedback: &Feedback, related: &FxHashSet<PostId>, c: &Candidate) -> f32 {
        let p = &self.0;
        let mut factor = 1.0f32;
        if let Some(&n) = feedback.less_authors.get(&c.author) {
            factor *= p
                .less_author_factor
                .powi(n.min(64) as i32)
                .max(p.min_factor);
        }
        if feedback.more_authors.contains_key(&c.author) {
            factor *= p.more_author_factor;
        }
        if related.contains(&c.post) {
            factor *= p.more_related_factor;
        }
        factor
    }
}

#[async_trait]
impl Transform for InteractionFeedback {
    async fn transform(
        &self,
        ctx: &RequestContext,
        candidates: &[Candidate],
    ) -> Result<Vec<Candidate>, ComponentError> {
        let Some(feedback) = ctx.feature::<ViewerFeedback>() else {
            return Ok(candidates.to_vec());
        };
        let related = self.related(&ctx.graph, feedback);
        Ok(rescored(candidates, |c| self.factor(feedback, &related, c)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{candidate, ctx, graph, post, uris};
    use feedmixer_atproto::InteractionEvent;
    use feedmixer_store::Interaction;

    fn scored(g: &LikeGraph, uri: &str, score: f32) -> Candidate {
        Candidate {
            score,
            ..candidate(g, uri, &[score])
        }
    }

    #[tokio::test]
    async fn less_demotes_the_author_and_more_boosts_author_and_related_posts() {
        let (x1, x2, y1, z1, z2, w1) = (
            post("x", 1),
            post("x", 2),
            post("y", 1),
            post("z", 1),
            post("z", 2),
            post("w", 1),
        );
        // fan liked z1 (the requested post) and w1: w1 is related.
        let g = graph(&[
            ("u", &x1, 60),
            ("u", &x2, 60),
            ("u", &y1, 60),
            ("fan", &z1, 60),
            ("fan", &w1, 50),
            ("u", &z2, 60),
        ]);
        let list = vec![
            scored(&g, &x1, 1.0),
            scored(&g, &y1, 0.9),
            scored(&g, &w1, 0.8),
            scored(&g, &z2, 0.7),
        ];
        let history = [
            Interaction {
                item: x2.clone(),
                event: InteractionEvent::RequestLess,
                time_us: 2,
            },
            Interaction {
                item: z1.clone(),
                event: InteractionEvent::RequestMore,
                time_us: 1,
            },
        ];
        let mut context = ctx(&g, Some("u"));
        let t = InteractionFeedback(InteractionFeedbackParams::default());
        assert_eq!(t.transform(&context, &list).await.unwrap(), list);

        context
            .features
            .insert::<ViewerFeedback>(Arc::new(Feedback::new(&g, &history)));
        let out = t.transform(&context, &list).await.unwrap();
        // z2: 0.7 * 1.5 = 1.05; w1: 0.8 * 1.3 = 1.04; y1 0.9; x1: 1.0 * 0.5.
        assert_eq!(uris(&g, &out), vec![z2, w1, y1, x1]);
        assert!((out[3].score - 0.5).abs() < 1e-6);
    }

    #[test]
    fn factors_out_of_range_are_refused() {
        for bad in [
            "less_author_factor = 1.5",
            "more_author_factor = 0.5",
            "nope = 1",
        ] {
            assert!((KIND.build)(toml::from_str(bad).unwrap()).is_err(), "{bad}");
        }
    }
}
