//! On a log whose answer is known — users in planted communities who keep
//! liking their community's posts, and a few viral posts everyone liked —
//! the shipped `for-you` flow, ranked as of the split through the real
//! flow code, finds the held-out likes far better than popularity.

use std::path::Path;
use std::sync::Arc;

use feedmixer_eval::{Evaluator, HeldOut, Row, Rules, Split, variants};
use feedmixer_flow::{Catalog, Hydrators, Registry, Resources};
use feedmixer_graph::{GraphBuilder, LikeGraph};
use feedmixer_store::{InteractionLimits, Store, StoreHealth};

const T: u32 = 1_800_000_000;
const T_US: u64 = T as u64 * 1_000_000;
const HOUR: u32 = 3600;
const COMMUNITIES: usize = 4;
const MEMBERS: usize = 40;
const POSTS: usize = 60;
const LIKED_BEFORE: usize = 15;
const HOLDOUT: usize = 10;

fn user(c: usize, i: usize) -> String {
    format!("did:plc:c{c}u{i:02}")
}

/// Post `n` of community `c`, by one of its 20 authors (feeds keep a few
/// posts per author).
fn post(c: usize, n: usize) -> String {
    format!(
        "at://did:plc:c{c}author{}/app.bsky.feed.post/3p{n:03}",
        n % 20
    )
}

fn viral(n: usize) -> String {
    format!("at://did:plc:celebrity/app.bsky.feed.post/3v{n:03}")
}

/// A small deterministic generator (64-bit LCG, high bits).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) as usize) % n
    }

    /// `count` distinct numbers below `n`, skipping `taken`.
    fn distinct(&mut self, n: usize, count: usize, taken: &[usize]) -> Vec<usize> {
        let mut out = Vec::new();
        while out.len() < count {
            let x = self.below(n);
            if !out.contains(&x) && !taken.contains(&x) {
                out.push(x);
            }
        }
        out
    }
}

/// The log: (did, subject, time) in time order. Before T every member
/// likes 15 of their community's 60 posts over two days and, in the last
/// 12 hours, most of 10 viral posts; after T each likes 10 more of their
/// community's posts.
fn log() -> Vec<(String, String, u64)> {
    let mut rng = Lcg(42);
    let mut likes = Vec::new();
    for c in 0..COMMUNITIES {
        for i in 0..MEMBERS {
            let before = rng.distinct(POSTS, LIKED_BEFORE, &[]);
            for (k, &n) in before.iter().enumerate() {
                let at = T - 48 * HOUR + (rng.below(36 * HOUR as usize) as u32) + k as u32;
                likes.push((user(c, i), post(c, n), u64::from(at) * 1_000_000));
            }
            for v in 0..10 {
                if rng.below(10) < 7 {
                    let at = T - 12 * HOUR + rng.below(11 * HOUR as usize) as u32;
                    likes.push((user(c, i), viral(v), u64::from(at) * 1_000_000));
                }
            }
            for (k, n) in rng
                .distinct(POSTS, HOLDOUT, &before)
                .into_iter()
                .enumerate()
            {
                let at = T_US + 1_000_000 * (rng.below(3600) as u64) + k as u64;
                likes.push((user(c, i), post(c, n), at));
            }
        }
    }
    likes.sort_by_key(|like| like.2);
    likes
}

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

struct Setup {
    graph: Arc<LikeGraph>,
    split: Split,
    catalog: Catalog,
    registry: Registry,
    hydrators: Hydrators,
    /// The hydrators' throwaway store.
    _dir: tempfile::TempDir,
}

fn setup() -> Setup {
    let log = log();
    let mut builder = GraphBuilder::new(T - 7 * 24 * HOUR);
    for (did, subject, time_us) in log.iter().filter(|l| l.2 < T_US) {
        builder.add_like(did, subject, (time_us / 1_000_000) as u32);
    }
    let graph = Arc::new(builder.build());
    let rules = Rules {
        holdout: HOLDOUT,
        min_holdout: HOLDOUT,
        min_history: 1,
    };
    let mut held = HeldOut::new(&graph, T, rules).unwrap();
    for (did, subject, time_us) in &log {
        held.add(did, subject, *time_us);
    }
    let split = held.finish(1000, 7).unwrap();
    let registry = feedmixer_components::registry();
    let catalog = Catalog::load(
        &root().join("flows"),
        &root().join("config/feeds.toml"),
        &registry,
    )
    .unwrap_or_else(|errors| panic!("the shipped flows load: {errors:?}"));
    let (dir, store) = feedmixer_store::testkit::open_temp();
    let store: Arc<dyn Store> = Arc::new(store);
    let resources = Resources::new()
        .with::<dyn Store>(store)
        .with(Arc::new(StoreHealth::new()))
        .with(Arc::new(InteractionLimits::default()));
    let hydrators = Hydrators::build(&registry, &resources).unwrap();
    Setup {
        graph,
        split,
        catalog,
        registry,
        hydrators,
        _dir: dir,
    }
}

async fn rows(s: &Setup, feeds: &[&str], presets: &[&str]) -> Vec<Row> {
    let strings = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
    let variants = variants(&s.catalog, &s.registry, &strings(feeds), &strings(presets)).unwrap();
    let evaluator = Evaluator::new(Arc::clone(&s.graph), &s.split, &s.hydrators);
    let mut rows = Vec::new();
    for variant in &variants {
        rows.push(evaluator.feed(variant, &mut || {}).await);
    }
    rows.push(evaluator.popularity(&mut || {}));
    rows
}

#[tokio::test]
async fn the_walk_finds_the_planted_community_and_popularity_does_not() {
    let s = setup();
    assert_eq!(
        s.split.users.len(),
        COMMUNITIES * MEMBERS,
        "everyone qualifies"
    );
    assert_eq!(
        s.split.stats.held_out as usize,
        COMMUNITIES * MEMBERS * HOLDOUT
    );
    let rows = rows(&s, &["for-you", "trending"], &["default", "fast"]).await;
    let names: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r.feed.as_str(), r.preset.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("for-you", "default"),
            ("for-you", "fast"),
            ("trending", "default"),
            ("trending", "fast"),
            ("popularity", "-"),
        ]
    );
    let popularity = rows.last().unwrap();
    // 45 unliked posts of the user's community, 10 of them held out; the
    // popular list mixes four communities after the viral posts.
    assert!(popularity.recall_30 < 0.3, "{popularity:?}");
    for walk in &rows[..2] {
        assert_eq!(walk.users, s.split.users.len());
        assert!(
            walk.recall_30 > 2.0 * popularity.recall_30
                && walk.recall_30 > popularity.recall_30 + 0.2,
            "{} {}: recall@30 {} against popularity's {}",
            walk.feed,
            walk.preset,
            walk.recall_30,
            popularity.recall_30
        );
        assert!(walk.ndcg_30 > popularity.ndcg_30, "{walk:?}");
        assert!(
            walk.sources.get("walk").copied().unwrap_or(0.0) > 0.5,
            "{walk:?}"
        );
        assert_eq!(walk.empty_lists, 0);
    }
    for row in &rows {
        for value in [
            row.recall_10,
            row.recall_30,
            row.recall_100,
            row.ndcg_30,
            row.coverage,
        ] {
            assert!((0.0..=1.0).contains(&value), "{row:?}");
        }
        assert!(row.recall_10 <= row.recall_30 && row.recall_30 <= row.recall_100);
    }
}

#[tokio::test]
async fn the_same_split_gives_the_same_metrics() {
    let s = setup();
    let strip = |rows: Vec<Row>| -> Vec<Row> {
        rows.into_iter()
            .map(|r| Row {
                p50_ms: 0.0,
                p99_ms: 0.0,
                mean_ms: 0.0,
                ..r
            })
            .collect()
    };
    let first = strip(rows(&s, &["for-you"], &[]).await);
    let second = strip(rows(&s, &["for-you"], &[]).await);
    assert_eq!(first, second);
    let again = setup();
    assert_eq!(
        s.split.users.iter().map(|u| &u.did).collect::<Vec<_>>(),
        again.split.users.iter().map(|u| &u.did).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn unknown_feeds_and_presets_are_named() {
    let s = setup();
    let err = variants(&s.catalog, &s.registry, &["nope".into()], &[])
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("unknown feed \"nope\"") && err.contains("for-you"),
        "{err}"
    );
    let err = variants(&s.catalog, &s.registry, &[], &["nope".into()])
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("unknown preset \"nope\"") && err.contains("fast"),
        "{err}"
    );
}
