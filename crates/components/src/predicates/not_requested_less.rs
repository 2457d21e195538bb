//! `not_requested_less`: drops what the viewer asked to see less of
//! (requestLess through sendInteractions); `interaction_feedback` demotes
//! the author too.

use std::sync::Arc;

use async_trait::async_trait;
use feedmixer_flow::{
    Candidate, ComponentError, FeatureKey, Kind, NoParams, Params, Predicate, Registration,
    RequestContext, register,
};

use crate::features::viewer_feedback::ViewerFeedback;

pub const KIND: Kind<dyn Predicate> = Kind {
    name: "not_requested_less",
    description: "Drops posts the viewer asked to see less of (requestLess)",
    reads: &[FeatureKey::of::<ViewerFeedback>()],
    params: NoParams::docs,
    build: |table| {
        NoParams::from_table(table)?;
        Ok(Arc::new(NotRequestedLess))
    },
};

register!(Registration::Predicate(KIND));

pub struct NotRequestedLess;

#[async_trait]
impl Predicate for NotRequestedLess {
    async fn keep(
        &self,
        ctx: &RequestContext,
        candidates: &[Candidate],
    ) -> Result<Vec<bool>, ComponentError> {
        Ok(match ctx.feature::<ViewerFeedback>() {
            None => vec![true; candidates.len()],
            Some(feedback) => candidates
                .iter()
                .map(|c| !feedback.less_posts.contains(&c.post))
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
    async fn drops_requested_less_posts_but_not_seen_ones() {
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
        let not_less = (KIND.build)(toml::Table::new()).unwrap();
        assert_eq!(
            not_less.keep(&context, &candidates).await.unwrap(),
            vec![true; 3]
        );
        context
            .features
            .insert::<ViewerFeedback>(Arc::new(Feedback::new(&g, &history)));
        assert_eq!(
            not_less.keep(&context, &candidates).await.unwrap(),
            vec![true, false, true]
        );
    }

    #[test]
    fn takes_no_params() {
        assert!((KIND.build)(toml::from_str("x = 1").unwrap()).is_err());
    }
}
