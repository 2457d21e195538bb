//! Running flows: stage order, merging, fail-open on errors and budgets.

mod common;

use std::path::Path;

use feedmixer_flow::spec::FlowDef;
use feedmixer_flow::spec::StageKind as Role;
use feedmixer_flow::{Flow, Hydrators, Overrides, RequestContext};

fn flow(text: &str) -> Flow {
    let registry = common::registry();
    let def = FlowDef::parse("t", Path::new("t.toml"), text, &registry).expect("flow parses");
    Flow::build(&def, &registry, &Overrides::new())
        .map_err(|e| format!("{e:?}"))
        .unwrap()
}

fn ctx() -> RequestContext {
    RequestContext::new(common::graph(), None, common::NOW)
}

/// The result's post URIs and the run.
async fn run(flow: &Flow) -> (Vec<String>, feedmixer_flow::FlowOutput) {
    common::run(flow, &Hydrators::none()).await
}

#[tokio::test]
async fn stages_run_in_order_and_merge_sources() {
    let f = flow(
        r#"
max_results = 3
[[sources]]
id = "a"
kind = "fixed"
posts = [[1, 1.0], [2, 0.5], [3, 0.1]]
[[sources]]
id = "b"
kind = "fixed"
weight = 2.0
posts = [[3, 1.0], [4, 0.2]]
[[predicates]]
kind = "min_score"
min = 0.3
[ranker]
kind = "sum"
[[transforms]]
kind = "reverse"
"#,
    );
    let (posts, out) = run(&f).await;
    // merged: 1 (1.0), 2 (0.5), 3 (0.1 + 2x1.0), 4 (2x0.2); min_score drops 4 (0.2 < 0.3)
    // ranked: 3 (2.1), 1 (1.0), 2 (0.5); reversed: 2, 1, 3; truncated to 3.
    assert_eq!(posts, vec![common::uri(2), common::uri(1), common::uri(3)]);
    let stages: Vec<(Role, &str, usize, usize)> = out
        .stages
        .iter()
        .map(|s| {
            (
                s.stage,
                s.component.as_str(),
                s.candidates_in,
                s.candidates_out,
            )
        })
        .collect();
    assert_eq!(
        stages,
        vec![
            (Role::Source, "a", 0, 3),
            (Role::Source, "b", 0, 2),
            (Role::Predicate, "min_score", 4, 3),
            (Role::Ranker, "sum", 3, 3),
            (Role::Transform, "reverse", 3, 3),
        ]
    );
    assert!(out.stages.iter().all(|s| s.failure.is_none()));
}

#[tokio::test]
async fn a_failing_source_contributes_nothing_and_the_flow_answers() {
    let f = flow(
        r#"
[[sources]]
id = "ok"
kind = "fixed"
posts = [[1, 1.0]]
[[sources]]
id = "bad"
kind = "fixed"
fail = true
posts = [[2, 1.0]]
[ranker]
kind = "sum"
"#,
    );
    let (posts, out) = run(&f).await;
    assert_eq!(posts, vec![common::uri(1)]);
    assert_eq!(out.stages[1].failure.as_deref(), Some("asked to fail"));
}

#[tokio::test]
async fn a_source_over_budget_is_cut_off() {
    let f = flow(
        r#"
[[sources]]
id = "fast"
kind = "fixed"
posts = [[1, 1.0]]
[[sources]]
id = "slow"
kind = "fixed"
budget_ms = 20
delay_ms = 5000
posts = [[2, 1.0]]
[ranker]
kind = "sum"
"#,
    );
    let started = std::time::Instant::now();
    let (posts, out) = run(&f).await;
    assert_eq!(posts, vec![common::uri(1)]);
    assert!(
        out.stages[1]
            .failure
            .as_deref()
            .unwrap()
            .contains("20 ms budget")
    );
    // Not a timing assertion on our speed: it proves the slow source was
    // abandoned rather than awaited for its 5 s.
    assert!(started.elapsed() < std::time::Duration::from_secs(4));
}

#[tokio::test]
async fn an_offline_flow_waits_for_its_sources_and_keeps_its_quality_factor() {
    let f = flow(
        r#"
[quality_factor]
initial_delay_secs = 0
target_latency_ms = 1.0
[[sources]]
id = "slow"
kind = "fixed"
budget_ms = 20
delay_ms = 60
posts = [[1, 1.0]]
[ranker]
kind = "sum"
"#,
    )
    .offline();
    for _ in 0..2 {
        let (posts, out) = run(&f).await;
        assert_eq!(posts, vec![common::uri(1)], "no budget cut the source off");
        assert!(out.stages.iter().all(|s| s.failure.is_none()));
        assert_eq!(out.quality_factor, 1.0, "slow runs do not lower it");
    }
}

#[tokio::test]
async fn a_failing_transform_keeps_its_input() {
    let f = flow(
        r#"
[[sources]]
kind = "fixed"
posts = [[1, 1.0], [2, 2.0]]
[ranker]
kind = "sum"
[[transforms]]
kind = "broken"
"#,
    );
    assert!(f.failures().is_empty(), "nothing failed yet");
    let (posts, out) = run(&f).await;
    assert_eq!(posts, vec![common::uri(2), common::uri(1)]);
    assert_eq!(
        out.stages.last().unwrap().failure.as_deref(),
        Some("broken")
    );
    // The flow keeps the failure for the feed's status, with its cause.
    run(&f).await;
    let failures = f.failures();
    assert_eq!(failures.len(), 1, "{failures:?}");
    let (stage, id, counts) = &failures[0];
    assert_eq!((stage.as_str(), id.as_str()), ("transform", "broken"));
    assert_eq!((counts.failures, counts.timeouts), (2, 0));
    assert_eq!(counts.last.as_ref().map(|l| l.why.as_str()), Some("broken"));
}

#[tokio::test]
async fn request_overrides_rebuild_components() {
    let registry = common::registry();
    let text =
        "[[sources]]\nid = \"s\"\nkind = \"fixed\"\nposts = [[1, 1.0]]\n[ranker]\nkind = \"sum\"\n";
    let def = FlowDef::parse("t", Path::new("t.toml"), text, &registry).unwrap();
    let mut overrides = Overrides::new();
    overrides.insert("s".into(), toml::from_str("posts = [[5, 1.0]]").unwrap());
    let f = Flow::build(&def, &registry, &overrides).unwrap();
    let (posts, _) = run(&f).await;
    assert_eq!(posts, vec![common::uri(5)]);
    overrides.insert("s".into(), toml::from_str("posts = \"x\"").unwrap());
    let errors = Flow::build(&def, &registry, &overrides).err().unwrap();
    assert_eq!(errors[0].0, "s");
    assert_eq!(errors[0].1.field.as_deref(), Some("posts"));
}

#[tokio::test]
async fn gates_read_flow_params_and_the_request() {
    let text = r#"
[params]
use_b = false
[[sources]]
id = "a"
kind = "fixed"
posts = [[1, 1.0]]
gate = "anonymous"
[[sources]]
id = "b"
kind = "fixed"
posts = [[2, 1.0]]
gate = "use_b || viewer_likes > 100"
[ranker]
kind = "sum"
"#;
    let (posts, out) = run(&flow(text)).await;
    assert_eq!(posts, vec![common::uri(1)]);
    let b = &out.stages[1];
    assert!(b.skipped && b.gate.as_deref() == Some("use_b || viewer_likes > 100"));

    // The flow param overridden: b's gate opens.
    let registry = common::registry();
    let def = FlowDef::parse("t", Path::new("t.toml"), text, &registry).unwrap();
    let mut overrides = Overrides::new();
    overrides.insert("flow".into(), toml::from_str("use_b = true").unwrap());
    let (posts, _) = run(&Flow::build(&def, &registry, &overrides).unwrap()).await;
    assert_eq!(posts, vec![common::uri(1), common::uri(2)]);

    // A param of the wrong type is refused.
    overrides.insert("flow".into(), toml::from_str("use_b = 3").unwrap());
    let errors = Flow::build(&def, &registry, &overrides).err().unwrap();
    assert_eq!(errors[0].0, "flow");
}

#[tokio::test]
async fn an_ineligible_request_gets_nothing_and_leaves_the_quality_factor_alone() {
    let f = flow(
        r#"
eligible = "!anonymous"
[quality_factor]
initial_delay_secs = 0
target_latency_ms = 0.1
[[sources]]
kind = "fixed"
posts = [[1, 1.0]]
delay_ms = 5
[ranker]
kind = "sum"
"#,
    );
    let before = f.quality_factor().value();
    let (posts, out) = run(&f).await;
    assert!(posts.is_empty() && !out.eligible && out.stages.is_empty());
    assert_eq!(f.quality_factor().value(), before);
}

#[tokio::test]
async fn slow_runs_lower_the_quality_factor_and_components_see_it() {
    let f = flow(
        r#"
[quality_factor]
initial_delay_secs = 0
target_latency_ms = 1.0
target_percentile = 90.0
delta = 0.01
[[sources]]
kind = "fixed"
posts = [[1, 1.0]]
delay_ms = 5
[ranker]
kind = "sum"
"#,
    );
    let (_, first) = run(&f).await;
    assert_eq!(first.quality_factor, 1.0);
    let (_, second) = run(&f).await;
    assert!(
        (second.quality_factor - 0.91).abs() < 1e-9,
        "{}",
        second.quality_factor
    );
}

#[tokio::test]
async fn validations_run_after_transforms_and_result_transforms_last() {
    let f = flow(
        r#"
max_results = 2
[[sources]]
kind = "fixed"
posts = [[1, 0.9], [2, 0.2], [3, 0.8], [4, 0.7]]
[ranker]
kind = "sum"
[[validations]]
kind = "min_score"
min = 0.5
[[result_transforms]]
kind = "reverse"
"#,
    );
    let mut ctx = ctx();
    ctx.explain = true;
    let out = f.run(&ctx, &Hydrators::none()).await;
    let posts: Vec<String> = out
        .posts
        .iter()
        .map(|p| ctx.graph.post_uri(p.post))
        .collect();
    // ranked 1, 3, 4, 2; validation keeps 1, 3 (enough: 2) and does not
    // look at 4, 2; reversed (2, 4, 3, 1), then truncated.
    assert_eq!(posts, vec![common::uri(2), common::uri(4)]);
    let validation = out
        .stages
        .iter()
        .find(|s| s.stage == Role::Validation)
        .unwrap();
    assert_eq!(
        (validation.candidates_in, validation.candidates_out),
        (4, 4)
    );
    assert!(
        validation.dropped.is_empty(),
        "posts past the batch are not looked at"
    );
    assert_eq!(out.ranked.len(), 2, "explain keeps the final scores");
}

#[tokio::test]
async fn explain_lists_what_predicates_dropped() {
    let f = flow(
        r#"
[[sources]]
kind = "fixed"
posts = [[1, 0.9], [2, 0.2]]
[[predicates]]
kind = "min_score"
min = 0.5
[ranker]
kind = "sum"
"#,
    );
    let mut ctx = ctx();
    ctx.explain = true;
    let out = f.run(&ctx, &Hydrators::none()).await;
    let predicate = &out.stages[1];
    assert_eq!(predicate.dropped.len(), 1);
    assert_eq!(ctx.graph.post_uri(predicate.dropped[0]), common::uri(2));
    ctx.explain = false;
    assert!(
        f.run(&ctx, &Hydrators::none()).await.stages[1]
            .dropped
            .is_empty()
    );
}

#[tokio::test]
async fn the_request_deadline_cuts_sources_short_and_skips_later_stages() {
    let f = flow(
        r#"
deadline_ms = 30
[[sources]]
id = "fast"
kind = "fixed"
posts = [[1, 0.5], [2, 1.0]]
[[sources]]
id = "slow"
kind = "fixed"
budget_ms = 5000
delay_ms = 5000
posts = [[3, 1.0]]
[[predicates]]
kind = "min_score"
min = 0.9
[ranker]
kind = "sum"
"#,
    );
    let started = std::time::Instant::now();
    let (posts, out) = run(&f).await;
    assert!(
        started.elapsed() < std::time::Duration::from_secs(4),
        "the slow source was abandoned"
    );
    assert_eq!(
        out.stages[1].failure.as_deref(),
        Some("past the request deadline")
    );
    // Past the deadline: the predicate and the ranker did not run, so both
    // posts of the fast source come back in merge order.
    assert_eq!(posts, vec![common::uri(1), common::uri(2)]);
    assert!(out.stages[2].skipped && out.stages[3].skipped);
}

/// `viewer_langs = true` keeps the posts in the request's languages when
/// at least a page of them remains, and everything otherwise; removed
/// posts never come out, whatever proposed them.
#[tokio::test]
async fn viewer_langs_keeps_a_page_in_the_viewers_languages_and_removed_posts_never_show() {
    use feedmixer_atproto::Post;
    use feedmixer_graph::GraphBuilder;
    use std::sync::Arc;
    let mut b = GraphBuilder::new(common::NOW - 86_400);
    for i in 0..10 {
        assert!(b.add_like("did:plc:liker", &common::uri(i), common::NOW - 60));
        let lang = if i < 4 { "nb-NO" } else { "en" };
        let post = Post {
            langs: vec![lang.to_string()],
            ..Post::default()
        };
        let at_us = u64::from(common::NOW - 120) * 1_000_000;
        assert!(b.add_post(&common::uri(i), at_us, &post));
    }
    b.remove_post(&common::uri(9));
    let graph = Arc::new(b.build());
    let f = flow(
        r#"
[params]
viewer_langs = true
[[sources]]
id = "a"
kind = "fixed"
posts = [[0, 1.0], [1, 0.9], [2, 0.8], [3, 0.7], [4, 0.6], [5, 0.5], [9, 0.4]]
[ranker]
kind = "sum"
"#,
    );
    let run_with = |langs: &[&str], page_size: usize| {
        let mut ctx = RequestContext::new(graph.clone(), None, common::NOW);
        ctx.accept_languages = langs.iter().map(|l| l.to_string()).collect();
        ctx.page_size = page_size;
        let f = &f;
        async move {
            let out = f.run(&ctx, &Hydrators::none()).await;
            out.posts
                .iter()
                .map(|p| ctx.graph.post_uri(p.post))
                .collect::<Vec<_>>()
        }
    };
    let norwegian: Vec<String> = (0..4).map(common::uri).collect();
    let everything: Vec<String> = (0..6).map(common::uri).collect();
    assert_eq!(run_with(&["nb"], 3).await, norwegian, "a page of Norwegian");
    assert_eq!(
        run_with(&["nb"], 5).await,
        everything,
        "less than a page: all"
    );
    assert_eq!(
        run_with(&[], 3).await,
        everything,
        "no Accept-Language: all"
    );
    assert_eq!(
        run_with(&["fr"], 1).await,
        everything,
        "a language none has: all"
    );
}
