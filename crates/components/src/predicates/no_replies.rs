//! `no_replies`: drops replies, for feeds of posts that stand on their own.

use std::sync::Arc;

use async_trait::async_trait;
use feedmixer_flow::{
    Candidate, ComponentError, Kind, NoParams, Params, Predicate, Registration, RequestContext,
    register,
};

pub const KIND: Kind<dyn Predicate> = Kind {
    name: "no_replies",
    description: "Drops replies (posts the post index knows as replies)",
    reads: &[],
    params: NoParams::docs,
    build: |table| {
        NoParams::from_table(table)?;
        Ok(Arc::new(NoReplies))
    },
};

register!(Registration::Predicate(KIND));

pub struct NoReplies;

#[async_trait]
impl Predicate for NoReplies {
    async fn keep(
        &self,
        ctx: &RequestContext,
        candidates: &[Candidate],
    ) -> Result<Vec<bool>, ComponentError> {
        Ok(candidates
            .iter()
            .map(|c| !ctx.graph.post_info(c.post).is_reply())
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{candidate, ctx, post, post_graph};

    #[tokio::test]
    async fn drops_replies_only() {
        let g = post_graph(&[
            ("a", 1, 60, &[], true, false),
            ("a", 2, 60, &[], false, false),
        ]);
        let candidates = [
            candidate(&g, &post("a", 1), &[1.0]),
            candidate(&g, &post("a", 2), &[1.0]),
        ];
        let kept = NoReplies.keep(&ctx(&g, None), &candidates).await.unwrap();
        assert_eq!(kept, [false, true]);
    }
}
