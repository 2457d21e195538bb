//! The metrics the resolver emits, read through a recording recorder. Its
//! own test binary: the recorder is process-global.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use feedmixer_identity::metrics::ALL;
use feedmixer_identity::testkit::{Directory, Mode, TestKey, plc_did};
use feedmixer_identity::{
    DID_CACHE_LOOKUPS, DID_RESOLUTION_DURATION, DID_RESOLUTIONS, DidResolver,
};
use metrics::{
    Counter, CounterFn, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder,
    SharedString, Unit,
};

/// Sums per metric name and sorted labels: `name{k=v,...}`.
#[derive(Default)]
struct Recorded(Mutex<BTreeMap<String, f64>>);

struct Handle(Arc<Recorded>, String);

impl CounterFn for Handle {
    fn increment(&self, value: u64) {
        *self.0.0.lock().unwrap().entry(self.1.clone()).or_default() += value as f64;
    }

    fn absolute(&self, value: u64) {
        self.0
            .0
            .lock()
            .unwrap()
            .insert(self.1.clone(), value as f64);
    }
}

impl HistogramFn for Handle {
    /// Counts samples (durations vary).
    fn record(&self, _value: f64) {
        *self.0.0.lock().unwrap().entry(self.1.clone()).or_default() += 1.0;
    }
}

struct TestRecorder(Arc<Recorded>);

impl TestRecorder {
    fn handle(&self, key: &Key) -> Arc<Handle> {
        let mut labels: Vec<String> = key
            .labels()
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        labels.sort();
        let name = format!("{}{{{}}}", key.name(), labels.join(","));
        Arc::new(Handle(self.0.clone(), name))
    }
}

impl Recorder for TestRecorder {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(self.handle(key))
    }

    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(self.handle(key))
    }
}

#[tokio::test]
async fn resolutions_and_cache_lookups_are_counted() {
    let recorded = Arc::new(Recorded::default());
    metrics::set_global_recorder(TestRecorder(recorded.clone())).unwrap();
    feedmixer_identity::describe_metrics();

    let dir = Directory::start().await;
    let resolver = DidResolver::new(dir.config()).unwrap();
    let key = TestKey::k256().public();
    let (alice, nobody, broken) = (plc_did("alice"), plc_did("nobody"), plc_did("broken"));
    let web = dir.web_did();
    dir.put_key(&alice, &key);
    dir.put_key(&web, &key);
    dir.put(&broken, "{}");

    resolver.resolve(&alice).await.unwrap();
    let cached = resolver.resolve(&alice).await.unwrap();
    resolver.resolve(&web).await.unwrap();
    resolver.resolve(&nobody).await.unwrap_err();
    resolver.resolve(&broken).await.unwrap_err();
    resolver.refresh(&alice, &cached).await.unwrap();
    dir.set_mode(Mode::Status(500));
    resolver.resolve(&plc_did("down")).await.unwrap_err();
    // Unsupported: neither a lookup nor a fetch.
    resolver.resolve("did:key:z123").await.unwrap_err();

    let got = recorded.0.lock().unwrap().clone();
    let expected: BTreeMap<String, f64> = [
        (format!("{DID_CACHE_LOOKUPS}{{result=hit}}"), 1.0),
        (format!("{DID_CACHE_LOOKUPS}{{result=miss}}"), 5.0),
        (format!("{DID_RESOLUTIONS}{{method=plc,outcome=ok}}"), 2.0),
        (format!("{DID_RESOLUTIONS}{{method=web,outcome=ok}}"), 1.0),
        (
            format!("{DID_RESOLUTIONS}{{method=plc,outcome=not_found}}"),
            1.0,
        ),
        (
            format!("{DID_RESOLUTIONS}{{method=plc,outcome=invalid}}"),
            1.0,
        ),
        (
            format!("{DID_RESOLUTIONS}{{method=plc,outcome=unavailable}}"),
            1.0,
        ),
        (format!("{DID_RESOLUTION_DURATION}{{method=plc}}"), 5.0),
        (format!("{DID_RESOLUTION_DURATION}{{method=web}}"), 1.0),
    ]
    .into_iter()
    .collect();
    assert_eq!(got, expected);
    for name in got.keys() {
        assert!(
            ALL.iter().any(|m| name.starts_with(&format!("{m}{{"))),
            "{name}"
        );
    }
}
