//! `feedmixer status [FEED]`: a running server's feed status
//! (`GET /v1/feeds/{feed}/status`) for a terminal; without a feed, every
//! feed the server describes.

use anyhow::{Context, bail};
use serde_json::Value;

#[derive(clap::Args)]
pub struct StatusArgs {
    /// The feed (its record key); none: every feed the server serves.
    feed: Option<String>,
    /// The server's admin listener.
    #[arg(long, env = "FEEDMIXER_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// The server's admin token.
    #[arg(long, env = "FEEDMIXER_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// Print the answers as JSON, one line each.
    #[arg(long)]
    json: bool,
}

/// How long the server may take to answer.
const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

pub async fn run(args: StatusArgs) -> anyhow::Result<()> {
    feedmixer_identity::install_crypto_provider();
    let client = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .build()
        .context("building the HTTP client")?;
    let base = args.url.trim_end_matches('/');
    let feeds = match &args.feed {
        Some(feed) => vec![feed.clone()],
        None => served_feeds(&client, base).await?,
    };
    for feed in feeds {
        let mut request = client.get(format!("{base}/v1/feeds/{feed}/status"));
        if let Some(token) = &args.admin_token {
            request = request.bearer_auth(token);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("asking {base} for the status of {feed}"))?;
        let code = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if !code.is_success() {
            let why = body["message"].as_str().unwrap_or("no message");
            bail!("{base} answered {code} for the status of {feed}: {why}");
        }
        if args.json {
            println!("{body}");
        } else {
            print!("{}", render(&body));
        }
    }
    Ok(())
}

/// The record keys of the feeds the server describes (public route).
async fn served_feeds(client: &reqwest::Client, base: &str) -> anyhow::Result<Vec<String>> {
    let url = format!("{base}/xrpc/app.bsky.feed.describeFeedGenerator");
    let body: Value = client
        .get(&url)
        .send()
        .await
        .with_context(|| format!("asking {url}"))?
        .error_for_status()?
        .json()
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
