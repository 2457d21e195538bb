//! A Jetstream stand-in that serves each connection from the cursor it
//! asks for, as Jetstream does, at a set pace, and can misbehave on the
//! connections a script names: garbage, oversized frames, a cut or a
//! stall mid-frame, silence, a replay from an older cursor. It records
//! every connection's cursor and what it sent, so a test can kill the
//! ingesting process at a point of the stream and check where the next
//! process resumed.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use feedmixer_atproto::testkit::{half_text_frame, text_frame_header};
use futures::{SinkExt, StreamExt};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};

/// What a connection does, in order; when its steps run out it stays open
/// until the client leaves, sending a ping every 200 ms (a live Jetstream
/// is never quiet for long, so a finished stream must not look like a
/// stall).
#[derive(Debug, Clone)]
pub enum Step {
    /// The events from the first at or after the connection's cursor (the
    /// first of all without one) up to index `until`, exclusive.
    Events { until: usize },
    /// The events from the first of all up to `until`, whatever the
    /// cursor: a replay from an older cursor than the client asked for.
    EventsFromStart { until: usize },
    /// One text message.
    Text(String),
    /// One binary message.
    Binary(Vec<u8>),
    /// The header of a text frame carrying this line and half of its
    /// bytes, then the TCP connection closes.
    CutMidFrame(String),
    /// The same half frame, then silence on the open connection.
    StallMidFrame(String),
    /// The header of a text frame claiming this many bytes (and a few of
    /// them), then silence.
    Oversized(u64),
    /// Silence on the open connection until the client leaves.
    Stall,
}

/// The steps of connection `index` (from 0).
type Script = dyn Fn(usize) -> Vec<Step> + Send + Sync;

/// What the stand-in saw and did on one connection.
#[derive(Debug, Clone, Default)]
pub struct Connection {
    /// The request's `cursor`.
    pub cursor: Option<u64>,
    /// Events sent whole.
    pub sent: usize,
    /// Index of the last event sent whole.
    pub last_sent: Option<usize>,
}

pub struct ScriptedJetstream {
    /// `ws://127.0.0.1:PORT`.
    pub url: String,
    connections: Arc<Mutex<Vec<Connection>>>,
    accept: tokio::task::JoinHandle<()>,
}

/// The shared state of the connections' tasks.
struct Feed {
    lines: Vec<String>,
    times: Vec<u64>,
    per_tick: usize,
    script: Box<Script>,
    connections: Arc<Mutex<Vec<Connection>>>,
}

/// Between two runs of `per_tick` events.
const TICK: Duration = Duration::from_millis(10);

impl ScriptedJetstream {
    /// Serves `lines` (Jetstream JSON in `time_us` order), `per_tick` of
    /// them every 10 ms, each connection as `script` says.
    pub async fn start(
        lines: Vec<String>,
        per_tick: usize,
        script: impl Fn(usize) -> Vec<Step> + Send + Sync + 'static,
    ) -> Self {
        let times: Vec<u64> = lines.iter().map(|l| time_us(l)).collect();
        assert!(times.is_sorted(), "events come in time order");
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ws://{}", listener.local_addr().unwrap());
        let connections = Arc::new(Mutex::new(Vec::new()));
        let feed = Arc::new(Feed {
            lines,
            times,
            per_tick: per_tick.max(1),
            script: Box::new(script),
            connections: Arc::clone(&connections),
        });
        let accept = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                tokio::spawn(serve(tcp, Arc::clone(&feed)));
            }
        });
        ScriptedJetstream {
            url,
            connections,
            accept,
        }
    }

    /// Every connection gets the events from its cursor to the end.
    pub async fn serving(lines: Vec<String>, per_tick: usize) -> Self {
        let until = lines.len();
        Self::start(lines, per_tick, move |_| vec![Step::Events { until }]).await
    }

    /// The connections so far, in the order they were opened.
    pub fn connections(&self) -> Vec<Connection> {
        self.connections.lock().unwrap().clone()
    }

    /// Waits (a minute at most) until `what` holds for the connections.
    pub async fn wait_for(&self, label: &str, what: impl Fn(&[Connection]) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let connections = self.connections();
            if what(&connections) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {label}: {connections:?}"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

impl Drop for ScriptedJetstream {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

fn time_us(line: &str) -> u64 {
    let value: serde_json::Value = serde_json::from_str(line).expect("a JSON event");
    value["time_us"].as_u64().expect("a time_us")
}

fn cursor_of(target: &str) -> Option<u64> {
    let query = target.split_once('?')?.1;
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("cursor="))
        .map(|v| v.parse().expect("a numeric cursor"))
}

async fn serve(tcp: TcpStream, feed: Arc<Feed>) {
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
    let cursor = cursor_of(&target);
    let index = {
        let mut connections = feed.connections.lock().unwrap();
        connections.push(Connection {
            cursor,
            ..Connection::default()
        });
        connections.len() - 1
    };
    let from_cursor = cursor.map_or(0, |c| feed.times.partition_point(|&t| t < c));
    for step in (feed.script)(index) {
        let sent = match step {
            Step::Events { until } => send_events(&mut ws, &feed, index, from_cursor, until).await,
            Step::EventsFromStart { until } => send_events(&mut ws, &feed, index, 0, until).await,
            Step::Text(text) => ws.send(Message::text(text)).await.is_ok(),
            Step::Binary(bytes) => ws.send(Message::binary(bytes)).await.is_ok(),
            Step::CutMidFrame(line) => {
                let _ = write_raw(&mut ws, &half_text_frame(&line)).await;
                return;
            }
            Step::StallMidFrame(line) => {
                write_raw(&mut ws, &half_text_frame(&line)).await && stall(&mut ws).await
            }
            Step::Oversized(len) => {
                let mut frame = text_frame_header(len);
                frame.extend_from_slice(&[b'x'; 64]);
                write_raw(&mut ws, &frame).await && stall(&mut ws).await
            }
            Step::Stall => stall(&mut ws).await,
        };
        if !sent {
            return;
        }
    }
    keep_alive(&mut ws).await;
}

/// Pings every 200 ms until the client leaves.
async fn keep_alive(ws: &mut WebSocketStream<TcpStream>) {
    loop {
        tokio::select! {
            message = ws.next() => {
                if !matches!(message, Some(Ok(_))) {
                    return;
                }
            }
            () = tokio::time::sleep(Duration::from_millis(200)) => {
                if ws.send(Message::Ping(Vec::new().into())).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Sends events `from..until`, `per_tick` at a time, counting each one
/// sent; `false` when the client left.
async fn send_events(
    ws: &mut WebSocketStream<TcpStream>,
    feed: &Feed,
    index: usize,
    from: usize,
    until: usize,
) -> bool {
    let until = until.min(feed.lines.len());
    for chunk_start in (from.min(until)..until).step_by(feed.per_tick) {
        let chunk_end = (chunk_start + feed.per_tick).min(until);
        for i in chunk_start..chunk_end {
            if ws.send(Message::text(feed.lines[i].clone())).await.is_err() {
                return false;
            }
            let mut connections = feed.connections.lock().unwrap();
            connections[index].sent += 1;
            connections[index].last_sent = Some(i);
        }
        tokio::time::sleep(TICK).await;
    }
    true
}

/// Stays silent until the client leaves; always `false`: nothing follows.
async fn stall(ws: &mut WebSocketStream<TcpStream>) -> bool {
    while let Some(Ok(_)) = ws.next().await {}
    false
}

/// Writes bytes past the WebSocket layer, after what it has buffered;
/// `false` when the client left.
async fn write_raw(ws: &mut WebSocketStream<TcpStream>, bytes: &[u8]) -> bool {
    if ws.flush().await.is_err() {
        return false;
    }
    ws.get_mut().write_all(bytes).await.is_ok() && ws.get_mut().flush().await.is_ok()
}
