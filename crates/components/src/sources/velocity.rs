//! `velocity`: posts whose like rate is rising, comparing the latest window
//! with the one before. The same for every viewer, so it is computed once
//! per refresh period and shared.

use std::sync::Arc;

use async_trait::async_trait;
use feedmixer_flow::{
    CandidateSource, ComponentError, Fetched, Kind, Params, Registration, RequestContext,
    params, register,
};
use feedmixer_graph::like_velocity_scores;

use super::shared_list::SharedList;
use crate::hours_to_secs;

pub const KIND: Kind<dyn CandidateSource> = Kind {
    name: "velocity",
    description: "Posts whose like rate is rising (latest window vs the one before); the same for every viewer",
    reads: &[],
    params: VelocityParams::docs,
    build: |table| Ok(Arc::new(Velocity::new(VelocityParams::from_table(table)?))),
};

register!(Registration::Source(KIND));

params! {
    /// The two compared windows and the floor.
    pub struct VelocityParams {
        /// Length of each of the two compared windows, hours (both must fit
        /// in the graph's retention).
        window_hours: f64 = 1.0, in 0.1..=72.0;
        /// Fewest likes in the latest window a post needs.
        min_recent_likes: usize = 3, in 1..=100_000;
        /// Candidates returned.
        max_results: usize = 500, in 1..=10_000;
        /// How long a computed list is reused, seconds.
        refresh_secs: u32 = 30, in 0..=3600;
    }
}

/// Scores are `(r - q) / sqrt(q + 1)` (see [`like_velocity_scores`]): the
/// rise in standard deviations of the previous count, so it takes both a
/// relative rise and enough likes to trust it.
pub struct Velocity {
    list: Arc<SharedList>,
}

impl Velocity {
    pub fn new(params: VelocityParams) -> Self {
        let window = hours_to_secs(params.window_hours);
        let (min_recent_likes, max_results) = (params.min_recent_likes, params.max_results);
        Velocity {
            list: SharedList::shared(params.refresh_secs, &params, move |graph, now| {
                like_velocity_scores(graph, now, window, min_recent_likes, max_results)
            }),
        }
    }
}

#[async_trait]
impl CandidateSource for Velocity {
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

    fn build(text: &str) -> Result<Arc<dyn CandidateSource>, ParamError> {
        (KIND.build)(toml::from_str(text).unwrap())
    }

    fn velocity(text: &str) -> Velocity {
        Velocity::new(VelocityParams::from_table(toml::from_str(text).unwrap()).unwrap())
    }

    #[test]
    fn params_have_bounds() {
        assert!(build("").is_ok());
        assert_eq!(
            build("min_recent_likes = 0")
                .err()
                .unwrap()
                .field
                .as_deref(),
            Some("min_recent_likes")
        );
        assert!(build("window_hours = 0.05").is_err());
        assert!(build("window_hours = 73.0").is_err());
        assert!(build("max_results = 0").is_err());
        assert!(build("half_life_hours = 1.0").is_err());
    }

    /// Recent = the last hour, previous = the hour before:
    /// x1 0 -> 3, x2 1 -> 4, y3 0 -> 2, y4 3 -> 3, z5 only 2 h ago (5).
    fn rising() -> Arc<feedmixer_graph::LikeGraph> {
        let (recent, previous, older) = (60, HOUR + 60, 2 * HOUR + 60);
        let posts = [
            (post("x", 1), 0, 3, 0),
            (post("x", 2), 1, 4, 0),
            (post("y", 3), 0, 2, 0),
            (post("y", 4), 3, 3, 0),
            (post("z", 5), 0, 0, 5),
        ];
        let users: Vec<String> = (0..10).map(|u| format!("u{u}")).collect();
        let mut likes = Vec::new();
        for (p, n_previous, n_recent, n_older) in &posts {
            let mut liker = users.iter();
            for (n, age) in [(n_recent, recent), (n_previous, previous), (n_older, older)] {
                for u in liker.by_ref().take(*n) {
                    likes.push((u.as_str(), p.as_str(), age));
                }
            }
        }
        graph(&likes)
    }

    #[tokio::test]
    async fn rising_posts_in_standard_deviations() {
        let g = rising();
        let (x1, x2, y3, y4) = (post("x", 1), post("x", 2), post("y", 3), post("y", 4));
        let found = build("").unwrap().fetch(&ctx(&g, None)).await.unwrap().scores;
        let x2_score = 3.0 / 2f64.sqrt();
        assert_list(&g, &found, &[(&x1, 3.0), (&x2, x2_score)]);
        let found = velocity("min_recent_likes = 2").list.get(&ctx(&g, None)).await.unwrap();
        assert_list(&g, &found, &[(&x1, 3.0), (&x2, x2_score), (&y3, 2.0)]);
        // A 2 h window: the first two hours are recent, z5's likes previous.
        let found = velocity("window_hours = 2.0").list.get(&ctx(&g, None)).await.unwrap();
        assert_list(&g, &found, &[(&y4, 6.0), (&x2, 5.0), (&x1, 3.0)]);
        let found = velocity("max_results = 1").list.get(&ctx(&g, None)).await.unwrap();
        assert_list(&g, &found, &[(&x1, 3.0)]);
        let empty = graph(&[]);
        assert!(velocity("").list.get(&ctx(&empty, None)).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn reuses_its_list_within_the_refresh_period() {
        let g = rising();
        let source = velocity("");
        assert_refreshes_after(&source.list, &g, 30).await;
    }
}
