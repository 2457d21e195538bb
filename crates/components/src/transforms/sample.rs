//! `sample`: exploration. Reorders the ranked list by weighted sampling
//! without replacement (each post's chance to come next is its weight, its
//! score to the power `1 / temperature`, over the weights left), so posts
//! just below the top get seen too. The draw is seeded by the viewer, the
//! feed and the day: a viewer's pages stay stable through a day of paging
//! and reloads, every replica draws the same, and tomorrow brings another
//! draw.

use std::sync::Arc;

use async_trait::async_trait;
use feedmixer_flow::{
    Candidate, ComponentError, Kind, Params, Registration, RequestContext, Transform, params,
    register,
};
use feedmixer_flow::stable_hash::stable_hash;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub const KIND: Kind<dyn Transform> = Kind {
    name: "sample",
    description: "Reorders by weighted sampling without replacement (weight score^(1/temperature)), \
                  seeded per viewer, feed and day",
    reads: &[],
    params: SampleParams::docs,
    build: |table| Ok(Arc::new(Sample(SampleParams::from_table(table)?))),
};

register!(Registration::Transform(KIND));

params! {
    /// How far sampling strays from the ranked order.
    pub struct SampleParams {
        /// Lower keeps closer to the ranked order (weights score^(1/t)); 1 draws in proportion to score.
        temperature: f64 = 1.0, in 0.05..=20.0;
        /// Posts at the top kept in ranked order before the draw.
        keep_top: usize = 0, in 0..=1000;
    }
}

pub struct Sample(SampleParams);

/// The weight of a post no score supports: drawn last, in ranked order.
const FLOOR_WEIGHT: f64 = 1e-12;

#[async_trait]
impl Transform for Sample {
    async fn transform(
        &self,
        ctx: &RequestContext,
        candidates: &[Candidate],
    ) -> Result<Vec<Candidate>, ComponentError> {
        let keep = self.0.keep_top.min(candidates.len());
        let (top, rest) = candidates.split_at(keep);
        let mut rng = ChaCha8Rng::seed_from_u64(seed(ctx));
        // Efraimidis–Spirakis: key u^(1/w), highest first, is a weighted
        // draw without replacement; compared as ln(u)/w to stay in range.
        let mut keyed: Vec<(f64, usize)> = rest
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let weight = f64::from(c.score.max(0.0))
                    .powf(1.0 / self.0.temperature)
                    .max(FLOOR_WEIGHT);
                let u: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
                (u.ln() / weight, i)
            })
            .collect();
        keyed.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        Ok(top
            .iter()
            .cloned()
            .chain(keyed.into_iter().map(|(_, i)| rest[i].clone()))
            .collect())
    }
}

/// The draw's seed: the stable hash of the viewer (or none), the feed
/// and the day, the same on every replica and every build.
fn seed(ctx: &RequestContext) -> u64 {
    let day = ctx.now_secs / 86_400;
    stable_hash(&[
        ctx.viewer_did.as_deref().unwrap_or("").as_bytes(),
        ctx.feed.as_deref().unwrap_or("").as_bytes(),
        &day.to_le_bytes(),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{candidate, ctx, graph, post};

    fn setup() -> (Arc<feedmixer_graph::LikeGraph>, Vec<String>) {
        let posts: Vec<String> = (0..40).map(|n| post("x", n)).collect();
        let likes: Vec<(&str, &str, u32)> = posts.iter().map(|p| ("u", p.as_str(), 1)).collect();
        (graph(&likes), posts)
    }

    async fn run(
        t: &Sample,
        g: &Arc<feedmixer_graph::LikeGraph>,
        posts: &[String],
        viewer: &str,
        now_secs: u32,
    ) -> Vec<u32> {
        // Scores 40, 39, ..., 1: ranked best first.
        let list: Vec<Candidate> = posts
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let mut c = candidate(g, p, &[1.0]);
                c.score = (posts.len() - i) as f32;
                c
            })
            .collect();
        let mut c = ctx(g, None);
        c.viewer_did = Some(viewer.into());
        c.feed = Some("f".into());
        c.now_secs = now_secs;
        let out = t.transform(&c, &list).await.unwrap();
        assert_eq!(out.len(), list.len(), "a reorder: nothing lost or added");
        out.iter().map(|c| c.score as u32).collect()
    }

    #[tokio::test]
    async fn the_draw_is_stable_per_viewer_and_day_and_changes_between_them() {
        let (g, posts) = setup();
        let t = Sample(SampleParams {
            temperature: 1.0,
            keep_top: 3,
        });
        let day = 20_000 * 86_400;
        let a = run(&t, &g, &posts, "did:plc:a", day).await;
        assert_eq!(a, run(&t, &g, &posts, "did:plc:a", day + 3_600).await, "same day");
        assert_eq!(&a[..3], &[40, 39, 38], "the top kept");
        assert_ne!(a, run(&t, &g, &posts, "did:plc:b", day).await, "another viewer");
        assert_ne!(a, run(&t, &g, &posts, "did:plc:a", day + 86_400).await, "another day");
        let mut sorted = a.clone();
        sorted.sort_unstable_by(|x, y| y.cmp(x));
        assert_ne!(a, sorted, "explores");
    }

    #[tokio::test]
    async fn higher_scores_tend_to_come_first_and_low_temperature_keeps_the_order() {
        let (g, posts) = setup();
        let t = Sample(SampleParams {
            temperature: 1.0,
            keep_top: 0,
        });
        // Over many viewers, the best post lands in the first half far
        // more often than the worst.
        let (mut best, mut worst) = (0, 0);
        for v in 0..200 {
            let out = run(&t, &g, &posts, &format!("did:plc:v{v}"), 0).await;
            let at = |score: u32| out.iter().position(|&s| s == score).unwrap();
            best += usize::from(at(40) < 20);
            worst += usize::from(at(1) < 20);
        }
        assert!(best > 150 && worst < 50, "best {best}, worst {worst}");
        let cold = Sample(SampleParams {
            temperature: 0.05,
            keep_top: 0,
        });
        let out = run(&cold, &g, &posts, "did:plc:a", 0).await;
        // Only neighbours trade places: no post moves more than a few.
        let moved = out
            .iter()
            .enumerate()
            .map(|(i, s)| (40 - *s as i64 - i as i64).abs())
            .max()
            .unwrap();
        assert!(moved <= 4, "{out:?}");
    }

    #[test]
    fn bad_params_are_refused() {
        for (text, field) in [("temperature = 0.0", "temperature"), ("keep_top = 5000", "keep_top")] {
            let err = (KIND.build)(toml::from_str(text).unwrap()).err().unwrap();
            assert_eq!(err.field.as_deref(), Some(field));
        }
    }
}
