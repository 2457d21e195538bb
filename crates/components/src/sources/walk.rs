//! `walk`: LinkLonk's 3-step walk over the like graph (viewer -> posts they
//! liked -> co-likers -> what co-likers liked), computed fresh per request.

use std::sync::{Arc, LazyLock};

use async_trait::async_trait;
use feedmixer_flow::{
    CandidateSource, ComponentError, Fetched, Kind, Params, Registration,
    RequestContext, params, register,
};
use feedmixer_graph::{ScratchPool, WalkParams, walk, walk_edges_bound};

use crate::hours_to_secs;

pub const KIND: Kind<dyn CandidateSource> = Kind {
    name: "walk",
    description: "Posts liked by people who like what the viewer likes (LinkLonk 3-step walk)",
    reads: &[],
    params: WalkSourceParams::docs,
    build: |table| Ok(Arc::new(Walk::new(WalkSourceParams::from_table(table)?))),
};

register!(Registration::Source(KIND));

/// One scratch per concurrent walk, shared by every walk source of the
/// process: the scratch is sized by the graph, not by the flow.
static SCRATCH: LazyLock<ScratchPool> = LazyLock::new(ScratchPool::new);

/// Walks bounded to read at most this many edges (about 6 ns each on a
/// 1M-like graph, so 0.3 ms at most) run on the request's own task.
const INLINE_EDGES: usize = 50_000;

/// The least depth a walk keeps however low the quality factor goes, so a
/// response is always produced.
const FLOORS: WalkCaps = WalkCaps {
    max_likes: 20,
    max_likers_per_post: 10,
    max_colikers: 100,
    max_likes_per_coliker: 10,
};

params! {
    /// The walk's depth caps (Graze's defaults) and scoring knobs.
    pub struct WalkSourceParams {
        /// Viewer likes sampled, newest first.
        max_likes: usize = WalkParams::default().max_likes, in 1..=10_000;
        /// Likers visited per sampled post, newest first.
        max_likers_per_post: usize = WalkParams::default().max_likers_per_post, in 1..=100_000;
        /// Distinct co-likers kept.
        max_colikers: usize = WalkParams::default().max_colikers, in 1..=1_000_000;
        /// Likes read per co-liker, newest first.
        max_likes_per_coliker: usize = WalkParams::default().max_likes_per_coliker, in 1..=100_000;
        /// Recency half-life of every step, hours.
        half_life_hours: f64 = f64::from(WalkParams::default().half_life_secs) / 3600.0, in 0.01..=8760.0;
        /// Higher: users who like everything count less (exponent on 1/deg of a co-liker).
        specificity_power: f32 = WalkParams::default().specificity_power, in 0.0..=4.0;
        /// Higher: viral shared posts count less (exponent on 1/deg of a shared post).
        popularity_power: f32 = WalkParams::default().popularity_power, in 0.0..=4.0;
        /// Higher: posts reached by many co-likers rise (score x paths^this; 0 = off).
        num_paths_power: f32 = WalkParams::default().num_paths_power, in 0.0..=4.0;
        /// Candidates returned.
        max_results: usize = WalkParams::default().max_results, in 1..=10_000;
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
    async fn fetch(&self, ctx: &RequestContext) -> Result<Fetched, ComponentError> {
        let Some(viewer) = ctx.viewer else {
            return Ok(Fetched::default());
        };
        let params = self.walk_params(ctx.quality_factor);
        let now = ctx.now_secs;
        // A short walk costs less than the hop to another thread: it runs
        // here. A long one is CPU-bound for up to a few milliseconds: it
        // goes off the async workers so other requests keep flowing.
        if walk_edges_bound(&ctx.graph, viewer, &params) <= INLINE_EDGES {
            let found = walk(&ctx.graph, viewer, &params, now, &mut SCRATCH.get());
            return Ok(found.into());
        }
        let graph = ctx.graph.clone();
        tokio::task::spawn_blocking(move || walk(&graph, viewer, &params, now, &mut SCRATCH.get()))
            .await
            .map(Fetched::from)
            .map_err(|e| ComponentError(format!("walk task failed: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use feedmixer_flow::ParamError;
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
        let found = walk.fetch(&ctx(&g, Some("me"))).await.unwrap().scores;
        let posts: Vec<String> = found.iter().map(|(p, _)| g.post_uri(*p)).collect();
        assert_eq!(posts, vec![b.as_str()]);
        assert!(
            walk.fetch(&ctx(&g, None)).await.unwrap().scores.is_empty(),
            "anonymous: nothing"
        );
    }
}
