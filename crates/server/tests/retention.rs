//! Retention over several windows: event time advances day by day for six
//! one-day windows, with the store pruned and the graph both followed and
//! rebuilt each day as the server does it (`prune`, `changes_since` with
//! `with_store_changes`, `load_graph`), at the day's end as "now". The
//! store's likes, its file, the index and the graph stay the size of one
//! window, and the graph holds exactly the likes of the window.

use std::collections::{BTreeMap, BTreeSet};

use feedmixer_atproto::Tid;
use feedmixer_graph::{LikeGraph, UserId};
use feedmixer_server::runtime::bootstrap::load_graph;
use feedmixer_server::runtime::refresh::with_store_changes;
use feedmixer_store::testkit::{create, delete, open_temp};
use feedmixer_store::{Change, Changes, DATABASE_FILE, RepoEvent, Store};

const DAY_SECS: u64 = 86_400;
const RETENTION_DAYS: u32 = 1;
const DAYS: u64 = 6;
const LIKES_PER_DAY: u64 = 40_000;
const USERS: u64 = 3_000;
const POSTS: u64 = 5_000;
/// The first day starts here (2027-01-15).
const START_SECS: u64 = 1_800_000_000;

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

/// A `did:plc` of 24 base32 characters: the packed form, as on Bluesky.
fn did(n: u64) -> String {
    format!("did:plc:user{n:020}")
        .replace('0', "a")
        .replace('1', "b")
        .replace('8', "c")
        .replace('9', "d")
}

fn post(n: u64) -> String {
    let author = did(1_000_000 + n % 700);
    let rkey = Tid::new((START_SECS - 3_600 - n) * 1_000_000, 0);
    format!("at://{author}/app.bsky.feed.post/{rkey}")
}

/// Every like of `graph` as `(user, post, ts)`.
fn graph_likes(graph: &LikeGraph) -> BTreeSet<(String, String, u32)> {
    (0..graph.num_users() as UserId)
        .flat_map(|u| {
            graph
                .likes_of(u)
                .iter()
                .map(move |e| (graph.user_did(u), graph.post_uri(e.id), e.ts))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sizes_stay_bounded_and_the_graph_holds_exactly_the_window() {
    let (dir, store) = open_temp();
    let mut rng = Rng(7);
    // The live likes: (did, rkey) -> (post, time_us).
    let mut model: BTreeMap<(String, String), (String, u64)> = BTreeMap::new();
    let mut followed: Option<(LikeGraph, u64)> = None;
    let mut sizes = Vec::new();
    for day in 0..DAYS {
        let day_start_us = (START_SECS + day * DAY_SECS) * 1_000_000;
        let step_us = DAY_SECS * 1_000_000 / LIKES_PER_DAY;
        let mut events: Vec<RepoEvent> = Vec::new();
        let mut today: Vec<(String, String)> = Vec::new();
        for i in 0..LIKES_PER_DAY {
            let time_us = day_start_us + i * step_us;
            let (user, rkey) = (did(rng.below(USERS)), Tid::new(time_us, 7).to_string());
            let subject = post(rng.below(POSTS));
            events.push(create(&user, &rkey, &subject, time_us));
            today.push((user, rkey));
            // Every tenth like deletes one made earlier (today's, or the
            // day before's, by then outside the window or not).
            if i % 10 == 9 {
                let earlier = &today[rng.below(today.len() as u64) as usize];
                events.push(delete(&earlier.0, &earlier.1, time_us + 1));
            }
        }
        for batch in events.chunks(10_000) {
            store.apply(batch).await.unwrap();
        }
        for event in &events {
            match event {
                RepoEvent::LikeCreate {
                    did,
                    rkey,
                    subject,
                    time_us,
                } => {
                    model
                        .entry((did.clone(), rkey.clone()))
                        .or_insert((subject.clone(), *time_us));
                }
                RepoEvent::LikeDelete { did, rkey, .. } => {
                    model.remove(&(did.clone(), rkey.clone()));
                }
                _ => unreachable!(),
            }
        }

        // The day's end is now: prune, as the server's pruner does.
        let now_secs = START_SECS + (day + 1) * DAY_SECS;
        let window_start = now_secs - u64::from(RETENTION_DAYS) * DAY_SECS;
        while store
            .prune(window_start * 1_000_000, 20_000)
            .await
            .unwrap()
            .more
        {}
        model.retain(|_, (_, time_us)| *time_us >= window_start * 1_000_000);
        assert_eq!(
            store.counts().await.unwrap().likes,
            model.len() as u64,
            "day {day}: the store holds the window's likes"
        );

        let window: BTreeSet<(String, String, u32)> = model
            .iter()
            .map(|((did, _), (post, time_us))| {
                (did.clone(), post.clone(), (time_us / 1_000_000) as u32)
            })
            .collect();
        // A pair liked twice is one edge at its earliest like.
        let mut earliest: BTreeMap<(String, String), u32> = BTreeMap::new();
        for (did, post, ts) in window {
            let at = earliest.entry((did, post)).or_insert(ts);
            *at = (*at).min(ts);
        }
        let window: BTreeSet<(String, String, u32)> = earliest
            .into_iter()
            .map(|((did, post), ts)| (did, post, ts))
            .collect();

        let rebuilt = load_graph(&store, RETENTION_DAYS, now_secs as u32, &mut |_| {})
            .await
            .unwrap();
        assert_eq!(graph_likes(&rebuilt), window, "day {day}: the graph built");

        // A replica that followed the log since the first day.
        let version = store.likes_version().await.unwrap();
        let graph = match followed.take() {
            None => rebuilt,
            Some((graph, mut after)) => {
                let mut changes: Vec<Change> = Vec::new();
                loop {
                    match store.changes_since(after, 50_000).await.unwrap() {
                        Changes::Since(next) if next.is_empty() => break,
                        Changes::Since(next) => {
                            after = next.last().unwrap().seq();
                            changes.extend(next);
                        }
                        Changes::Trimmed => panic!("day {day}: trimmed"),
                    }
                }
                let followed = with_store_changes(&graph, window_start as u32, &changes);
                assert_eq!(
                    graph_likes(&followed),
                    window,
                    "day {day}: the graph followed"
                );
                followed
            }
        };
        let file = std::fs::metadata(dir.path().join(DATABASE_FILE))
            .unwrap()
            .len();
        sizes.push((day, file, graph.memory_bytes()));
        eprintln!(
            "day {day}: {} likes, file {file} bytes, graph {} bytes",
            model.len(),
            graph.memory_bytes()
        );
        followed = Some((graph, version));
    }

    // From the second day on every window is full: nothing may grow with
    // the days after that.
    let (_, file_2, graph_2) = sizes[1];
    for &(day, file, graph) in &sizes[2..] {
        assert!(
            file <= file_2 * 3 / 2,
            "day {day}: store file {file} bytes, {file_2} on day 1: {sizes:?}"
        );
        assert!(
            graph <= graph_2 * 3 / 2,
            "day {day}: graph {graph} bytes, {graph_2} on day 1: {sizes:?}"
        );
    }
}
