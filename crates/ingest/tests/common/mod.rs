//! A local Jetstream stand-in and helpers for the ingest tests.

#![allow(dead_code)] // each test binary uses its own subset

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use feedmixer_atproto::testkit::{half_text_frame, text_frame_header};
use feedmixer_ingest::{IngestConfig, IngestError, IngestStatus, Ingester};
use feedmixer_store::{
    ApplyStats, EmbeddedStore, Interaction, InteractionLimits, LikeSink, PoolStats, RepoEvent,
    Store, StoreCounts, StoreError,
};
use futures::{SinkExt, StreamExt};
use tempfile::TempDir;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};

/// Base `time_us` of the scripted events (September 2024).
pub const T0: u64 = 1_725_000_000_000_000;
/// The replay margin the tests configure, in `time_us`.
pub const MARGIN_US: u64 = 1_000_000;

/// What the stand-in does on one connection, in order. When the steps run
/// out it holds the connection open (answering pings) until the client
/// leaves.
#[derive(Debug, Clone)]
pub enum Step {
    /// One text message.
    Send(String),
    /// One binary message.
    Binary(Vec<u8>),
    /// Sends a ping and waits for its pong: the client has read every
    /// earlier message. Then signals [`FakeJetstream::synced`].
    Sync,
    /// Closes the TCP connection without a close frame.
    Drop,
    /// Sends a close frame.
    Close,
    /// A text frame whose payload is these bytes as they are (not UTF-8,
    /// for one): what a broken server or proxy could put on the wire.
    RawText(Vec<u8>),
    /// The header of a text frame carrying this message and half of its
    /// bytes, then the TCP connection closes: a connection cut mid-frame.
    CutMidFrame(String),
    /// The same half frame, then silence on an open connection until the
    /// client leaves: a stall mid-frame.
    StallMidFrame(String),
    /// The header of a text frame claiming this many bytes (and a few of
    /// them), then nothing more until the client leaves.
    Oversized(u64),
    /// Silence on an open connection until the client leaves; later steps
    /// never run.
    Stall,
}

/// The steps for connection `index` (from 0), given the request's `cursor`.
type Script = dyn Fn(usize, Option<u64>) -> Vec<Step> + Send + Sync;

pub struct FakeJetstream {
    /// `ws://127.0.0.1:PORT`, without `/subscribe`.
    pub url: String,
    requests: Arc<Mutex<Vec<String>>>,
    synced: mpsc::UnboundedReceiver<()>,
    accept: JoinHandle<()>,
}

impl FakeJetstream {
    pub async fn start(
        script: impl Fn(usize, Option<u64>) -> Vec<Step> + Send + Sync + 'static,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ws://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (synced_tx, synced) = mpsc::unbounded_channel();
        let script: Arc<Script> = Arc::new(script);
        let accept = tokio::spawn({
            let requests = Arc::clone(&requests);
            async move {
                let mut index = 0;
                while let Ok((tcp, _)) = listener.accept().await {
                    tokio::spawn(serve(
                        tcp,
                        index,
                        Arc::clone(&script),
                        Arc::clone(&requests),
                        synced_tx.clone(),
                    ));
                    index += 1;
                }
            }
        });
        FakeJetstream {
            url,
            requests,
            synced,
            accept,
        }
    }

    /// A stand-in sending every connection all of `events`, whatever its
    /// cursor.
    pub async fn serving(events: &[RepoEvent]) -> Self {
        let events = events.to_vec();
        Self::start(move |_, _| from_cursor(&events, None)).await
    }

    /// A stand-in whose first connection gets `events[..cut]`, then the
    /// steps of `end` (with none it stays open but silent); every later
    /// connection gets `events` from its request's cursor on.
    pub async fn cut_after(events: &[RepoEvent], cut: usize, end: &[Step]) -> Self {
        let (events, end) = (events.to_vec(), end.to_vec());
        Self::start(move |index, cursor| {
            if index == 0 {
                let mut steps = from_cursor(&events[..cut], None);
                steps.extend(end.iter().cloned());
                steps
            } else {
                from_cursor(&events, cursor)
            }
        })
        .await
    }

    /// Every handshake's request target (`/subscribe?...`), in order.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }

    /// The `cursor` of request `index`.
    pub fn cursor(&self, index: usize) -> Option<u64> {
        cursor_of(&self.requests()[index])
    }

    /// Waits for the next [`Step::Sync`] to complete.
    pub async fn synced(&mut self) {
        tokio::time::timeout(Duration::from_secs(10), self.synced.recv())
            .await
            .expect("timed out waiting for the client to read up to a sync step")
            .expect("server gone");
    }
}

impl Drop for FakeJetstream {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

pub fn cursor_of(request: &str) -> Option<u64> {
    let query = request.split_once('?')?.1;
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("cursor="))
        .map(|v| v.parse().expect("numeric cursor"))
}

async fn serve(
    tcp: TcpStream,
    index: usize,
    script: Arc<Script>,
    requests: Arc<Mutex<Vec<String>>>,
    synced: mpsc::UnboundedSender<()>,
) {
    let mut target = String::new();
    // The signature is tungstenite's, large error and all.
    #[allow(clippy::result_large_err)]
    let callback = |request: &Request, response: Response| -> Result<Response, ErrorResponse> {
        target = request.uri().to_string();
        Ok(response)
    };
    let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(tcp, callback).await else {
        return;
    };
    requests.lock().unwrap().push(target.clone());
    for step in script(index, cursor_of(&target)) {
        let sent = match step {
            Step::Send(text) => ws.send(Message::text(text)).await,
            Step::Binary(bytes) => ws.send(Message::binary(bytes)).await,
            Step::Sync => {
                if ws.send(Message::Ping("sync".into())).await.is_err() {
                    return;
                }
                loop {
                    match ws.next().await {
                        Some(Ok(Message::Pong(_))) => break,
                        Some(Ok(_)) => continue,
                        _ => return,
                    }
                }
                let _ = synced.send(());
                Ok(())
            }
            Step::Drop => return,
            Step::Close => {
                let _ = ws.close(None).await;
                while let Some(Ok(_)) = ws.next().await {}
                return;
            }
            Step::RawText(bytes) => {
                let mut frame = text_frame_header(bytes.len() as u64);
                frame.extend_from_slice(&bytes);
                write_raw(&mut ws, &frame).await
            }
            Step::CutMidFrame(text) => {
                let _ = write_raw(&mut ws, &half_text_frame(&text)).await;
                return;
            }
            Step::StallMidFrame(text) => {
                if write_raw(&mut ws, &half_text_frame(&text)).await.is_ok() {
                    while let Some(Ok(_)) = ws.next().await {}
                }
                return;
            }
            Step::Oversized(len) => {
                let mut frame = text_frame_header(len);
                frame.extend_from_slice(&[b'x'; 64]);
                if write_raw(&mut ws, &frame).await.is_ok() {
                    while let Some(Ok(_)) = ws.next().await {}
                }
                return;
            }
            Step::Stall => {
                while let Some(Ok(_)) = ws.next().await {}
                return;
            }
        };
        if sent.is_err() {
            return;
        }
    }
    while let Some(Ok(_)) = ws.next().await {}
}

/// Writes bytes past the WebSocket layer, after what it has buffered.
async fn write_raw(
    ws: &mut tokio_tungstenite::WebSocketStream<TcpStream>,
    bytes: &[u8],
) -> Result<(), tokio_tungstenite::tungstenite::Error> {
    use tokio::io::AsyncWriteExt;
    ws.flush().await?;
    ws.get_mut().write_all(bytes).await?;
    ws.get_mut().flush().await?;
    Ok(())
}

pub fn did(n: u32) -> String {
    format!("did:plc:user{n:04}")
}

pub fn rkey(n: u64) -> String {
    format!("3lk{n:010}")
}

pub fn create(did_n: u32, rkey_n: u64, time_us: u64) -> RepoEvent {
    RepoEvent::LikeCreate {
        did: did(did_n),
        rkey: rkey(rkey_n),
        subject: format!("at://did:plc:author/app.bsky.feed.post/3p{rkey_n:08}"),
        time_us,
    }
}

pub fn delete(did_n: u32, rkey_n: u64, time_us: u64) -> RepoEvent {
    RepoEvent::LikeDelete {
        did: did(did_n),
        rkey: rkey(rkey_n),
        time_us,
    }
}

pub fn account_deleted(did_n: u32, time_us: u64) -> RepoEvent {
    RepoEvent::AccountDeleted {
        did: did(did_n),
        time_us,
    }
}

pub fn send(event: &RepoEvent) -> Step {
    Step::Send(event.to_jetstream_json())
}

/// `n` creates, 100 ms apart from [`T0`], from a handful of DIDs.
pub fn creates(n: u64) -> Vec<RepoEvent> {
    (0..n)
        .map(|i| create((i % 4) as u32, i, T0 + i * 100_000))
        .collect()
}

/// The steps sending every event with `time_us >= cursor` (all without one).
pub fn from_cursor(events: &[RepoEvent], cursor: Option<u64>) -> Vec<Step> {
    events
        .iter()
        .filter(|e| cursor.is_none_or(|c| e.time_us() >= c))
        .map(send)
        .collect()
}

/// Fast settings for tests: 1 s margin, 5 ms linger, 10-50 ms backoff.
pub fn config(url: &str) -> IngestConfig {
    IngestConfig {
        url: url.to_string(),
        replay_margin: Duration::from_micros(MARGIN_US),
        batch_max: 500,
        batch_linger: Duration::from_millis(5),
        backoff_min: Duration::from_millis(10),
        backoff_max: Duration::from_millis(50),
        idle_timeout: Duration::from_secs(5),
        max_likes_per_did_per_minute: Some(300),
    }
}

pub fn open_store() -> (TempDir, Arc<EmbeddedStore>) {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    (dir, Arc::new(store))
}

/// A running ingester task and the means to stop it.
pub struct Running {
    pub status: watch::Receiver<IngestStatus>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), IngestError>>,
}

impl Running {
    pub fn start(config: IngestConfig, store: Arc<dyn Store>) -> Self {
        let ingester = Ingester::new(config).unwrap();
        let status = ingester.status();
        let (stop, stopped) = oneshot::channel::<()>();
        let task =
            tokio::spawn(
                ingester.run(store, Arc::new(feedmixer_store::NoRouting), async move {
                    let _ = stopped.await;
                }),
            );
        Running { status, stop, task }
    }

    /// Waits (10 s at most) until the status satisfies `what`.
    pub async fn wait(
        &mut self,
        label: &str,
        what: impl FnMut(&IngestStatus) -> bool,
    ) -> IngestStatus {
        let waited = tokio::time::timeout(Duration::from_secs(10), self.status.wait_for(what))
            .await
            .map(|r| r.map(|status| status.clone()));
        match waited {
            Ok(Ok(status)) => status,
            Ok(Err(_)) => panic!(
                "ingester stopped before {label}: {:?}",
                *self.status.borrow()
            ),
            Err(_) => panic!("timed out waiting for {label}: {:?}", *self.status.borrow()),
        }
    }

    /// Waits until the stored cursor reaches `time_us`.
    pub async fn wait_cursor(&mut self, time_us: u64) -> IngestStatus {
        self.wait(&format!("cursor {time_us}"), |s| {
            s.last_time_us.is_some_and(|t| t >= time_us)
        })
        .await
    }

    /// Signals shutdown and returns what `run` returned.
    pub async fn stop(self) -> Result<(), IngestError> {
        let _ = self.stop.send(());
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("ingester did not stop")
            .expect("ingester task panicked")
    }
}

/// Every live like as (did, rkey, time_us), in time order (the store
/// delivers them in its log's order).
pub async fn likes(store: &dyn Store) -> Vec<(String, String, u64)> {
    let mut out = Vec::new();
    store
        .scan_likes(0, &mut |like: feedmixer_store::LikeRef<'_>| {
            out.push((like.did.to_string(), like.rkey.to_string(), like.time_us))
        })
        .await
        .unwrap();
    out.sort_by(|a, b| (a.2, &a.0, &a.1).cmp(&(b.2, &b.0, &b.1)));
    out
}

/// The likes the given creates make, in [`likes`]' shape.
pub fn expected(events: &[RepoEvent]) -> Vec<(String, String, u64)> {
    events
        .iter()
        .filter_map(|e| match e {
            RepoEvent::LikeCreate {
                did, rkey, time_us, ..
            } => Some((did.clone(), rkey.clone(), *time_us)),
            _ => None,
        })
        .collect()
}

pub async fn stored_cursor(store: &dyn Store) -> Option<u64> {
    store
        .get_meta(feedmixer_ingest::CURSOR_KEY)
        .await
        .unwrap()
        .map(|v| String::from_utf8(v).unwrap().parse().unwrap())
}

/// An [`EmbeddedStore`] whose next `fail_applies` applies fail.
pub struct FlakyStore {
    pub inner: Arc<EmbeddedStore>,
    pub fail_applies: AtomicU32,
}

#[async_trait::async_trait]
impl Store for FlakyStore {
    async fn apply(&self, events: &[RepoEvent]) -> Result<ApplyStats, StoreError> {
        let failing = self
            .fail_applies
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if failing {
            return Err(StoreError::Backend(Box::new(std::io::Error::other(
                "injected failure",
            ))));
        }
        self.inner.apply(events).await
    }

    async fn scan_likes(&self, since_us: u64, sink: &mut LikeSink<'_>) -> Result<u64, StoreError> {
        self.inner.scan_likes(since_us, sink).await
    }

    async fn scan_posts(
        &self,
        since_us: u64,
        sink: &mut feedmixer_store::PostSink<'_>,
    ) -> Result<u64, StoreError> {
        self.inner.scan_posts(since_us, sink).await
    }

    async fn scan_removed_posts(
        &self,
        sink: &mut feedmixer_store::RemovedSink<'_>,
    ) -> Result<u64, StoreError> {
        self.inner.scan_removed_posts(sink).await
    }

    async fn counts(&self) -> Result<StoreCounts, StoreError> {
        self.inner.counts().await
    }

    async fn get_meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get_meta(key).await
    }

    async fn set_meta(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.inner.set_meta(key, value).await
    }

    async fn set_meta_if_absent(&self, key: &str, value: &[u8]) -> Result<Vec<u8>, StoreError> {
        self.inner.set_meta_if_absent(key, value).await
    }

    async fn update_pool(
        &self,
        feed: &str,
        add: &[String],
        remove: &[String],
        replace: bool,
    ) -> Result<PoolStats, StoreError> {
        self.inner.update_pool(feed, add, remove, replace).await
    }

    async fn pool(&self, feed: &str) -> Result<Vec<String>, StoreError> {
        self.inner.pool(feed).await
    }

    async fn pool_feeds(&self) -> Result<Vec<String>, StoreError> {
        self.inner.pool_feeds().await
    }

    async fn add_interactions(
        &self,
        viewer: &str,
        items: &[Interaction],
        limits: InteractionLimits,
        now_us: u64,
    ) -> Result<(), StoreError> {
        self.inner
            .add_interactions(viewer, items, limits, now_us)
            .await
    }

    async fn interactions(
        &self,
        viewer: &str,
        since_us: u64,
    ) -> Result<Vec<Interaction>, StoreError> {
        self.inner.interactions(viewer, since_us).await
    }

    async fn likes_version(&self) -> Result<u64, StoreError> {
        self.inner.likes_version().await
    }

    async fn changes_since(
        &self,
        after: u64,
        max: usize,
    ) -> Result<feedmixer_store::Changes, StoreError> {
        self.inner.changes_since(after, max).await
    }

    async fn cache_set(
        &self,
        key: &str,
        value: &[u8],
        ttl: std::time::Duration,
    ) -> Result<(), StoreError> {
        self.inner.cache_set(key, value, ttl).await
    }

    async fn cache_get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.cache_get(key).await
    }

    async fn add_counts(&self, group: &str, counts: &[(String, u64)]) -> Result<(), StoreError> {
        self.inner.add_counts(group, counts).await
    }

    async fn counts_in(
        &self,
        group: &str,
    ) -> Result<std::collections::BTreeMap<String, u64>, StoreError> {
        self.inner.counts_in(group).await
    }

    async fn prune(
        &self,
        before_us: u64,
        max_likes: usize,
    ) -> Result<feedmixer_store::PruneStats, StoreError> {
        self.inner.prune(before_us, max_likes).await
    }

    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: std::time::Duration,
    ) -> Result<bool, StoreError> {
        self.inner.acquire_lease(name, holder, ttl).await
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        self.inner.release_lease(name, holder).await
    }
}
