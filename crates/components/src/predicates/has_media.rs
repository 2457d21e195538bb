//! `has_media`: keeps posts that show images or a video (also beside a
//! quoted post); a link card is not media.

use std::sync::Arc;

use async_trait::async_trait;
use feedmixer_flow::{
    Candidate, ComponentError, Kind, NoParams, Params, Predicate, Registration, RequestContext,
    register,
};

pub const KIND: Kind<dyn Predicate> = Kind {
    name: "has_media",
    description: "Keeps posts with images or a video",
    reads: &[],
    params: NoParams::docs,
    build: |table| {
        NoParams::from_table(table)?;
        Ok(Arc::new(HasMedia))
    },
};

register!(Registration::Predicate(KIND));

pub struct HasMedia;

#[async_trait]
impl Predicate for HasMedia {
    async fn keep(
        &self,
        ctx: &RequestContext,
        candidates: &[Candidate],
    ) -> Result<Vec<bool>, ComponentError> {
        Ok(candidates
            .iter()
            .map(|c| ctx.graph.post_info(c.post).has_media())
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{candidate, ctx, post, post_graph};

    #[tokio::test]
    async fn keeps_posts_with_media_only() {
        let g = post_graph(&[
            ("a", 1, 60, &[], false, true),
            ("a", 2, 60, &[], false, false),
        ]);
        let candidates = [
            candidate(&g, &post("a", 1), &[1.0]),
            candidate(&g, &post("a", 2), &[1.0]),
        ];
        let kept = HasMedia.keep(&ctx(&g, None), &candidates).await.unwrap();
        assert_eq!(kept, [true, false]);
    }
}
