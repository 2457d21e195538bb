//! `popular`: posts with the most likes over a long window, plain counts by
//! default. The same for every viewer, so it is computed once per refresh
//! period and shared.

use std::sync::Arc;

use async_trait::async_trait;
use feedmixer_flow::{
    CandidateSource, ComponentError, Fetched, Kind, Params, Registration, RequestContext,
    params, register,
};
use feedmixer_graph::recent_like_scores_with_floor;

use super::shared_list::SharedList;
use crate::hours_to_secs;

pub const KIND: Kind<dyn CandidateSource> = Kind {
    name: "popular",
    description: "Posts with the most likes over a long window (a week by default); the same for every viewer",
    reads: &[],
    params: PopularParams::docs,
    build: |table| Ok(Arc::new(Popular::new(PopularParams::from_table(table)?))),
};

register!(Registration::Source(KIND));

params! {
    /// The popularity window, decay and floor.
    pub struct PopularParams {
        /// Likes older than this do not count, hours.
        window_hours: f64 = 168.0, in 0.1..=720.0;
        /// Half-life of a like's weight, hours; 0: every like counts 1.
        half_life_hours: f64 = 0.0, in 0.0..=720.0;
        /// Fewest likes in the window (counted, not decayed) a post needs.
        min_likes: usize = 3, in 1..=100_000;
        /// Candidates returned.
        max_results: usize = 500, in 1..=10_000;
        /// How long a computed list is reused, seconds.
        refresh_secs: u32 = 300, in 0..=3600;
    }
}

pub struct Popular {
    list: Arc<SharedList>,
}

impl Popular {
    pub fn new(params: PopularParams) -> Self {
        let (window, half_life) = (
            hours_to_secs(params.window_hours),
            hours_to_secs(params.half_life_hours),
        );
        let (min_likes, max_results) = (params.min_likes, params.max_results);
        Popular {
            list: SharedList::shared(params.refresh_secs, &params, move |graph, now| {
                recent_like_scores_with_floor(
                    graph,
                    now,
                    window,
                    half_life,
                    min_likes,
                    max_results,
                )
            }),
        }
    }
}

#[async_trait]
impl CandidateSource for Popular {
    async fn fetch(&self, ctx: &RequestContext) -> Result<Fetched, ComponentError> {
        Ok(self.list.get(ctx).await?.as_ref().clone().into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::testing::assert_refreshes_after;
    use feedmixer_flow::ParamError;
    use crate::sources::testing::assert_list;
    use crate::testing::{ctx, graph, post};

    const HOUR: u32 = 3600;
    const DAY: u32 = 24 * HOUR;

    fn build(text: &str) -> Result<Arc<dyn CandidateSource>, ParamError> {
        (KIND.build)(toml::from_str(text).unwrap())
    }

    fn popular(text: &str) -> Popular {
        Popular::new(PopularParams::from_table(toml::from_str(text).unwrap()).unwrap())
    }

    #[test]
    fn params_have_bounds() {
        assert!(build("").is_ok());
        assert_eq!(
            build("min_likes = 0").err().unwrap().field.as_deref(),
            Some("min_likes")
        );
        assert!(build("window_hours = 0.0").is_err());
        assert!(build("half_life_hours = -1.0").is_err());
        assert!(build("refresh_secs = 3601").is_err());
        assert!(build("min_like = 2").is_err());
    }

    /// a: 1h, 2 days, 6 days old; b: two at 1h; c: one at 1h.
    fn week() -> Arc<feedmixer_graph::LikeGraph> {
        let (a, b, c) = (post("x", 1), post("y", 2), post("z", 3));
        graph(&[
            ("u1", &a, HOUR),
            ("u2", &a, 2 * DAY),
            ("u3", &a, 6 * DAY),
            ("u1", &b, HOUR),
            ("u2", &b, HOUR),
            ("u1", &c, HOUR),
        ])
    }

    #[tokio::test]
    async fn counts_likes_over_the_week_above_the_floor() {
        let g = week();
        let (a, b, c) = (post("x", 1), post("y", 2), post("z", 3));
        let found = build("").unwrap().fetch(&ctx(&g, None)).await.unwrap().scores;
        assert_list(&g, &found, &[(&a, 3.0)]);
        let found = popular("min_likes = 1").list.get(&ctx(&g, None)).await.unwrap();
        assert_list(&g, &found, &[(&a, 3.0), (&b, 2.0), (&c, 1.0)]);
        // A day: a keeps one like and ties with c (lower post id first).
        let found = popular("min_likes = 1\nwindow_hours = 24.0").list.get(&ctx(&g, None)).await.unwrap();
        assert_list(&g, &found, &[(&b, 2.0), (&a, 1.0), (&c, 1.0)]);
        // A 1-day half-life: a = 2^(-1/24) + 2^-2 + 2^-6.
        let found = popular("half_life_hours = 24.0").list.get(&ctx(&g, None)).await.unwrap();
        let a_score = 2f64.powf(-1.0 / 24.0) + 0.25 + 1.0 / 64.0;
        assert_list(&g, &found, &[(&a, a_score)]);
        let found = popular("max_results = 2\nmin_likes = 1").list.get(&ctx(&g, None)).await.unwrap();
        assert_list(&g, &found, &[(&a, 3.0), (&b, 2.0)]);
        let empty = graph(&[]);
        assert!(popular("").list.get(&ctx(&empty, None)).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn reuses_its_list_within_the_refresh_period() {
        let g = week();
        let source = popular("");
        assert_refreshes_after(&source.list, &g, 300).await;
    }
}
