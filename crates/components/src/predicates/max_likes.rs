//! `max_likes`: drops posts with more than `max_likes` likes in the
//! window, so a niche feed stays niche instead of filling with what the
//! whole network is already liking.

use std::sync::Arc;

use async_trait::async_trait;
use feedmixer_flow::{
    Candidate, ComponentError, Kind, Params, Predicate, Registration, RequestContext, params,
    register,
};

pub const KIND: Kind<dyn Predicate> = Kind {
    name: "max_likes",
    description: "Drops posts with more than `max_likes` likes in the window",
    reads: &[],
    params: MaxLikesParams::docs,
    build: |table| Ok(Arc::new(MaxLikes(MaxLikesParams::from_table(table)?))),
};

register!(Registration::Predicate(KIND));

params! {
    /// How many likes a post may have.
    pub struct MaxLikesParams {
        /// Most likes in the window a post may have, the author's own counted.
        max_likes: usize = 1000, in 1..=10_000_000;
    }
}

/// A like count is the length of the post's liker list: O(1) per post.
pub struct MaxLikes(MaxLikesParams);

#[async_trait]
impl Predicate for MaxLikes {
    async fn keep(
        &self,
        ctx: &RequestContext,
        candidates: &[Candidate],
    ) -> Result<Vec<bool>, ComponentError> {
        Ok(candidates
            .iter()
            .map(|c| ctx.graph.likers_of(c.post).len() <= self.0.max_likes)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{candidate, ctx, graph, post};

    #[tokio::test]
    async fn keeps_posts_with_at_most_max_likes() {
        let (one, two) = (post("x", 1), post("y", 2));
        let g = graph(&[("u1", &one, 60), ("u1", &two, 60), ("u2", &two, 60)]);
        let list = [candidate(&g, &one, &[1.0]), candidate(&g, &two, &[1.0])];
        for (text, expected) in [
            ("", [true, true]),
            ("max_likes = 2", [true, true]),
            ("max_likes = 1", [true, false]),
        ] {
            let predicate = (KIND.build)(toml::from_str(text).unwrap()).unwrap();
            let keep = predicate.keep(&ctx(&g, None), &list).await.unwrap();
            assert_eq!(keep, expected, "{text:?}");
        }
    }

    #[test]
    fn params_have_bounds() {
        for bad in ["max_likes = 0", "max_likes = 10000001", "max_like = 3"] {
            assert!((KIND.build)(toml::from_str(bad).unwrap()).is_err(), "{bad}");
        }
    }
}
