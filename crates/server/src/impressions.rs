//! The impression log (`[impressions]`): every served page as one JSON
//! line — when, the feed, the answer's `reqId`, a salted hash of the
//! viewer, and each item with its position and why it is there (its
//! sources, or its placement: the `feedContext` clients echo back) — so
//! offline tools can join what was served with the interactions that came
//! back. Written by one task behind a bounded queue: a page never waits
//! for the disk, and a page that finds the queue full is dropped and
//! counted. Files rotate by size; the oldest go past `max_files`.

use std::io::Write;
use std::path::{Path, PathBuf};

use feedmixer_atproto::clock::now_us;
use metrics::counter;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use crate::metrics::{IMPRESSIONS, IMPRESSIONS_DROPPED};
use crate::serve_feed::Page;

/// `[impressions]` in the service config; without `dir` there is no log.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ImpressionConfig {
    /// Where the JSONL files go (created if missing), relative to the
    /// working directory.
    pub dir: Option<PathBuf>,
    /// Mixed into the viewers' hashes, so the log names no DID; keep it
    /// the same to join logs across restarts.
    pub salt: String,
    /// A file is closed and a new one begun past this size.
    pub max_file_bytes: u64,
    /// Files kept; the oldest go.
    pub max_files: usize,
    /// Pages waiting for the writer at most; more are dropped.
    pub queue: usize,
}

impl Default for ImpressionConfig {
    fn default() -> Self {
        ImpressionConfig {
            dir: None,
            salt: String::new(),
            max_file_bytes: 64 << 20,
            max_files: 10,
            queue: 10_000,
        }
    }
}

impl ImpressionConfig {
    /// What is wrong with the table, each as `impressions.KEY: reason`.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.dir.is_some() && self.salt.len() < 16 {
            problems.push("impressions.salt: at least 16 characters when dir is set".into());
        }
        if !(1 << 20..=1 << 34).contains(&self.max_file_bytes) {
            problems.push("impressions.max_file_bytes: 1048576..=17179869184".into());
        }
        if !(1..=10_000).contains(&self.max_files) {
            problems.push("impressions.max_files: 1..=10000".into());
        }
        if !(1..=1_000_000).contains(&self.queue) {
            problems.push("impressions.queue: 1..=1000000".into());
        }
        problems
    }
}

/// One line of the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Impression {
    pub time_us: u64,
    pub feed: String,
    pub req_id: String,
    /// Hex SHA-256 of the salt and the viewer's DID; `None` anonymous.
    pub viewer: Option<String>,
    /// The experiment arm the viewer was in, if the feed has one.
    pub arm: Option<String>,
    pub items: Vec<ImpressionItem>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImpressionItem {
    pub post: String,
    /// The item's `feedContext`: the ids of the sources that proposed
    /// it, or its placement.
    pub context: String,
}

/// Where pages are handed to the writer; a no-op when the log is off.
#[derive(Debug, Clone)]
pub struct ImpressionLog {
    inner: Option<(mpsc::Sender<Impression>, String)>,
}

impl ImpressionLog {
    /// No log.
    pub fn off() -> Self {
        ImpressionLog { inner: None }
    }

    /// Starts the writer task when `config` names a directory. Fails when
    /// the directory cannot be created.
    pub fn start(config: &ImpressionConfig) -> std::io::Result<Self> {
        let Some(dir) = &config.dir else {
            return Ok(Self::off());
        };
        std::fs::create_dir_all(dir)?;
        counter!(IMPRESSIONS, "outcome" => "written").increment(0);
        counter!(IMPRESSIONS_DROPPED).increment(0);
        let (tx, rx) = mpsc::channel(config.queue);
        let writer = Writer {
            dir: dir.clone(),
            max_file_bytes: config.max_file_bytes,
            max_files: config.max_files,
            file: None,
            written: 0,
        };
        // Blocking writes, off the request path.
        tokio::task::spawn_blocking(move || writer.run(rx));
        Ok(ImpressionLog {
            inner: Some((tx, config.salt.clone())),
        })
    }

    /// Queues `page` of `feed` served to `viewer` (in experiment arm
    /// `arm`); never waits.
    pub fn record(&self, feed: &str, viewer: Option<&str>, arm: Option<&str>, page: &Page) {
        let Some((tx, salt)) = &self.inner else {
            return;
        };
        let impression = Impression {
            time_us: now_us(),
            feed: feed.to_owned(),
            req_id: page.req_id.clone(),
            viewer: viewer.map(|did| viewer_hash(salt, did)),
            arm: arm.map(str::to_owned),
            items: page
                .posts
                .iter()
                .map(|item| ImpressionItem {
                    post: item.post.clone(),
                    context: item.context.clone(),
                })
                .collect(),
        };
        if tx.try_send(impression).is_err() {
            counter!(IMPRESSIONS_DROPPED).increment(1);
        }
    }
}

/// The viewer as the log names it.
pub fn viewer_hash(salt: &str, did: &str) -> String {
    let digest = Sha256::new()
        .chain_update(salt.as_bytes())
        .chain_update([0])
        .chain_update(did.as_bytes())
        .finalize();
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

struct Writer {
    dir: PathBuf,
    max_file_bytes: u64,
    max_files: usize,
    file: Option<std::io::BufWriter<std::fs::File>>,
    written: u64,
}

impl Writer {
    fn run(mut self, mut rx: mpsc::Receiver<Impression>) {
        while let Some(first) = rx.blocking_recv() {
            let mut next = Some(first);
            while let Some(impression) = next.take() {
                match self.write(&impression) {
                    Ok(()) => counter!(IMPRESSIONS, "outcome" => "written").increment(1),
                    Err(e) => {
                        counter!(IMPRESSIONS_DROPPED).increment(1);
                        tracing::warn!(error = %e, dir = %self.dir.display(), "cannot write the impression log");
                        self.file = None;
                    }
                }
                next = rx.try_recv().ok();
            }
            // The queue is empty: what was written reaches the file.
            if let Some(file) = &mut self.file
                && let Err(e) = file.flush()
            {
                tracing::warn!(error = %e, "cannot flush the impression log");
                self.file = None;
            }
        }
    }

    fn write(&mut self, impression: &Impression) -> std::io::Result<()> {
        if self.file.is_none() || self.written >= self.max_file_bytes {
            self.rotate()?;
        }
        let mut line = serde_json::to_vec(impression).map_err(std::io::Error::other)?;
        line.push(b'\n');
        let file = self.file.as_mut().expect("rotate opened one");
        file.write_all(&line)?;
        self.written += line.len() as u64;
        Ok(())
    }

    /// Closes the current file, opens a new one, and deletes the oldest
    /// past `max_files`.
    fn rotate(&mut self) -> std::io::Result<()> {
        if let Some(mut file) = self.file.take() {
            file.flush()?;
        }
        let path = self.dir.join(format!("impressions-{:020}.jsonl", now_us()));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)?;
        self.file = Some(std::io::BufWriter::new(file));
        self.written = 0;
        let mut files = log_files(&self.dir)?;
        while files.len() > self.max_files {
            std::fs::remove_file(files.remove(0))?;
        }
        Ok(())
    }
}

/// The log's files in `dir`, oldest first.
pub fn log_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| {
            path.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("impressions-") && n.ends_with(".jsonl"))
        })
        .collect();
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn viewers_are_hashed_with_the_salt() {
        let a = viewer_hash("salt-one-sixteen", "did:plc:a");
        assert_eq!(a.len(), 64);
        assert_eq!(a, viewer_hash("salt-one-sixteen", "did:plc:a"));
        assert_ne!(a, viewer_hash("salt-two-sixteen", "did:plc:a"));
        assert_ne!(a, viewer_hash("salt-one-sixteen", "did:plc:b"));
        assert!(!a.contains("did:plc"));
    }

    #[test]
    fn bad_tables_are_named() {
        let mut config = ImpressionConfig {
            dir: Some("x".into()),
            ..ImpressionConfig::default()
        };
        assert_eq!(config.problems().len(), 1, "a salt is needed");
        config.salt = "0123456789abcdef".into();
        assert!(config.problems().is_empty());
        config.max_files = 0;
        config.queue = 0;
        assert_eq!(config.problems().len(), 2);
    }

    #[tokio::test]
    async fn files_rotate_by_size_and_the_oldest_go() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = Writer {
            dir: dir.path().to_owned(),
            max_file_bytes: 1_000,
            max_files: 3,
            file: None,
            written: 0,
        };
        let impression = Impression {
            time_us: 1,
            feed: "f".into(),
            req_id: "r".into(),
            viewer: None,
            arm: None,
            items: vec![ImpressionItem {
                post: "at://did:plc:a/app.bsky.feed.post/3k".repeat(5),
                context: "walk".into(),
            }],
        };
        for _ in 0..100 {
            writer.write(&impression).unwrap();
            // Distinct file names need distinct microseconds.
            std::thread::sleep(std::time::Duration::from_micros(2));
        }
        writer.file.take().unwrap().flush().unwrap();
        let files = log_files(dir.path()).unwrap();
        assert_eq!(files.len(), 3, "{files:?}");
        for file in &files {
            let text = std::fs::read_to_string(file).unwrap();
            for line in text.lines() {
                let back: Impression = serde_json::from_str(line).unwrap();
                assert_eq!(back, impression);
            }
            assert!(text.len() < 1_000 + 300, "{}", text.len());
        }
    }
}
