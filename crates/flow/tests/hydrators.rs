//! Features and hydrators: a flow runs the hydrators its components need,
//! before its sources, under the same bookkeeping as every component; a
//! flow whose components read a feature nothing provides does not load.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::{CounterSetup, registry_with_features, run, uri};
use feedmixer_flow::spec::FlowDef;
use feedmixer_flow::spec::StageKind;
use feedmixer_flow::{Feature, FeatureKey, Flow, Hydrators, Overrides, Resources};

const COUNTED: &str = r#"
[[sources]]
id = "counted"
kind = "counted"
[ranker]
kind = "sum"
"#;

fn flow(text: &str) -> Flow {
    let registry = registry_with_features(true);
    let def = FlowDef::parse("t", Path::new("t.toml"), text, &registry).expect("flow parses");
    Flow::build(&def, &registry, &Overrides::new())
        .map_err(|e| format!("{e:?}"))
        .unwrap()
}

fn hydrators(setup: CounterSetup) -> Hydrators {
    let resources = Resources::new().with(Arc::new(setup));
    Hydrators::build(&registry_with_features(true), &resources).expect("hydrators build")
}

fn setup(count: u32) -> CounterSetup {
    CounterSetup {
        count,
        delay_ms: 0,
        fail: false,
    }
}

#[tokio::test]
async fn hydrators_run_before_the_sources_that_read_their_features() {
    let (posts, out) = run(&flow(COUNTED), &hydrators(setup(3))).await;
    assert_eq!(posts.len(), 3, "the source read count = 3: {posts:?}");
    let first = &out.stages[0];
    assert_eq!(
        (
            first.stage,
            first.component.as_str(),
            first.features.clone()
        ),
        (StageKind::Hydrator, "counter", vec!["count"])
    );
    assert!(first.failure.is_none());
    assert_eq!(out.stages[1].component, "counted");
}

#[tokio::test]
async fn a_failing_or_slow_hydrator_leaves_its_features_absent_and_the_flow_answers() {
    let broken = CounterSetup {
        fail: true,
        ..setup(3)
    };
    let (posts, out) = run(&flow(COUNTED), &hydrators(broken)).await;
    assert!(
        posts.is_empty(),
        "count absent: the source proposes nothing"
    );
    assert_eq!(out.stages[0].failure.as_deref(), Some("counter broke"));
    assert!(out.stages[1].failure.is_none());

    let slow = CounterSetup {
        delay_ms: 200,
        ..setup(3)
    };
    let (posts, out) = run(&flow(COUNTED), &hydrators(slow)).await;
    assert!(posts.is_empty());
    assert_eq!(
        out.stages[0].failure.as_deref(),
        Some("over its 20 ms budget")
    );
    // A hydrator not built in this process is a failure of its own.
    let (posts, out) = run(&flow(COUNTED), &Hydrators::none()).await;
    assert!(posts.is_empty());
    assert_eq!(
        out.stages[0].failure.as_deref(),
        Some("not built in this process")
    );
}

#[tokio::test]
async fn a_hydrator_failure_does_not_lower_the_quality_factor() {
    let f = flow(&format!(
        "[quality_factor]\ninitial_delay_secs = 0\ndelta = 0.1\ndefault = 0.5\n{COUNTED}"
    ));
    let broken = hydrators(CounterSetup {
        fail: true,
        ..setup(1)
    });
    run(&f, &broken).await;
    assert!(f.quality_factor().value() > 0.5, "a fast run moved it up");
}

#[tokio::test]
async fn flows_that_read_no_feature_run_no_hydrator() {
    let f = flow("[[sources]]\nkind = \"fixed\"\nposts = [[1, 1.0]]\n[ranker]\nkind = \"sum\"\n");
    let (posts, out) = run(&f, &hydrators(setup(3))).await;
    assert_eq!(posts, vec![uri(1)]);
    assert!(out.stages.iter().all(|s| s.stage != StageKind::Hydrator));
}

#[test]
fn a_flow_tells_the_features_its_components_read() {
    let count = FeatureKey::of::<common::Count>();
    assert!(flow(COUNTED).reads(count));
    // A closed gate skips the component on a request, not its reading.
    let gated = COUNTED.replace(
        "kind = \"counted\"",
        "kind = \"counted\"\ngate = \"anonymous\"",
    );
    assert!(flow(&gated).reads(count));
    let plain = "[[sources]]\nkind = \"fixed\"\nposts = [[1, 1.0]]\n[ranker]\nkind = \"sum\"\n";
    assert!(!flow(plain).reads(count));
    // Another feature of the same name is another feature.
    struct Impostor;
    impl Feature for Impostor {
        type Value = u32;
        const NAME: &'static str = "count";
    }
    assert!(!flow(COUNTED).reads(FeatureKey::of::<Impostor>()));
}

#[test]
fn a_feature_nothing_provides_is_a_load_error_at_the_kind_line() {
    let registry = registry_with_features(false);
    let errors = FlowDef::parse("t", Path::new("flows/t.toml"), COUNTED, &registry).unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(
        errors[0].to_string(),
        "flows/t.toml:4: source \"counted\": kind: \"counted\" reads feature \"count\", \
         which no hydrator provides"
    );
}

#[tokio::test]
async fn placements_are_counted_and_timed_like_the_rest_of_a_source() {
    let f = flow(
        "[[sources]]\nkind = \"placer\"\n[[sources]]\nkind = \"fixed\"\nposts = [[1, 1.0]]\n\
         [ranker]\nkind = \"sum\"\n",
    );
    let (posts, out) = run(&f, &Hydrators::none()).await;
    assert_eq!(posts, vec![uri(1)], "a placed post is not ranked");
    assert_eq!(out.placements.len(), 1);
    assert_eq!(out.placements[0].post, uri(9));
    let placer = &out.stages[0];
    assert_eq!((placer.placed, placer.candidates_out), (1, 1));
}

#[tokio::test]
async fn in_pool_applies_the_in_pool_predicate_to_a_source() {
    let f = flow(
        "[[sources]]\nkind = \"fixed\"\nin_pool = true\nposts = [[1, 1.0], [2, 1.0], [4, 0.5]]\n\
         [ranker]\nkind = \"sum\"\n",
    );
    let (posts, out) = run(&f, &Hydrators::none()).await;
    assert_eq!(posts, vec![uri(2), uri(4)]);
    assert_eq!(out.stages[0].candidates_out, 2);

    // A build without the predicate refuses `in_pool` at its line.
    let text =
        "[[sources]]\nkind = \"fixed\"\nin_pool = true\nposts = []\n[ranker]\nkind = \"sum\"\n";
    let errors = FlowDef::parse("t", Path::new("t.toml"), text, &common::registry()).unwrap_err();
    assert!(
        errors[0]
            .to_string()
            .starts_with("t.toml:3: source \"fixed\": in_pool: needs"),
        "{errors:?}"
    );
}
