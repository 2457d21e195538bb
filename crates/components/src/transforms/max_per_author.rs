//! `max_per_author`: at most N posts of one author in the list, so one
//! prolific account cannot fill a page.

use std::sync::Arc;

use async_trait::async_trait;
use feedmixer_flow::{
    Candidate, ComponentError, Kind, Params, Registration, RequestContext, Transform, params,
    register,
};
use rustc_hash::FxHashMap;

pub const KIND: Kind<dyn Transform> = Kind {
    name: "max_per_author",
    description: "Keeps at most `max_per_author` posts of each author, best first",
    reads: &[],
    params: MaxPerAuthorParams::docs,
    build: |table| {
        Ok(Arc::new(MaxPerAuthor(MaxPerAuthorParams::from_table(
            table,
        )?)))
    },
};

register!(Registration::Transform(KIND));

params! {
    /// How many posts of one author a list keeps.
    pub struct MaxPerAuthorParams {
        /// Most posts of one author kept, the best ones.
        max_per_author: usize = 3, in 1..=1000;
    }
}

pub struct MaxPerAuthor(MaxPerAuthorParams);

#[async_trait]
impl Transform for MaxPerAuthor {
    async fn transform(
        &self,
        _ctx: &RequestContext,
        candidates: &[Candidate],
    ) -> Result<Vec<Candidate>, ComponentError> {
        let mut per_author: FxHashMap<u32, usize> = FxHashMap::default();
        Ok(candidates
            .iter()
            .filter(|c| {
                let n = per_author.entry(c.author).or_default();
                *n += 1;
                *n <= self.0.max_per_author
            })
            .cloned()
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{candidate, ctx, graph, post, uris};

    #[tokio::test]
    async fn keeps_the_best_posts_of_each_author() {
        let (x1, x2, x3, y1) = (post("x", 1), post("x", 2), post("x", 3), post("y", 1));
        let g = graph(&[("u", &x1, 1), ("u", &x2, 1), ("u", &x3, 1), ("u", &y1, 1)]);
        let list: Vec<_> = [&x1, &x2, &y1, &x3]
            .iter()
            .map(|p| candidate(&g, p, &[1.0]))
            .collect();
        let t = MaxPerAuthor(MaxPerAuthorParams { max_per_author: 2 });
        let out = t.transform(&ctx(&g, None), &list).await.unwrap();
        assert_eq!(uris(&g, &out), vec![x1, x2, y1]);
    }

    #[test]
    fn zero_is_refused() {
        let err = (KIND.build)(toml::from_str("max_per_author = 0").unwrap())
            .err()
            .unwrap();
        assert_eq!(err.field.as_deref(), Some("max_per_author"));
    }
}
