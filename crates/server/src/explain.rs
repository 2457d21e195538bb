//! The explain trace of `POST /v1/personalize` with `"explain": true`: per
//! stage and component, candidates in and out, what each predicate dropped,
//! gates, timings, the quality factor, and the scores the ranker combined
//! for the posts on the page.

use std::collections::HashSet;

use feedmixer_flow::Flow;
use feedmixer_flow::executor::FlowOutput;
use feedmixer_flow::gate::Value as ParamValue;
use feedmixer_flow::placement::ListItem;
use feedmixer_flow::spec::StageKind;
use feedmixer_graph::LikeGraph;
use serde_json::{Map, Value, json};

/// At most this many dropped posts are listed per predicate.
const MAX_DROPPED_LISTED: usize = 50;

fn ms(d: std::time::Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

pub fn trace(
    graph: &LikeGraph,
    flow: &Flow,
    preset: &str,
    output: &FlowOutput,
    page: &[ListItem],
) -> Value {
    let stages: Vec<Value> = output
        .stages
        .iter()
        .map(|s| {
            let mut stage = json!({
                "stage": s.stage.as_str(),
                "component": s.component,
                "candidates_in": s.candidates_in,
                "candidates_out": s.candidates_out,
                "elapsed_ms": ms(s.elapsed),
            });
            let fields = stage.as_object_mut().expect("an object");
            if let Some(gate) = &s.gate {
                fields.insert("gate".into(), json!(gate));
                fields.insert("skipped".into(), json!(s.skipped));
            }
            if let Some(failure) = &s.failure {
                fields.insert("failure".into(), json!(failure));
            }
            if s.placed > 0 {
                fields.insert("placed".into(), json!(s.placed));
            }
            if s.stage == StageKind::Hydrator {
                fields.insert("features".into(), json!(s.features));
            }
            if s.candidates_in > s.candidates_out && !s.dropped.is_empty() {
                let listed: Vec<String> = s
                    .dropped
                    .iter()
                    .take(MAX_DROPPED_LISTED)
                    .map(|p| graph.post_uri(*p))
                    .collect();
                fields.insert(
                    "dropped".into(),
                    json!({ "count": s.dropped.len(), "reason": s.component, "posts": listed }),
                );
            }
            stage
        })
        .collect();

    let on_page: HashSet<&str> = page.iter().map(|item| item.post.as_str()).collect();
    let scores: Vec<Value> = output
        .ranked
        .iter()
        .filter(|c| graph.with_post_uri(c.post, |uri| on_page.contains(uri)))
        .map(|c| {
            let by_source: Map<String, Value> = flow
                .sources()
                .iter()
                .zip(&c.source_scores)
                .filter(|(_, s)| **s > 0.0)
                .map(|(source, s)| (source.id.clone(), json!(s)))
                .collect();
            json!({ "post": graph.post_uri(c.post), "score": c.score, "sources": by_source })
        })
        .collect();
    let weights: Map<String, Value> = flow
        .sources()
        .iter()
        .map(|s| (s.id.clone(), json!(s.weight)))
        .collect();
    let params: Map<String, Value> = output
        .params
        .iter()
        .map(|(k, v)| {
            let v = match v {
                ParamValue::Bool(b) => json!(b),
                ParamValue::Number(n) => json!(n),
            };
            (k.clone(), v)
        })
        .collect();

    json!({
        "flow": flow.name,
        "preset": preset,
        "eligible": output.eligible,
        "quality_factor": output.quality_factor,
        "params": params,
        "elapsed_ms": ms(output.elapsed),
        "source_weights": weights,
        "stages": stages,
        "placed": output.placements.iter().map(|p| json!({
            "post": p.post,
            "kind": format!("{:?}", p.kind).to_lowercase(),
        })).collect::<Vec<_>>(),
        "scores": scores,
    })
}

/// A page served from a cached ranked list: no flow ran for it.
pub fn from_session() -> Value {
    json!({ "cached": true, "note": "served from the ranked list behind the cursor; no flow ran" })
}
