//! One row per (feed, preset) and the popularity baseline: as JSON for
//! machines (one object per line) and as a markdown table for people.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;

/// The `feed` of the baseline's row.
pub const POPULARITY: &str = "popularity";

/// How one feed at one preset did over the sampled users. Means over
/// users, shares in `[0, 1]`, latencies in milliseconds. The field names
/// are the JSON form's, and stable: tools read them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    pub feed: String,
    /// The preset the feed ran with (`-` for the baseline).
    pub preset: String,
    /// Users ranked for.
    pub users: usize,
    #[serde(rename = "recall@10")]
    pub recall_10: f64,
    #[serde(rename = "recall@30")]
    pub recall_30: f64,
    /// The standard error of `recall@30` over the sampled users: the
    /// sample's own noise (differences of rows well within twice it are
    /// not shown to be real; sample more users).
    #[serde(rename = "recall@30_se")]
    pub recall_30_se: f64,
    #[serde(rename = "recall@100")]
    pub recall_100: f64,
    #[serde(rename = "ndcg@10")]
    pub ndcg_10: f64,
    #[serde(rename = "ndcg@30")]
    pub ndcg_30: f64,
    #[serde(rename = "ndcg@100")]
    pub ndcg_100: f64,
    /// Distinct posts in the users' first 30 slots / the posts a feed
    /// could serve at T (every servable post the graph knew).
    pub coverage: f64,
    /// Distinct posts in the users' first 30 slots.
    pub distinct_served: usize,
    /// Users whose list was empty.
    pub empty_lists: usize,
    /// Mean length of the users' lists (at most 100).
    pub mean_list: f64,
    /// Per source (its id in the flow; a placement by its kind): the
    /// share of the users' first-30 slots it proposed. A post several
    /// sources proposed counts for each, so shares may sum past 1.
    pub sources: BTreeMap<String, f64>,
    /// Wall time of the flow's run per user, in process.
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub mean_ms: f64,
}

impl Row {
    /// The row as one line of JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a row serializes")
    }
}

/// The rows as a markdown table: metrics to three decimals, latencies to
/// two, sources as percentages, largest first.
pub fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| feed | preset | users | R@10 | R@30 ± se | R@100 | nDCG@10 | nDCG@30 | nDCG@100 \
         | coverage | p50 ms | p99 ms | sources (share of top 30) |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n",
    );
    for r in rows {
        let mut sources: Vec<(&String, &f64)> = r.sources.iter().collect();
        sources.sort_by(|a, b| b.1.total_cmp(a.1).then(a.0.cmp(b.0)));
        let sources: Vec<String> = sources
            .iter()
            .map(|(id, share)| format!("{id} {:.0}%", *share * 100.0))
            .collect();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:.3} | {:.3} ± {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.2} | {:.2} | {} |",
            r.feed,
            r.preset,
            r.users,
            r.recall_10,
            r.recall_30,
            r.recall_30_se,
            r.recall_100,
            r.ndcg_10,
            r.ndcg_30,
            r.ndcg_100,
            r.coverage,
            r.p50_ms,
            r.p99_ms,
            sources.join(", ")
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> Row {
        Row {
            feed: "for-you".into(),
            preset: "fast".into(),
            users: 3,
            recall_10: 0.1,
            recall_30: 0.25,
            recall_30_se: 0.01,
            recall_100: 0.5,
            ndcg_10: 0.2,
            ndcg_30: 0.3,
            ndcg_100: 0.4,
            coverage: 0.012,
            distinct_served: 12,
            empty_lists: 0,
            mean_list: 100.0,
            sources: [("walk".to_string(), 0.9), ("trending".to_string(), 0.25)]
                .into_iter()
                .collect(),
            p50_ms: 1.234,
            p99_ms: 5.0,
            mean_ms: 2.0,
        }
    }

    #[test]
    fn the_json_names_are_the_stable_ones() {
        let json: serde_json::Value = serde_json::from_str(&row().to_json()).unwrap();
        for field in [
            "feed",
            "preset",
            "users",
            "recall@10",
            "recall@30",
            "recall@100",
            "ndcg@30",
            "coverage",
            "p50_ms",
        ] {
            assert!(json.get(field).is_some(), "{field} missing from {json}");
        }
        assert_eq!(json["recall@30"], 0.25);
        assert_eq!(json["sources"]["walk"], 0.9);
        assert!(!row().to_json().contains('\n'), "one line");
    }

    #[test]
    fn the_table_has_a_line_per_row() {
        let text = table(&[row()]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(
            lines[2],
            "| for-you | fast | 3 | 0.100 | 0.250 ± 0.010 | 0.500 | 0.200 | 0.300 | 0.400 | 0.012 \
             | 1.23 | 5.00 | walk 90%, trending 25% |"
        );
    }
}
