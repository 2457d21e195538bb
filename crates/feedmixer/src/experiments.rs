//! `feedmixer experiments report FEED`: a running server's experiment
//! (`GET /v1/feeds/{feed}/experiment`) as a table: per arm, the
//! interactions that came back and their rates per seen post with 95 %
//! intervals, so arms compare at a glance.

use serde_json::Value;

use crate::admin::{Admin, AdminArgs};

#[derive(clap::Subcommand)]
pub enum ExperimentsCommand {
    /// Compare a feed's experiment arms: counts, rates per seen post and
    /// 95 % intervals.
    Report {
        feed: String,
        #[command(flatten)]
        server: AdminArgs,
        /// Print the server's answer as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// The events the table shows, beside `interactionSeen`.
const SHOWN: [&str; 6] = [
    "interactionLike",
    "interactionRepost",
    "requestMore",
    "requestLess",
    "clickthroughItem",
    "interactionShare",
];

pub async fn run(command: ExperimentsCommand) -> anyhow::Result<()> {
    let ExperimentsCommand::Report { feed, server, json } = command;
    let admin = Admin::new(&server)?;
    let body = admin.get(&format!("/v1/feeds/{feed}/experiment")).await?;
    if json {
        println!("{body}");
    } else {
        print!("{}", render(&body));
    }
    Ok(())
}

fn render(report: &Value) -> String {
    let mut out = format!(
        "feed {} — experiment {} (rates per interactionSeen, 95 % interval)\n",
        report["feed"].as_str().unwrap_or("?"),
        report["experiment"].as_str().unwrap_or("?")
    );
    out += &format!("{:<16} {:>4} {:>8}", "arm", "%", "seen");
    for event in SHOWN {
        out += &format!(" {event:>28}");
    }
    out += "\n";
    for arm in report["arms"].as_array().into_iter().flatten() {
        out += &format!(
            "{:<16} {:>4} {:>8}",
            arm["name"].as_str().unwrap_or("?"),
            arm["percent"],
            arm["counts"]["interactionSeen"]
        );
        for event in SHOWN {
            let count = &arm["counts"][event];
            let rate = &arm["rates"][event];
            let cell = match (
                rate["rate"].as_f64(),
                rate["low"].as_f64(),
                rate["high"].as_f64(),
            ) {
                (Some(p), Some(low), Some(high)) => {
                    format!(
                        "{count} {:.1}% [{:.1}, {:.1}]",
                        p * 100.0,
                        low * 100.0,
                        high * 100.0
                    )
                }
                _ => format!("{count} -"),
            };
            out += &format!(" {cell:>28}");
        }
        out += "\n";
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_reads_as_a_table() {
        let report = serde_json::json!({
            "feed": "for-you", "experiment": "e",
            "arms": [{
                "name": "holdout", "percent": 20,
                "counts": {"interactionSeen": 10, "interactionLike": 2},
                "rates": {"interactionLike": {"rate": 0.2, "low": 0.0567, "high": 0.5098}},
            }],
        });
        let text = render(&report);
        assert!(text.starts_with("feed for-you — experiment e"), "{text}");
        assert!(text.contains("holdout"), "{text}");
        assert!(text.contains("2 20.0% [5.7, 51.0]"), "{text}");
    }
}
