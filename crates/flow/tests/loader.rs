//! Flow and feed files: what loads, and every error with its file and line.

mod common;

use std::path::Path;

use feedmixer_flow::Catalog;
use feedmixer_flow::catalog::check_flow_file;

const GOOD: &str = r#"
description = "test"
max_results = 5

[[sources]]
id = "a"
kind = "fixed"
weight = 2.0
posts = [[1, 1.0]]

[ranker]
kind = "sum"
"#;

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Loads `flows` (name, text) and a feeds file; returns the printed errors.
fn load(flows: &[(&str, &str)], feeds: &str) -> Result<Catalog, Vec<String>> {
    let dir = tempfile::tempdir().unwrap();
    let flows_dir = dir.path().join("flows");
    std::fs::create_dir(&flows_dir).unwrap();
    for (name, text) in flows {
        write(&flows_dir, name, text);
    }
    let feeds_file = write(dir.path(), "feeds.toml", feeds);
    Catalog::load(&flows_dir, &feeds_file, &common::registry()).map_err(|errors| {
        errors
            .iter()
            .map(|e| {
                let text = e.to_string();
                // Keep the path relative to the temp dir for stable assertions.
                text[text
                    .find(dir.path().to_str().unwrap())
                    .map_or(0, |i| i + dir.path().to_str().unwrap().len() + 1)..]
                    .to_string()
            })
            .collect()
    })
}

const FEED: &str = "[feeds.f]\nflow = \"good\"\n";

#[test]
fn a_good_flow_and_feed_load() {
    let catalog = load(&[("good.toml", GOOD)], FEED).unwrap();
    assert_eq!(catalog.flows.len(), 1);
    let feed = catalog.feed("f").unwrap();
    assert_eq!(feed.flow.max_results, 5);
    assert_eq!(feed.flow.sources()[0].weight, 2.0);
    assert_eq!(feed.info.display_name, "f");
}

#[test]
fn unknown_kind_lists_the_valid_ones() {
    let bad = GOOD.replace("kind = \"fixed\"", "kind = \"walkk\"");
    let errors = load(&[("good.toml", &bad)], FEED)
        .err()
        .expect("load fails");
    assert!(
        errors.contains(
            &"flows/good.toml:7: unknown source kind \"walkk\" (valid kinds: fixed)".to_string()
        ),
        "{errors:?}"
    );
}

#[test]
fn bad_params_point_at_their_line() {
    let bad = GOOD.replace(
        "posts = [[1, 1.0]]",
        "posts = [[1, 1.0]]\ndelay_ms = -5\nbogus = true",
    );
    let errors = load(&[("good.toml", &bad)], "").err().expect("load fails");
    assert_eq!(errors.len(), 1, "{errors:?}");
    // Params are parsed as one struct: serde stops at the first bad key.
    assert!(
        errors[0].starts_with("flows/good.toml:10: source \"a\": delay_ms:")
            || errors[0].starts_with("flows/good.toml:11: source \"a\": bogus:"),
        "{errors:?}"
    );
}

#[test]
fn every_error_of_every_file_is_reported() {
    let no_ranker = GOOD.replace("[ranker]\nkind = \"sum\"\n", "");
    let dup = format!("{GOOD}\n[[sources]]\nid = \"a\"\nkind = \"fixed\"\nposts = []\n");
    let syntax = "[[sources]\nkind =";
    let bad_weight = GOOD.replace("weight = 2.0", "weight = \"heavy\"");
    let errors = load(
        &[
            ("no-ranker.toml", &no_ranker),
            ("dup.toml", &dup),
            ("syntax.toml", syntax),
            ("weight.toml", &bad_weight),
            ("Bad Name.toml", GOOD),
        ],
        "[feeds.f]\nflow = \"missing\"\n",
    )
    .err()
    .expect("load fails");
    let expect = [
        "flows/Bad Name.toml: a flow file is named after its flow",
        "flows/dup.toml:15: source \"a\": duplicate id",
        "flows/no-ranker.toml: a flow needs a [ranker]",
        "flows/syntax.toml:1:",
        "flows/weight.toml:8: source \"a\": weight: expected a number",
        "feeds.toml:2: feed \"f\": flow \"missing\" is not among the valid flows",
    ];
    for e in expect {
        assert!(
            errors.iter().any(|got| got.starts_with(e)),
            "missing {e:?} in {errors:#?}"
        );
    }
    assert_eq!(errors.len(), expect.len(), "{errors:#?}");
}

#[test]
fn envelope_keys_belong_to_sources() {
    let bad = GOOD.replace(
        "[ranker]\nkind = \"sum\"",
        "[ranker]\nkind = \"sum\"\nweight = 1.0",
    );
    let errors = load(&[("good.toml", &bad)], "").err().expect("load fails");
    assert!(
        errors[0].contains("only sources take a weight"),
        "{errors:?}"
    );
}

#[test]
fn feed_params_are_checked_against_the_flow() {
    let feeds = "[feeds.f]\nflow = \"good\"\n[feeds.f.params.a]\ndelay_ms = 99999\n[feeds.f.params.nope]\nx = 1\n";
    let errors = load(&[("good.toml", GOOD)], feeds)
        .err()
        .expect("load fails");
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(
        errors.iter().any(|e| e
            .starts_with("feeds.toml:3: feed \"f\": params.a: delay_ms: 99999 is out of bounds")),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.contains("params.nope: flow \"good\" has no component \"nope\"")),
        "{errors:?}"
    );
}

#[test]
fn feed_params_override_the_flow() {
    let feeds = "[feeds.f]\nflow = \"good\"\n[feeds.f.params.a]\nweight = 0.5\n";
    let catalog = load(&[("good.toml", GOOD)], feeds).unwrap();
    assert_eq!(catalog.feed("f").unwrap().flow.sources()[0].weight, 0.5);
}

#[test]
fn a_single_flow_file_can_be_checked() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "x.toml",
        &GOOD.replace("max_results = 5", "max_results = 0"),
    );
    let errors = check_flow_file(&path, &common::registry());
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].line, 3);
    assert!(errors[0].message.contains("max_results"), "{}", errors[0]);
}

const PRESETS: &str = r#"
[presets.low.fixed]
delay_ms = 1
[presets.high.fixed]
delay_ms = 2
weight = 3.0
"#;

#[test]
fn params_resolve_flow_then_preset_then_feed_then_request() {
    let dir = tempfile::tempdir().unwrap();
    let flows = dir.path().join("flows");
    std::fs::create_dir(&flows).unwrap();
    write(&flows, "good.toml", GOOD);
    write(dir.path(), "presets.toml", PRESETS);
    let feeds = write(
        dir.path(),
        "feeds.toml",
        "[feeds.plain]\nflow = \"good\"\n[feeds.high]\nflow = \"good\"\npreset = \"high\"\n[feeds.mine]\nflow = \"good\"\npreset = \"high\"\n[feeds.mine.params.a]\nweight = 4.0\n",
    );
    let registry = common::registry();
    let catalog = Catalog::load(&flows, &feeds, &registry)
        .map_err(|e| format!("{e:?}"))
        .unwrap();
    let weight = |feed: &str| catalog.feed(feed).unwrap().flow.sources()[0].weight;
    assert_eq!(weight("plain"), 2.0, "the flow file");
    assert_eq!(weight("high"), 3.0, "the preset over the flow");
    assert_eq!(weight("mine"), 4.0, "the feed over the preset");
    let mine = catalog.feed("mine").unwrap();
    let mut request = feedmixer_flow::Overrides::new();
    request.insert("a".into(), toml::from_str("weight = 5.0").unwrap());
    assert_eq!(
        mine.flow_with(&registry, None, &request).unwrap().sources()[0].weight,
        5.0,
        "the request over the feed"
    );
    let low = mine
        .flow_with(&registry, Some("low"), &feedmixer_flow::Overrides::new())
        .unwrap();
    assert_eq!(
        low.sources()[0].weight,
        4.0,
        "another preset keeps the feed's params"
    );
    assert!(
        mine.flow_with(&registry, Some("nope"), &request)
            .err()
            .unwrap()
            .contains("unknown preset")
    );
}

#[test]
fn unknown_and_bad_presets_are_load_errors() {
    let dir = tempfile::tempdir().unwrap();
    let flows = dir.path().join("flows");
    std::fs::create_dir(&flows).unwrap();
    write(&flows, "good.toml", GOOD);
    write(
        dir.path(),
        "presets.toml",
        "[presets.bad.fixed]\ndelay_ms = -1\n",
    );
    let feeds = write(
        dir.path(),
        "feeds.toml",
        "[feeds.f]\nflow = \"good\"\npreset = \"missing\"\n",
    );
    let errors = Catalog::load(&flows, &feeds, &common::registry())
        .err()
        .unwrap();
    let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert!(
        text.iter()
            .any(|e| e.contains("preset \"bad\" on flow \"good\": a: delay_ms")),
        "{text:?}"
    );
    assert!(
        text.iter()
            .any(|e| e.contains("feeds.toml:3: feed \"f\": unknown preset \"missing\"")),
        "{text:?}"
    );
}

#[test]
fn gates_and_params_are_checked_at_load() {
    let bad = GOOD.replace("weight = 2.0", "weight = 2.0\ngate = \"viewer_like < 3\"")
        + "\n[params]\nquality_factor = 1\nlimit = \"x\"\n";
    let errors = load(&[("good.toml", &bad)], "").err().expect("load fails");
    assert!(
        errors.iter().any(|e| e
            .starts_with("flows/good.toml:9: source \"a\": gate: unknown name \"viewer_like\"")),
        "{errors:#?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.contains("params: \"quality_factor\"")),
        "{errors:#?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.contains("params: limit: a flow param is a boolean or a number")),
        "{errors:#?}"
    );
    let reserved = GOOD.replace("id = \"a\"", "id = \"flow\"");
    let errors = load(&[("good.toml", &reserved)], "")
        .err()
        .expect("load fails");
    assert!(errors[0].contains("reserved"), "{errors:?}");
}

#[test]
fn avatars_are_checked_at_their_line() {
    let dir = tempfile::tempdir().unwrap();
    let flows_dir = dir.path().join("flows");
    std::fs::create_dir(&flows_dir).unwrap();
    write(&flows_dir, "good.toml", GOOD);
    std::fs::create_dir(dir.path().join("img")).unwrap();
    let png = [&b"\x89PNG\r\n\x1a\n"[..], &[0; 32]].concat();
    std::fs::write(dir.path().join("img/ok.png"), &png).unwrap();
    std::fs::write(
        dir.path().join("img/ok.jpg"),
        b"\xff\xd8\xff\xe0\0\x10JFIF\0",
    )
    .unwrap();
    // Named .png, but a GIF: the bytes decide.
    std::fs::write(dir.path().join("img/gif.png"), b"GIF89a\x01\0\x01\0").unwrap();
    let mut big = png.clone();
    big.resize(1_000_001, 0);
    std::fs::write(dir.path().join("img/big.png"), &big).unwrap();
    let feeds = |avatars: &[(&str, &str)]| {
        let text: String = avatars
            .iter()
            .map(|(rkey, avatar)| {
                format!("[feeds.{rkey}]\nflow = \"good\"\navatar = \"{avatar}\"\n")
            })
            .collect();
        let file = write(dir.path(), "feeds.toml", &text);
        Catalog::load(&flows_dir, &file, &common::registry())
    };

    let catalog = feeds(&[("a", "img/ok.png"), ("b", "img/ok.jpg")])
        .map_err(|e| format!("{e:?}"))
        .unwrap();
    let avatar = catalog.feed("a").unwrap().info.avatar.clone().unwrap();
    assert_eq!(std::fs::read(avatar).unwrap(), png);
    assert!(catalog.feed("b").unwrap().info.avatar.is_some());
    let plain = write(dir.path(), "feeds.toml", FEED);
    let catalog = Catalog::load(&flows_dir, &plain, &common::registry())
        .map_err(|e| format!("{e:?}"))
        .unwrap();
    assert_eq!(catalog.feed("f").unwrap().info.avatar, None);

    let errors: Vec<String> = feeds(&[
        ("a", "img/gif.png"),
        ("b", "img/big.png"),
        ("c", "img/missing.png"),
        ("d", "img"),
    ])
    .err()
    .expect("load fails")
    .iter()
    .map(|e| {
        let text = e.to_string();
        text.replace(&format!("{}/", dir.path().display()), "")
    })
    .collect();
    assert_eq!(errors.len(), 4, "{errors:#?}");
    assert_eq!(
        errors[0],
        "feeds.toml:3: feed \"a\": avatar \"img/gif.png\": not a PNG or JPEG image"
    );
    assert_eq!(
        errors[1],
        "feeds.toml:6: feed \"b\": avatar \"img/big.png\": 1000001 bytes, more than 1000000"
    );
    assert!(
        errors[2].starts_with(
            "feeds.toml:9: feed \"c\": avatar \"img/missing.png\": cannot read img/missing.png:"
        ),
        "{errors:#?}"
    );
    assert!(
        errors[3].starts_with("feeds.toml:12: feed \"d\": avatar \"img\": cannot read img:"),
        "{errors:#?}"
    );
}

#[test]
fn a_feeds_text_loads_against_a_loaded_catalog_like_the_file_would() {
    let catalog = load(&[("good.toml", GOOD)], FEED).unwrap();
    let file = Path::new("other-feeds.toml");
    let other = catalog
        .with_feeds_text(file, "[feeds.g]\nflow = \"good\"\n", &common::registry())
        .unwrap();
    assert_eq!(other.feeds.keys().collect::<Vec<_>>(), ["g"]);
    assert_eq!(other.flows.len(), 1);
    let errors = catalog
        .with_feeds_text(
            file,
            "[feeds.g]\nflow = \"good\"\n\n[feeds.h]\nflow = \"missing\"\n",
            &common::registry(),
        )
        .map(|_| ())
        .unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!((errors[0].file.as_path(), errors[0].line), (file, 5));
    assert!(errors[0].message.contains("\"missing\""), "{}", errors[0]);
}
