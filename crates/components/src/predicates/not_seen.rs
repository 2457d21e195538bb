//! `not_seen`: drops what the viewer already saw in a feed (interactionSeen
//! through sendInteractions).

use std::sync::Arc;

use async_trait::async_trait;
use feedmixer_flow::{
    Candidate, ComponentError, FeatureKey, Kind, NoParams, Params, Predicate, Registration,
    RequestContext, register,
};

use crate::features::viewer_feedback::ViewerFeedback;

pub const KIND: Kind<dyn Predicate> = Kind {
    name: "not_seen",
    description: "Drops posts the viewer has already seen (interactionSeen)",
    reads: &[FeatureKey::of::<ViewerFeedback>()],
    params: NoParams::docs,
    build: |table| {
        NoParams::from_table(table)?;
        Ok(Arc::new(NotSeen))
    },
};

register!(Registration::Predicate(KIND));

pub struct NotSeen;

#[async_trait]
impl Predicate for NotSeen {
    async fn keep(
        &self,
        ctx: &RequestContext,
        candidates: &[Candidate],
    ) -> Result<Vec<bool>, ComponentError> {
        Ok(match ctx.feature::<ViewerFeedback>() {
            None => vec![true; candidates.len()],
            Some(feedback) => candidates
                .iter()
                .map(|c| !feedback.seen.contains(&c.post))
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::viewer_feedback::Feedback;
    use crate::testing::{candidate, ctx, graph, post};
    use feedmixer_atproto::InteractionEvent;
    use feedmixer_store::Interaction;

    #[tokio::test]
    async fn drops_seen_posts() {
        let (a, b) = (post("x", 1), post("x", 2));
        let g = graph(&[("u", &a, 60), ("u", &b, 60)]);
        let candidates = [candidate(&g, &a, &[1.0]), candidate(&g, &b, &[1.0])];
        let mut context = ctx(&g, Some("u"));
        let not_seen = (KIND.build)(toml::Table::new()).unwrap();
        // Without feedback nothing is dropped.
        assert_eq!(
            not_seen.keep(&context, &candidates).await.unwrap(),
            vec![true; 2]
        );
        let history = [Interaction {
            item: a.clone(),
            event: InteractionEvent::Seen,
            time_us: 1,
        }];
        context
            .features
            .insert::<ViewerFeedback>(Arc::new(Feedback::new(&g, &history)));
        assert_eq!(
            not_seen.keep(&context, &candidates).await.unwrap(),
            vec![false, true]
        );
    }

    #[test]
    fn takes_no_params() {
        assert!((KIND.build)(toml::from_str("x = 1").unwrap()).is_err());
    }
}
