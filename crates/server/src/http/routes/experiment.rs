//! `GET /v1/feeds/{feed}/experiment` (admin): the feed's experiment arm
//! by arm — the interactions that came back on posts each arm served,
//! tallied by every replica in the store, and each event's rate per
//! `interactionSeen` with a 95 % Wilson interval. `feedmixer experiments
//! report FEED` prints it.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use feedmixer_atproto::{INTERACTION_EVENTS, InteractionEvent};
use serde_json::{Value, json};

use crate::AppState;
use crate::http::error::XrpcError;
use crate::http::known_feed::KnownFeed;
use crate::http::routes::interactions::experiment_group;

/// z of a two-sided 95 % interval.
const Z: f64 = 1.959_964;

pub async fn report(
    State(state): State<Arc<AppState>>,
    KnownFeed(name): KnownFeed,
) -> Result<Json<Value>, XrpcError> {
    let catalog = state.catalog.load();
    let feed = catalog.feed(&name).expect("KnownFeed checked it");
    let Some(experiment) = &feed.experiment else {
        return Err(XrpcError::invalid_request(format!(
            "feed {name:?} has no experiment ([feeds.{name}.experiment] in the feeds file)"
        )));
    };
    let counts = state
        .store
        .counts_in(&experiment_group(&name, &experiment.name))
        .await?;
    let seen_event = InteractionEvent::Seen.name();
    let arms: Vec<Value> = experiment
        .arms
        .iter()
        .map(|arm| {
            let count = |event: &str| {
                counts
                    .get(&format!("{}:{event}", arm.name))
                    .copied()
                    .unwrap_or(0)
            };
            let seen = count(seen_event);
            let mut by_event = serde_json::Map::new();
            let mut rates = serde_json::Map::new();
            for event in INTERACTION_EVENTS {
                let n = count(event.name());
                by_event.insert(event.name().into(), n.into());
                if event != InteractionEvent::Seen {
                    rates.insert(event.name().into(), rate(n, seen));
                }
            }
            json!({
                "name": arm.name,
                "percent": arm.percent,
                "flow": arm.def.name,
                "preset": arm.preset,
                "counts": by_event,
                "rates": rates,
            })
        })
        .collect();
    Ok(Json(json!({
        "feed": name,
        "experiment": experiment.name,
        "per": seen_event,
        "arms": arms,
    })))
}

/// `hits` out of `trials` with its 95 % Wilson score interval; null rates
/// without trials.
fn rate(hits: u64, trials: u64) -> Value {
    if trials == 0 {
        return json!({"rate": null, "low": null, "high": null});
    }
    let (n, p) = (trials as f64, (hits as f64 / trials as f64).min(1.0));
    let centre = p + Z * Z / (2.0 * n);
    let spread = Z * (p * (1.0 - p) / n + Z * Z / (4.0 * n * n)).sqrt();
    let denominator = 1.0 + Z * Z / n;
    json!({
        "rate": hits as f64 / n,
        "low": ((centre - spread) / denominator).max(0.0),
        "high": ((centre + spread) / denominator).min(1.0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_intervals_hold_the_rate_and_narrow_with_trials() {
        let small = rate(2, 10);
        let big = rate(200, 1_000);
        for r in [&small, &big] {
            let (low, p, high) = (
                r["low"].as_f64().unwrap(),
                r["rate"].as_f64().unwrap(),
                r["high"].as_f64().unwrap(),
            );
            assert!(low < p && p < high, "{r}");
            assert!((p - 0.2).abs() < 1e-9);
        }
        let width = |r: &Value| r["high"].as_f64().unwrap() - r["low"].as_f64().unwrap();
        assert!(width(&big) < width(&small) / 3.0);
        // Known value: 2 of 10 → about [0.057, 0.510].
        assert!(
            (small["low"].as_f64().unwrap() - 0.0567).abs() < 1e-3,
            "{small}"
        );
        assert!(
            (small["high"].as_f64().unwrap() - 0.5098).abs() < 1e-3,
            "{small}"
        );
        assert_eq!(rate(0, 0)["rate"], Value::Null);
        assert_eq!(rate(0, 5)["low"].as_f64(), Some(0.0));
    }
}
