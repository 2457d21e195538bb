//! `walk`: LinkLonk's 3-step walk over the like graph (viewer -> posts they
//! liked -> co-likers -> what co-likers liked), computed fresh per request.

use std::sync::{Arc, LazyLock};

use async_trait::async_trait;
use feedmixer_flow::params::check_range;
use feedmixer_flow::registry::Kind;
use feedmixer_flow::{
    CandidateSource, ComponentError, ParamError, Params, RequestContext, SourceScores,
};
use feedmixer_graph::{ScratchPool, WalkParams, walk};
use serde::Deserialize;

use crate::hours_to_secs;

pub const KIND: Kind<dyn CandidateSource> = Kind {
    name: "walk",
    description: "Posts liked by people who like what the viewer likes (LinkLonk 3-step walk)",
    build: |table| Ok(Arc::new(Walk::new(WalkSourceParams::from_table(table)?))),
};

/// One scratch per concurrent walk, shared by every walk source of the
/// process: the scratch is sized by the graph, not by the flow.
static SCRATCH: LazyLock<ScratchPool> = LazyLock::new(ScratchPool::new);

/// The least depth a walk keeps however low the quality factor goes, so a
/// response is always produced.
const FLOORS: WalkCaps = WalkCaps {
    max_likes: 20,
    max_likers_per_post: 10,
    max_colikers: 100,
    max_likes_per_coliker: 10,
};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WalkSourceParams {
    /// Viewer likes sampled, newest first.
    pub max_likes: usize,
    /// Likers visited per sampled post, newest first.
    pub max_likers_per_post: usize,
    /// Distinct co-likers kept.
    pub max_colikers: usize,
    /// Likes read per co-liker, newest first.
    pub max_likes_per_coliker: usize,
    /// Recency half-life of every step, hours.
    pub half_life_hours: f64,
    /// Exponent on 1/|likes of co-liker|: higher penalizes users who like everything.
    pub specificity_power: f32,
    /// Exponent on 1/|likers of shared post|: higher penalizes viral posts.
    pub popularity_power: f32,
    /// Final score x (distinct co-likers reaching the post)^this; 0 = off.
    pub num_paths_power: f32,
    /// Candidates returned.
    pub max_results: usize,
}

impl Default for WalkSourceParams {
    fn default() -> Self {
        let d = WalkParams::default();
        WalkSourceParams {
            max_likes: d.max_likes,
            max_likers_per_post: d.max_likers_per_post,
            max_colikers: d.max_colikers,
            max_likes_per_coliker: d.max_likes_per_coliker,
            half_life_hours: f64::from(d.half_life_secs) / 3600.0,
            specificity_power: d.specificity_power,
            popularity_power: d.popularity_power,
            num_paths_power: d.num_paths_power,
            max_results: d.max_results,
        }
    }
}

impl Params for WalkSourceParams {
    fn validate(&self) -> Result<(), ParamError> {
        check_range("max_likes", self.max_likes, 1..=10_000)?;
        check_range("max_likers_per_post", self.max_likers_per_post, 1..=100_000)?;
        check_range("max_colikers", self.max_colikers, 1..=1_000_000)?;
        check_range(
            "max_likes_per_coliker",
            self.max_likes_per_coliker,
            1..=100_000,
        )?;
        check_range("half_life_hours", self.half_life_hours, 0.01..=24.0 * 365.0)?;
        check_range("specificity_power", self.specificity_power, 0.0..=4.0)?;
        check_range("popularity_power", self.popularity_power, 0.0..=4.0)?;
        check_range("num_paths_power", self.num_paths_power, 0.0..=4.0)?;
        check_range("max_results", self.max_results, 1..=10_000)
    }
}

/// The depth knobs the quality factor scales.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct WalkCaps {
    max_likes: usize,
    max_likers_per_post: usize,
    max_colikers: usize,
    max_likes_per_coliker: usize,
}

impl WalkCaps {
    /// `max(floor, q x cap)` for each knob, never above the configured cap.
    fn scaled(self, quality_factor: f64) -> WalkCaps {
        let scale = |cap: usize, floor: usize| {
            let scaled = (cap as f64 * quality_factor.clamp(0.0, 1.0)).round() as usize;
            scaled.max(floor).min(cap)
        };
        WalkCaps {
            max_likes: scale(self.max_likes, FLOORS.max_likes),
            max_likers_per_post: scale(self.max_likers_per_post, FLOORS.max_likers_per_post),
            max_colikers: scale(self.max_colikers, FLOORS.max_colikers),
            max_likes_per_coliker: scale(self.max_likes_per_coliker, FLOORS.max_likes_per_coliker),
        }
    }
}

pub struct Walk {
    params: WalkSourceParams,
}

impl Walk {
    pub fn new(params: WalkSourceParams) -> Self {
        Walk { params }
    }

    /// The walk's params for one request, depth scaled by the quality factor.
    fn walk_params(&self, quality_factor: f64) -> WalkParams {
        let p = &self.params;
        let caps = WalkCaps {
            max_likes: p.max_likes,
            max_likers_per_post: p.max_likers_per_post,
            max_colikers: p.max_colikers,
            max_likes_per_coliker: p.max_likes_per_coliker,
        }
        .scaled(quality_factor);
        WalkParams {
            max_likes: caps.max_likes,
            max_likers_per_post: caps.max_likers_per_post,
            max_colikers: caps.max_colikers,
            max_likes_per_coliker: caps.max_likes_per_coliker,
            half_life_secs: hours_to_secs(p.half_life_hours).max(1),
            specificity_power: p.specificity_power,
            popularity_power: p.popularity_power,
            num_paths_power: p.num_paths_power,
            max_results: p.max_results,
        }
    }
}

#[async_trait]
impl CandidateSource for Walk {
    async fn fetch(&self, ctx: &RequestContext) -> Result<SourceScores, ComponentError> {
        let Some(viewer) = ctx.viewer else {
            return Ok(Vec::new());
        };
        let params = self.walk_params(ctx.quality_factor);
        let graph = ctx.graph.clone();
        let now = ctx.now_secs;
        // The walk is CPU-bound for up to a few milliseconds: keep it off
        // the async workers so other requests keep flowing.
        tokio::task::spawn_blocking(move || walk(&graph, viewer, &params, now, &mut SCRATCH.get()))
            .await
            .map_err(|e| ComponentError(format!("walk task failed: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{ctx, graph, post};

    fn build(text: &str) -> Result<Arc<dyn CandidateSource>, ParamError> {
        (KIND.build)(toml::from_str(text).unwrap())
    }

    #[test]
    fn params_have_bounds() {
        assert!(build("").is_ok());
        let err = build("max_likes = 0").err().unwrap();
        assert_eq!(err.field.as_deref(), Some("max_likes"));
        assert!(build("half_life_hours = -1.0").is_err());
        assert!(build("depth = 3").is_err());
    }

    #[test]
    fn quality_factor_scales_depth_down_to_floors() {
        let walk = Walk::new(WalkSourceParams::default());
        let full = walk.walk_params(1.0);
        assert_eq!(full.max_likes, 500);
        let half = walk.walk_params(0.5);
        assert_eq!((half.max_likes, half.max_colikers), (250, 5_000));
        let tiny = walk.walk_params(0.0);
        assert_eq!(
            (
                tiny.max_likes,
                tiny.max_likers_per_post,
                tiny.max_colikers,
                tiny.max_likes_per_coliker
            ),
            (20, 10, 100, 10)
        );
        let small = Walk::new(WalkSourceParams {
            max_likes: 5,
            ..Default::default()
        });
        assert_eq!(
            small.walk_params(1.0).max_likes,
            5,
            "a floor never raises a configured cap"
        );
    }

    #[tokio::test]
    async fn recommends_what_co_likers_liked() {
        let (a, b, c) = (post("x", 1), post("x", 2), post("y", 3));
        let g = graph(&[
            ("me", &a, 60),
            ("friend", &a, 120),
            ("friend", &b, 180),
            ("other", &c, 60),
        ]);
        let walk = build("").unwrap();
        let found = walk.fetch(&ctx(&g, Some("me"))).await.unwrap();
        let posts: Vec<&str> = found.iter().map(|(p, _)| g.post_uri(*p)).collect();
        assert_eq!(posts, vec![b.as_str()]);
        assert!(
            walk.fetch(&ctx(&g, None)).await.unwrap().is_empty(),
            "anonymous: nothing"
        );
    }
}
