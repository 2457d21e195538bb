//! `weighted_sum`: blends sources by weight, as Phoenix blends models. Each
//! source's scores are first divided by that source's best score among the
//! candidates, so weights compare sources whose raw scales differ by orders
//! of magnitude (walk probabilities vs decayed like counts).

use std::sync::Arc;

use async_trait::async_trait;
use feedmixer_flow::{
    Candidate, ComponentError, Kind, NoParams, Params, Ranker, Registration, RequestContext,
    SourceInfo, register,
};

pub const KIND: Kind<dyn Ranker> = Kind {
    name: "weighted_sum",
    description: "Sum of each source's max-normalized score times the source's weight",
    reads: &[],
    params: NoParams::docs,
    build: |table| {
        NoParams::from_table(table)?;
        Ok(Arc::new(WeightedSum))
    },
};

register!(Registration::Ranker(KIND));

pub struct WeightedSum;

#[async_trait]
impl Ranker for WeightedSum {
    async fn rank(
        &self,
        _ctx: &RequestContext,
        sources: &[SourceInfo],
        candidates: &mut Vec<Candidate>,
    ) -> Result<(), ComponentError> {
        let mut best = vec![0.0f32; sources.len()];
        for c in candidates.iter() {
            for (b, s) in best.iter_mut().zip(&c.source_scores) {
                *b = b.max(*s);
            }
        }
        let factors: Vec<f32> = sources
            .iter()
            .zip(&best)
            .map(|(source, &b)| if b > 0.0 { source.weight / b } else { 0.0 })
            .collect();
        for c in candidates.iter_mut() {
            c.score = c
                .source_scores
                .iter()
                .zip(&factors)
                .map(|(s, f)| s * f)
                .sum();
        }
        candidates.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.post.cmp(&b.post)));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{candidate, ctx, graph, post, uris};

    #[tokio::test]
    async fn normalizes_then_weighs() {
        let (a, b, c) = (post("x", 1), post("x", 2), post("x", 3));
        let g = graph(&[("u", &a, 1), ("u", &b, 1), ("u", &c, 1)]);
        let sources = [
            SourceInfo {
                id: "walk".into(),
                weight: 1.0,
            },
            SourceInfo {
                id: "trending".into(),
                weight: 0.5,
            },
        ];
        // walk: a is best (0.002 -> 1.0), b half; trending: c is best (40 -> 1.0), b a quarter.
        let mut candidates = vec![
            candidate(&g, &a, &[0.002, 0.0]),
            candidate(&g, &b, &[0.001, 10.0]),
            candidate(&g, &c, &[0.0, 40.0]),
        ];
        WeightedSum
            .rank(&ctx(&g, None), &sources, &mut candidates)
            .await
            .unwrap();
        assert_eq!(uris(&g, &candidates), vec![a.clone(), b.clone(), c.clone()]);
        let scores: Vec<f32> = candidates.iter().map(|c| c.score).collect();
        assert_eq!(scores, vec![1.0, 0.5 + 0.125, 0.5]);
    }
}
