//! `discovery`: fresh posts with few likes so far, liked by well-connected
//! users, decayed by post age. The same for every viewer, so it is computed
//! once per refresh period and shared.

use std::sync::Arc;

use async_trait::async_trait;
use feedmixer_flow::{
    CandidateSource, ComponentError, Fetched, Kind, Params, Registration, RequestContext,
    params, register,
};
use feedmixer_graph::{DiscoveryParams, discovery_scores};

use super::shared_list::SharedList;
use crate::hours_to_secs;

pub const KIND: Kind<dyn CandidateSource> = Kind {
    name: "discovery",
    description: "Fresh posts with few but well-connected likers; the same for every viewer",
    reads: &[],
    params: DiscoverySourceParams::docs,
    build: |table| {
        Ok(Arc::new(Discovery::new(DiscoverySourceParams::from_table(
            table,
        )?)))
    },
};

register!(Registration::Source(KIND));

params! {
    /// Which fresh posts count and how fast their score decays.
    pub struct DiscoverySourceParams {
        /// Fewest likes a post needs, the author's own not counted.
        min_likes: usize = 2, in 1..=10_000;
        /// Most likes a post may have, the author's own not counted.
        max_likes: usize = 20, bounds "min_likes..=100000";
        /// Posts older than this are left out, hours.
        max_age_hours: f64 = 24.0, in 0.1..=720.0;
        /// Half-life of the post-age decay, hours; 0: no decay.
        half_life_hours: f64 = 6.0, in 0.0..=720.0;
        /// Candidates returned.
        max_results: usize = 500, in 1..=10_000;
        /// How long a computed list is reused, seconds.
        refresh_secs: u32 = 60, in 0..=3600;
    }
    check(p) {
        feedmixer_flow::params::check_range("max_likes", p.max_likes, p.min_likes..=100_000)
    }
}

/// Scores are `decay(age) x mean over likers of ln(1 + likes they made)`
/// (see [`discovery_scores`]).
pub struct Discovery {
    list: Arc<SharedList>,
}

impl Discovery {
    pub fn new(params: DiscoverySourceParams) -> Self {
        let graph_params = DiscoveryParams {
            min_likes: params.min_likes,
            max_likes: params.max_likes,
            max_age_secs: hours_to_secs(params.max_age_hours),
            half_life_secs: hours_to_secs(params.half_life_hours),
        };
        let max_results = params.max_results;
        Discovery {
            list: SharedList::shared(params.refresh_secs, &params, move |graph, now| {
                discovery_scores(graph, now, &graph_params, max_results)
            }),
        }
    }
}

#[async_trait]
impl CandidateSource for Discovery {
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
    /// Posts whose keys are TIDs of NOW - 2 h and NOW - 30 h.
    const TID_2H: &str = "at://did:plc:y/app.bsky.feed.post/3n74pxr4i2222";
    const TID_30H: &str = "at://did:plc:y/app.bsky.feed.post/3n6zs3oqm2222";

    fn build(text: &str) -> Result<Arc<dyn CandidateSource>, ParamError> {
        (KIND.build)(toml::from_str(text).unwrap())
    }

    fn discovery(text: &str) -> Discovery {
        Discovery::new(DiscoverySourceParams::from_table(toml::from_str(text).unwrap()).unwrap())
    }

    #[test]
    fn params_have_bounds() {
        assert!(build("").is_ok());
        assert!(build("min_likes = 5\nmax_likes = 5").is_ok());
        let err = build("min_likes = 5\nmax_likes = 4").err().unwrap();
        assert_eq!(err.field.as_deref(), Some("max_likes"));
        assert!(build("min_likes = 0").is_err());
        assert!(build("max_age_hours = 0.0").is_err());
        assert!(build("half_life_hours = -1.0").is_err());
        assert!(build("max_age = 3").is_err());
    }

    /// Degrees: u1 3, u2 2, u3 2, u4..u24 1.
    ///   fresh  u1 u2, first like 1 h ago (key not a TID)
    ///   TID_2H u1 u3, liked 1 min ago
    ///   TID_30H u1 u2, 1 h ago
    ///   lone   u3, 1 min ago
    ///   crowd  u4..u24 (21 likes), 1 min ago
    fn early() -> Arc<feedmixer_graph::LikeGraph> {
        let (fresh, lone, crowd) = (post("x", 1), post("z", 3), post("z", 4));
        let crowders: Vec<String> = (4..=24).map(|u| format!("u{u}")).collect();
        let mut likes = vec![
            ("u1", fresh.as_str(), HOUR),
            ("u2", fresh.as_str(), HOUR),
            ("u1", TID_2H, 60),
            ("u3", TID_2H, 60),
            ("u1", TID_30H, HOUR),
            ("u2", TID_30H, HOUR),
            ("u3", lone.as_str(), 60),
        ];
        likes.extend(crowders.iter().map(|u| (u.as_str(), crowd.as_str(), 60)));
        graph(&likes)
    }

    /// 2^(-hours / 6).
    fn decay(hours: f64) -> f64 {
        2f64.powf(-hours / 6.0)
    }

    #[tokio::test]
    async fn fresh_posts_with_connected_likers() {
        let g = early();
        let (fresh, lone, crowd) = (post("x", 1), post("z", 3), post("z", 4));
        let pair = (4f64.ln() + 3f64.ln()) / 2.0; // likers of degree 3 and 2
        let found = build("").unwrap().fetch(&ctx(&g, None)).await.unwrap().scores;
        let expected = [
            (fresh.as_str(), pair * decay(1.0)),
            (TID_2H, pair * decay(2.0)),
        ];
        assert_list(&g, &found, &expected);
        let minute = 1.0 / 60.0;
        let found = discovery("max_likes = 21").list.get(&ctx(&g, None)).await.unwrap();
        assert_list(
            &g,
            &found,
            &[
                expected[0],
                expected[1],
                (crowd.as_str(), 2f64.ln() * decay(minute)),
            ],
        );
        let found = discovery("min_likes = 1").list.get(&ctx(&g, None)).await.unwrap();
        assert_list(
            &g,
            &found,
            &[
                expected[0],
                (lone.as_str(), 3f64.ln() * decay(minute)),
                expected[1],
            ],
        );
        let found = discovery("max_age_hours = 1.5").list.get(&ctx(&g, None)).await.unwrap();
        assert_list(&g, &found, &expected[..1]);
        let found = discovery("max_age_hours = 36.0").list.get(&ctx(&g, None)).await.unwrap();
        assert_list(
            &g,
            &found,
            &[expected[0], expected[1], (TID_30H, pair * decay(30.0))],
        );
        let found = discovery("half_life_hours = 0.0").list.get(&ctx(&g, None)).await.unwrap();
        assert_list(&g, &found, &[(fresh.as_str(), pair), (TID_2H, pair)]);
        let empty = graph(&[]);
        assert!(discovery("").list.get(&ctx(&empty, None)).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn reuses_its_list_within_the_refresh_period() {
        let g = early();
        let source = discovery("");
        assert_refreshes_after(&source.list, &g, 60).await;
    }
}
