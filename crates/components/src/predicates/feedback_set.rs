//! What `not_seen` and `not_requested_less` share: drop the candidates in
//! one of the viewer's feedback sets; keep everything without feedback.

use async_trait::async_trait;
use feedmixer_flow::{Candidate, ComponentError, Predicate, RequestContext};
use feedmixer_graph::PostId;
use rustc_hash::FxHashSet;

use crate::features::viewer_feedback::{Feedback, ViewerFeedback};

/// Drops the candidates in the set this picks from the viewer's feedback.
pub struct NotIn(pub fn(&Feedback) -> &FxHashSet<PostId>);

#[async_trait]
impl Predicate for NotIn {
    async fn keep(
        &self,
        ctx: &RequestContext,
        candidates: &[Candidate],
    ) -> Result<Vec<bool>, ComponentError> {
        Ok(match ctx.feature::<ViewerFeedback>() {
            None => vec![true; candidates.len()],
            Some(feedback) => {
                let drop = (self.0)(feedback);
                candidates.iter().map(|c| !drop.contains(&c.post)).collect()
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::features::viewer_feedback::{Feedback, ViewerFeedback};
    use crate::predicates::{not_requested_less, not_seen};
    use crate::testing::{candidate, ctx, graph, post};
    use feedmixer_atproto::InteractionEvent;
    use feedmixer_store::Interaction;

    #[tokio::test]
    async fn drops_seen_and_requested_less_posts() {
        let (a, b, c) = (post("x", 1), post("x", 2), post("y", 1));
        let g = graph(&[("u", &a, 60), ("u", &b, 60), ("u", &c, 60)]);
        let candidates: Vec<_> = [&a, &b, &c]
            .iter()
            .map(|p| candidate(&g, p, &[1.0]))
            .collect();
        let history = [
            Interaction {
                item: a.clone(),
                event: InteractionEvent::Seen,
                time_us: 2,
            },
            Interaction {
                item: b.clone(),
                event: InteractionEvent::RequestLess,
                time_us: 1,
            },
        ];
        let mut context = ctx(&g, Some("u"));
        let not_seen = (not_seen::KIND.build)(toml::Table::new()).unwrap();
        let not_less = (not_requested_less::KIND.build)(toml::Table::new()).unwrap();
        // Without feedback nothing is dropped.
        assert_eq!(
            not_seen.keep(&context, &candidates).await.unwrap(),
            vec![true; 3]
        );
        context
            .features
            .insert::<ViewerFeedback>(Arc::new(Feedback::new(&g, &history)));
        assert_eq!(
            not_seen.keep(&context, &candidates).await.unwrap(),
            vec![false, true, true]
        );
        assert_eq!(
            not_less.keep(&context, &candidates).await.unwrap(),
            vec![true, false, true]
        );
    }

    #[test]
    fn take_no_params() {
        assert!((not_seen::KIND.build)(toml::from_str("x = 1").unwrap()).is_err());
        assert!((not_requested_less::KIND.build)(toml::from_str("x = 1").unwrap()).is_err());
    }
}
