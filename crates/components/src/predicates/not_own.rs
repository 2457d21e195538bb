//! `not_own`: drops the viewer's own posts; nobody needs a feed to show
//! them what they wrote.

use std::sync::Arc;

use async_trait::async_trait;
use feedmixer_flow::{
    Candidate, ComponentError, Kind, NoParams, Params, Predicate, Registration, RequestContext,
    register,
};

pub const KIND: Kind<dyn Predicate> = Kind {
    name: "not_own",
    description: "Drops the viewer's own posts",
    reads: &[],
    params: NoParams::docs,
    build: |table| {
        NoParams::from_table(table)?;
        Ok(Arc::new(NotOwn))
    },
};

register!(Registration::Predicate(KIND));

pub struct NotOwn;

#[async_trait]
impl Predicate for NotOwn {
    async fn keep(
        &self,
        ctx: &RequestContext,
        candidates: &[Candidate],
    ) -> Result<Vec<bool>, ComponentError> {
        // A viewer the graph does not know authored none of its posts.
        let viewer = ctx
            .viewer
            .or_else(|| ctx.viewer_did.as_deref().and_then(|d| ctx.graph.user_id(d)));
        Ok(match viewer {
            None => vec![true; candidates.len()],
            Some(viewer) => candidates.iter().map(|c| c.author != viewer).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{candidate, ctx, graph, post};

    #[tokio::test]
    async fn drops_the_viewers_posts_only() {
        let (mine, theirs) = (post("me", 1), post("them", 1));
        let g = graph(&[("me", &theirs, 60), ("them", &mine, 60)]);
        let candidates = [candidate(&g, &mine, &[1.0]), candidate(&g, &theirs, &[1.0])];
        let kept = NotOwn.keep(&ctx(&g, Some("me")), &candidates).await.unwrap();
        assert_eq!(kept, [false, true]);
        let anonymous = NotOwn.keep(&ctx(&g, None), &candidates).await.unwrap();
        assert_eq!(anonymous, [true, true]);
    }
}
