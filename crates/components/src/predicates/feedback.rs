//! `not_seen` and `not_requested_less`: drop what the viewer already saw,
//! or asked to see less of, through sendInteractions.

use std::sync::Arc;

use async_trait::async_trait;
use feedmixer_flow::registry::Kind;
use feedmixer_flow::{Candidate, ComponentError, Feedback, Params, Predicate, RequestContext};
use feedmixer_graph::PostId;
use rustc_hash::FxHashSet;
use serde::Deserialize;

pub const NOT_SEEN: Kind<dyn Predicate> = Kind {
    name: "not_seen",
    description: "Drops posts the viewer has already seen (interactionSeen)",
    build: |table| {
        NoParams::from_table(table)?;
        Ok(Arc::new(Drop(|f: &Feedback| &f.seen)))
    },
};

pub const NOT_REQUESTED_LESS: Kind<dyn Predicate> = Kind {
    name: "not_requested_less",
    description: "Drops posts the viewer asked to see less of (requestLess)",
    build: |table| {
        NoParams::from_table(table)?;
        Ok(Arc::new(Drop(|f: &Feedback| &f.less_posts)))
    },
};

/// No params: the table must be empty.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoParams {}

impl Params for NoParams {}

/// Drops the candidates in one of the viewer's feedback sets.
struct Drop(fn(&Feedback) -> &FxHashSet<PostId>);

#[async_trait]
impl Predicate for Drop {
    async fn keep(
        &self,
        ctx: &RequestContext,
        candidates: &[Candidate],
    ) -> Result<Vec<bool>, ComponentError> {
        Ok(match &ctx.feedback {
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
    use super::*;
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
        let not_seen = (NOT_SEEN.build)(toml::Table::new()).unwrap();
        let not_less = (NOT_REQUESTED_LESS.build)(toml::Table::new()).unwrap();
        // Without feedback nothing is dropped.
        assert_eq!(
            not_seen.keep(&context, &candidates).await.unwrap(),
            vec![true; 3]
        );
        context.feedback = Some(Arc::new(Feedback::new(&g, &history)));
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
        assert!((NOT_SEEN.build)(toml::from_str("x = 1").unwrap()).is_err());
        assert!((NOT_REQUESTED_LESS.build)(toml::from_str("x = 1").unwrap()).is_err());
    }
}
