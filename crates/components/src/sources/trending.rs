//! `trending`: posts with the most likes in a recent window, each like
//! decayed by its age. The same for every viewer, so it is computed once
//! per refresh period and shared.

use std::sync::Arc;

use async_trait::async_trait;
use feedmixer_flow::{
    CandidateSource, ComponentError, Fetched, Kind, Params, Registration, RequestContext,
    params, register,
};
use feedmixer_graph::recent_like_scores;

use super::shared_list::SharedList;
use crate::hours_to_secs;

pub const KIND: Kind<dyn CandidateSource> = Kind {
    name: "trending",
    description: "Posts with the most recent likes, time-decayed; the same for every viewer",
    reads: &[],
    params: TrendingParams::docs,
    build: |table| Ok(Arc::new(Trending::new(TrendingParams::from_table(table)?))),
};

register!(Registration::Source(KIND));

params! {
    /// The trending window and decay.
    pub struct TrendingParams {
        /// Likes older than this do not count, hours.
        window_hours: f64 = 6.0, in 0.1..=720.0;
        /// Half-life of a like's weight, hours; 0: every like counts 1.
        half_life_hours: f64 = 3.0, in 0.0..=720.0;
        /// Candidates returned.
        max_results: usize = 500, in 1..=10_000;
        /// How long a computed list is reused, seconds.
        refresh_secs: u32 = 30, in 0..=3600;
    }
}

pub struct Trending {
    list: Arc<SharedList>,
}

impl Trending {
    pub fn new(params: TrendingParams) -> Self {
        let (window, half_life) = (
            hours_to_secs(params.window_hours),
            hours_to_secs(params.half_life_hours),
        );
        let max_results = params.max_results;
        Trending {
            list: SharedList::shared(params.refresh_secs, &params, move |graph, now| {
                recent_like_scores(graph, now, window, half_life, max_results)
            }),
        }
    }
}

#[async_trait]
impl CandidateSource for Trending {
    async fn fetch(&self, ctx: &RequestContext) -> Result<Fetched, ComponentError> {
        Ok(self.list.get(ctx).await?.as_ref().clone().into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::testing::assert_refreshes_after;
    use crate::testing::{ctx, graph, post};

    #[tokio::test]
    async fn ranks_by_decayed_recent_likes() {
        let (a, b, old) = (post("x", 1), post("x", 2), post("x", 3));
        let g = graph(&[
            ("u1", &a, 60),
            ("u2", &a, 60),
            ("u1", &b, 60),
            ("u1", &old, 7 * 3600),
            ("u2", &old, 7 * 3600),
            ("u3", &old, 7 * 3600),
        ]);
        let source = Trending::new(TrendingParams::default());
        let found = source.fetch(&ctx(&g, None)).await.unwrap().scores;
        let posts: Vec<String> = found.iter().map(|(p, _)| g.post_uri(*p)).collect();
        assert_eq!(
            posts,
            vec![a.as_str(), b.as_str()],
            "likes outside the 6 h window do not count"
        );
        assert!(found[0].1 > found[1].1);
    }

    #[tokio::test]
    async fn reuses_its_list_within_the_refresh_period() {
        let a = post("x", 1);
        let g = graph(&[("u1", &a, 60)]);
        let source = Trending::new(TrendingParams::default());
        assert_refreshes_after(&source.list, &g, 30).await;
        let first = source.list.get(&ctx(&g, None)).await.unwrap();
        let other = graph(&[("u1", &a, 60)]);
        assert!(
            !Arc::ptr_eq(&first, &source.list.get(&ctx(&other, None)).await.unwrap()),
            "a graph built anew gets its own list"
        );
    }
}
