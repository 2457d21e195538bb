//! `feedmixer status [FEED]`: a running server's feed status
//! (`GET /v1/feeds/{feed}/status`) for a terminal; without a feed, every
//! feed the server describes.

use serde_json::Value;

use crate::admin::{Admin, AdminArgs};

#[derive(clap::Args)]
pub struct StatusArgs {
    /// The feed (its record key); none: every feed the server serves.
    feed: Option<String>,
    #[command(flatten)]
    server: AdminArgs,
    /// Print the answers as JSON, one line each.
    #[arg(long)]
    json: bool,
}

pub async fn run(args: StatusArgs) -> anyhow::Result<()> {
    let admin = Admin::new(&args.server)?;
    let feeds = match &args.feed {
        Some(feed) => vec![feed.clone()],
        None => served_feeds(&admin).await?,
    };
    for feed in feeds {
        let body = admin.get(&format!("/v1/feeds/{feed}/status")).await?;
        if args.json {
            println!("{body}");
        } else {
            print!("{}", render(&body));
        }
    }
    Ok(())
}

/// The record keys of the feeds the server describes (public route).
async fn served_feeds(admin: &Admin) -> anyhow::Result<Vec<String>> {
    let body = admin
        .get("/xrpc/app.bsky.feed.describeFeedGenerator")
        .await?;
    Ok(body["feeds"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|feed| feed["uri"].as_str()?.rsplit('/').next().map(str::to_owned))
        .collect())
}

/// One feed's status as lines for a person.
fn render(status: &Value) -> String {
    let text = |v: &Value| match v {
        Value::Null => "unknown".to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let pool = &status["pool"];
    let ingest = &status["ingest"];
    let mut out = format!(
        "feed {} — flow {}, preset {}\n",
        text(&status["feed"]),
        text(&status["flow"]),
        text(&status["preset"])
    );
    out += &format!(
        "  pool         {} posts{}\n",
        text(&pool["size"]),
        if pool["restricted_to_pool"] == Value::Bool(true) {
            " (the flow serves only pool posts)"
        } else {
            ""
        }
    );
    let connected = match ingest["connected"] {
        Value::Bool(true) => "connected",
        Value::Bool(false) => "disconnected",
        _ => "ingested elsewhere",
    };
    let lag = ingest["lag_seconds"]
        .as_f64()
        .map_or("no cursor yet".to_string(), |lag| {
            format!("{lag:.1} s behind")
        });
    out += &format!("  ingest       {connected}, {lag}\n");
    out += &format!(
        "  store        {}\n",
        if status["store"]["up"] == Value::Bool(true) {
            "up"
        } else {
            "down"
        }
    );
    out += &format!(
        "  quality      {:.2} (floor {})\n",
        status["quality_factor"].as_f64().unwrap_or(f64::NAN),
        text(&status["quality_factor_floor"])
    );
    for failure in status["failures"].as_array().into_iter().flatten() {
        out += &format!(
            "  failing      {} {}: {} failures, {} timeouts\n",
            text(&failure["stage"]),
            text(&failure["component"]),
            text(&failure["failures"]),
            text(&failure["timeouts"])
        );
    }
    match status["diagnosis"].as_array() {
        Some(findings) if !findings.is_empty() => {
            out += "  diagnosis\n";
            for finding in findings {
                out += &format!("    - {}\n", text(finding));
            }
        }
        _ => out += "  diagnosis    healthy\n",
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_reads_as_lines() {
        let status = serde_json::json!({
            "feed": "curated", "flow": "curated", "preset": "default",
            "pool": {"size": 0, "restricted_to_pool": true, "last_sync": null},
            "ingest": {"connected": null, "lag_seconds": 2.5},
            "store": {"up": true},
            "quality_factor": 1.0, "quality_factor_floor": 0.1,
            "failures": [{"stage": "source", "component": "walk", "failures": 3, "timeouts": 0}],
            "diagnosis": ["pool empty: add posts"],
        });
        let text = render(&status);
        assert!(text.starts_with("feed curated — flow curated, preset default\n"));
        assert!(text.contains("0 posts (the flow serves only pool posts)"));
        assert!(text.contains("ingested elsewhere, 2.5 s behind"));
        assert!(text.contains("source walk: 3 failures, 0 timeouts"));
        assert!(text.contains("    - pool empty: add posts\n"));
        let healthy = serde_json::json!({"diagnosis": []});
        assert!(render(&healthy).contains("diagnosis    healthy"));
    }
}
