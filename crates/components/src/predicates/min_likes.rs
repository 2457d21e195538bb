//! `min_likes`: drops posts with fewer than `min_likes` likes in the
//! window, so a feed shows only posts someone besides a source vouched for.

use std::sync::Arc;

use async_trait::async_trait;
use feedmixer_flow::{
    Candidate, ComponentError, Kind, Params, Predicate, Registration, RequestContext, params,
    register,
};

pub const KIND: Kind<dyn Predicate> = Kind {
    name: "min_likes",
    description: "Drops posts with fewer than `min_likes` likes in the window",
    reads: &[],
    params: MinLikesParams::docs,
    build: |table| Ok(Arc::new(MinLikes(MinLikesParams::from_table(table)?))),
};

register!(Registration::Predicate(KIND));

params! {
    /// How many likes a post needs.
    pub struct MinLikesParams {
        /// Fewest likes in the window a post needs, the author's own counted.
        min_likes: usize = 1, in 1..=1_000_000;
    }
}

/// A like count is the length of the post's liker list: O(1) per post.
pub struct MinLikes(MinLikesParams);

#[async_trait]
impl Predicate for MinLikes {
    async fn keep(
        &self,
        ctx: &RequestContext,
        candidates: &[Candidate],
    ) -> Result<Vec<bool>, ComponentError> {
        Ok(candidates
            .iter()
            .map(|c| ctx.graph.likers_of(c.post).len() >= self.0.min_likes)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use feedmixer_flow::ParamError;
    use crate::testing::{candidate, ctx, graph, post};

    fn build(text: &str) -> Result<Arc<dyn Predicate>, ParamError> {
        (KIND.build)(toml::from_str(text).unwrap())
    }

    #[test]
    fn params_have_bounds() {
        assert!(build("").is_ok());
        assert!(build("min_likes = 1").is_ok());
        assert!(build("min_likes = 1000000").is_ok());
        for bad in ["min_likes = 0", "min_likes = 1000001", "min_likes = -1"] {
            let err = build(bad).err().unwrap();
            assert_eq!(err.field.as_deref(), Some("min_likes"), "{bad}");
        }
        let err = build("min_like = 2").err().unwrap();
        assert_eq!(err.field.as_deref(), Some("min_like"));
    }

    #[tokio::test]
    async fn keeps_posts_with_at_least_min_likes() {
        let (one, two, three) = (post("x", 1), post("y", 2), post("y", 3));
        // `y` likes its own post: that like counts too.
        let g = graph(&[
            ("u1", &one, 60),
            ("u1", &two, 60),
            ("u2", &two, 60),
            ("u1", &three, 60),
            ("u2", &three, 60),
            ("y", &three, 60),
        ]);
        let list: Vec<_> = [&one, &two, &three]
            .iter()
            .map(|p| candidate(&g, p, &[1.0]))
            .collect();
        let cases = [
            ("", [true, true, true]),
            ("min_likes = 2", [false, true, true]),
            ("min_likes = 3", [false, false, true]),
            ("min_likes = 4", [false, false, false]),
        ];
        for (text, expected) in cases {
            let predicate = build(text).unwrap();
            for viewer in [None, Some("u1")] {
                let keep = predicate.keep(&ctx(&g, viewer), &list).await.unwrap();
                assert_eq!(keep, expected, "{text:?}, viewer {viewer:?}");
            }
        }
        let keep = build("").unwrap().keep(&ctx(&g, None), &[]).await.unwrap();
        assert!(keep.is_empty());
    }
}
