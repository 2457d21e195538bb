//! Talking to a running server's admin routes from the command line
//! (`feedmixer status`, `feedmixer experiments`).

use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::Value;

/// How long the server may take to answer.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Where the server's admin routes are and the token they take.
#[derive(clap::Args)]
pub struct AdminArgs {
    /// The server's admin listener.
    #[arg(long, env = "FEEDMIXER_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// The server's admin token.
    #[arg(long, env = "FEEDMIXER_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
}

/// A client for one server.
pub struct Admin {
    client: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Admin {
    pub fn new(args: &AdminArgs) -> anyhow::Result<Admin> {
        feedmixer_identity::install_crypto_provider();
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .build()
            .context("building the HTTP client")?;
        Ok(Admin {
            client,
            base: args.url.trim_end_matches('/').to_owned(),
            token: args.admin_token.clone(),
        })
    }

    /// `GET path`, its JSON answer; an error names the server's answer.
    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        let mut request = self.client.get(format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("asking {} for {path}", self.base))?;
        let code = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if !code.is_success() {
            let why = body["message"].as_str().unwrap_or("no message");
            bail!("{} answered {code} for {path}: {why}", self.base);
        }
        Ok(body)
    }
}
