//! `in_pool`: keeps only posts in the feed's candidate pool, so a curated
//! feed never shows what its operator did not admit. A feed without a pool
//! (none set yet, or emptied) keeps nothing: a flow that restricts itself
//! to its pool serves nothing until the pool has posts, and the feed's
//! status says why.

use std::sync::Arc;

use async_trait::async_trait;
use feedmixer_flow::{
    Candidate, ComponentError, FeatureKey, Kind, NoParams, Params, Predicate, Registration,
    RequestContext, register,
};

use crate::features::feed_pool::FeedPool;

pub const KIND: Kind<dyn Predicate> = Kind {
    name: "in_pool",
    description: "Keeps only posts in the feed's candidate pool",
    reads: &[FeatureKey::of::<FeedPool>()],
    params: NoParams::docs,
    build: |table| {
        NoParams::from_table(table)?;
        Ok(Arc::new(InPool))
    },
};

register!(Registration::Predicate(KIND));

pub struct InPool;

#[async_trait]
impl Predicate for InPool {
    async fn keep(
        &self,
        ctx: &RequestContext,
        candidates: &[Candidate],
    ) -> Result<Vec<bool>, ComponentError> {
        Ok(match ctx.feature::<FeedPool>() {
            None => vec![false; candidates.len()],
            Some(pool) => candidates
                .iter()
                .map(|c| pool.has(&ctx.graph, c.post))
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{candidate, ctx, graph, post};
    use crate::features::feed_pool::Pool;

    #[tokio::test]
    async fn keeps_pool_posts_only_and_nothing_without_a_pool() {
        let (a, b) = (post("x", 1), post("x", 2));
        let g = graph(&[("u", &a, 60), ("u", &b, 60)]);
        let candidates = [candidate(&g, &a, &[1.0]), candidate(&g, &b, &[1.0])];
        let mut c = ctx(&g, None);
        assert_eq!(
            InPool.keep(&c, &candidates).await.unwrap(),
            vec![false, false]
        );
        c.features.insert::<FeedPool>(Arc::new(Pool::new([b.clone()])));
        assert_eq!(
            InPool.keep(&c, &candidates).await.unwrap(),
            vec![false, true]
        );
        c.features.insert::<FeedPool>(Arc::new(Pool::default()));
        assert_eq!(
            InPool.keep(&c, &candidates).await.unwrap(),
            vec![false, false]
        );
    }
}
