//! `already_liked`: drops posts the viewer has liked; showing them again
//! wastes a slot.

use std::sync::Arc;

use async_trait::async_trait;
use feedmixer_flow::{
    Candidate, ComponentError, Kind, NoParams, Params, Predicate, Registration, RequestContext,
    register,
};
use feedmixer_graph::PostId;

pub const KIND: Kind<dyn Predicate> = Kind {
    name: "already_liked",
    description: "Drops posts the viewer already liked",
    reads: &[],
    params: NoParams::docs,
    build: |table| {
        NoParams::from_table(table)?;
        Ok(Arc::new(AlreadyLiked))
    },
};

register!(Registration::Predicate(KIND));

pub struct AlreadyLiked;

#[async_trait]
impl Predicate for AlreadyLiked {
    async fn keep(
        &self,
        ctx: &RequestContext,
        candidates: &[Candidate],
    ) -> Result<Vec<bool>, ComponentError> {
        Ok(match ctx.viewer {
            None => vec![true; candidates.len()],
            // One sorted copy of the viewer's likes per request, not a
            // scan of a like list per candidate.
            Some(viewer) => {
                let mut liked: Vec<PostId> =
                    ctx.graph.likes_of(viewer).iter().map(|e| e.id).collect();
                liked.sort_unstable();
                candidates
                    .iter()
                    .map(|c| liked.binary_search(&c.post).is_err())
                    .collect()
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{candidate, ctx, graph, post};

    #[tokio::test]
    async fn drops_liked_posts_only() {
        let (a, b) = (post("x", 1), post("x", 2));
        let g = graph(&[("me", &a, 60), ("other", &b, 60)]);
        let candidates = [candidate(&g, &a, &[1.0]), candidate(&g, &b, &[1.0])];
        let keep = AlreadyLiked
            .keep(&ctx(&g, Some("me")), &candidates)
            .await
            .unwrap();
        assert_eq!(keep, vec![false, true]);
        let keep = AlreadyLiked
            .keep(&ctx(&g, None), &candidates)
            .await
            .unwrap();
        assert_eq!(keep, vec![true, true]);
    }

    #[test]
    fn takes_no_params() {
        assert!((KIND.build)(toml::from_str("x = 1").unwrap()).is_err());
    }
}
