//! `app.bsky.feed.post` commits → [`RepoEvent::PostCreate`] /
//! [`RepoEvent::PostDelete`].
//!
//! A post record is decoded in one pass into borrowed structs that name
//! only the fields a [`Post`] keeps. Parts whose meaning depends on a
//! `$type` (an embed's `media`, the `values` of self-labels, a facet
//! feature's `tag`) stay raw until their `$type` says they are read, so a
//! kind we do not know never fails on its own fields. When the pass fails,
//! a second one through `serde_path_to_error` finds the record field to
//! name; bad records are rare, so only they pay for it.
//!
//! The rule for bad records: types are checked, values are not. A field we
//! read that holds the wrong JSON type fails the event with
//! [`ParseError::Field`] naming the record field (`commit.record.langs`;
//! see [`POST_FIELDS`]), and ingest counts and skips it. A value that makes
//! no sense (a `createdAt` that is no time, an empty language, an unknown
//! `$type`) is dropped, a field set to `null` is the same as one absent,
//! and fields we do not read are never looked at, so new record fields
//! cannot break ingest.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::super::datetime::parse_us;
use super::{Operation, ParseError, RepoEvent, StrongRef, Text};
use crate::{Embed, MAX_LABELS, MAX_LANGS, MAX_TAGS, Media, Post, ReplyRefs};

/// The parts of an `app.bsky.feed.post` record a [`Post`] keeps.
#[derive(Deserialize)]
struct PostRecord<'a> {
    #[serde(borrow)]
    text: Option<Text<'a>>,
    #[serde(rename = "createdAt", borrow)]
    created_at: Option<Text<'a>>,
    #[serde(borrow)]
    langs: Option<Vec<Text<'a>>>,
    #[serde(borrow)]
    reply: Option<Reply<'a>>,
    #[serde(borrow)]
    embed: Option<EmbedRef<'a>>,
    #[serde(borrow)]
    labels: Option<Labels<'a>>,
    #[serde(borrow)]
    facets: Option<Vec<Facet<'a>>>,
    #[serde(borrow)]
    tags: Option<Vec<Text<'a>>>,
}

/// The record fields a wrong type is reported under, by their JSON name.
/// Anything wrong deeper inside a field is reported as that field.
const POST_FIELDS: [(&str, &str); 8] = [
    ("text", "commit.record.text"),
    ("createdAt", "commit.record.createdAt"),
    ("langs", "commit.record.langs"),
    ("reply", "commit.record.reply"),
    ("embed", "commit.record.embed"),
    ("labels", "commit.record.labels"),
    ("facets", "commit.record.facets"),
    ("tags", "commit.record.tags"),
];

/// What a record is reported as when it is no object, repeats a field, or
/// is missing from a create.
const RECORD: &str = "commit.record";

#[derive(Deserialize)]
struct Reply<'a> {
    #[serde(borrow)]
    root: Option<StrongRef<'a>>,
    #[serde(borrow)]
    parent: Option<StrongRef<'a>>,
}

/// An embed: its kind, and the media of a `recordWithMedia`.
#[derive(Deserialize)]
struct EmbedRef<'a> {
    #[serde(rename = "$type", borrow)]
    kind: Option<Text<'a>>,
    #[serde(borrow)]
    media: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct MediaRef<'a> {
    #[serde(rename = "$type", borrow)]
    kind: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct Labels<'a> {
    #[serde(rename = "$type", borrow)]
    kind: Option<Text<'a>>,
    #[serde(borrow)]
    values: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct SelfLabel<'a> {
    #[serde(borrow)]
    val: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct Facet<'a> {
    #[serde(borrow)]
    features: Option<Vec<Feature<'a>>>,
}

#[derive(Deserialize)]
struct Feature<'a> {
    #[serde(rename = "$type", borrow)]
    kind: Option<Text<'a>>,
    #[serde(borrow)]
    tag: Option<&'a RawValue>,
}

pub(super) fn decode_post(
    did: Cow<'_, str>,
    rkey: Cow<'_, str>,
    time_us: u64,
    operation: Operation,
    record: Option<&RawValue>,
) -> Result<Option<RepoEvent>, ParseError> {
    match operation {
        // Bluesky posts are not edited: the app never updates a post
        // record. An update written by another client is ignored, so a
        // post stays as it was created.
        Operation::Update => Ok(None),
        Operation::Delete => Ok(Some(RepoEvent::PostDelete {
            did: did.into_owned(),
            rkey: rkey.into_owned(),
            time_us,
        })),
        Operation::Create => {
            let record = record.ok_or(ParseError::Field(RECORD))?;
            Ok(Some(RepoEvent::PostCreate {
                did: did.into_owned(),
                rkey: rkey.into_owned(),
                time_us,
                post: Box::new(post(record.get())?),
            }))
        }
    }
}

/// Decodes a post record by the module's rule for bad records.
fn post(record: &str) -> Result<Post, ParseError> {
    let wire: PostRecord<'_> =
        serde_json::from_str(record).map_err(|_| ParseError::Field(misfit_field(record)))?;
    Ok(Post {
        created_at_us: wire
            .created_at
            .and_then(|time| parse_us(&time.0))
            .unwrap_or(0),
        langs: wire
            .langs
            .into_iter()
            .flatten()
            .filter(|lang| !lang.0.is_empty())
            .take(MAX_LANGS)
            .map(|lang| lang.0.to_ascii_lowercase())
            .collect(),
        reply: wire.reply.and_then(|reply| {
            Some(ReplyRefs {
                root: reply.root?.uri?.0.into_owned(),
                parent: reply.parent?.uri?.0.into_owned(),
            })
        }),
        embed: wire.embed.map(embed).transpose()?.flatten(),
        labels: wire
            .labels
            .map(self_labels)
            .transpose()?
            .unwrap_or_default(),
        text: wire
            .text
            .map(|text| text.0.into_owned())
            .unwrap_or_default(),
        tags: hashtags(wire.facets, wire.tags)?,
    })
}

/// The name of the record field that failed to decode, found by a second,
/// path-tracking pass.
fn misfit_field(record: &str) -> &'static str {
    let mut deserializer = serde_json::Deserializer::from_str(record);
    let Err(err) = serde_path_to_error::deserialize::<_, PostRecord<'_>>(&mut deserializer) else {
        return RECORD;
    };
    let Some(serde_path_to_error::Segment::Map { key }) = err.path().iter().next() else {
        return RECORD;
    };
    POST_FIELDS
        .iter()
        .find(|(json, _)| json == key)
        .map_or(RECORD, |&(_, named)| named)
}

fn embed(embed: EmbedRef<'_>) -> Result<Option<Embed>, ParseError> {
    let Some(kind) = embed.kind else {
        return Ok(None);
    };
    Ok(match &*kind.0 {
        "app.bsky.embed.images" => Some(Embed::Images),
        "app.bsky.embed.video" => Some(Embed::Video),
        "app.bsky.embed.external" => Some(Embed::External),
        "app.bsky.embed.record" => Some(Embed::Record),
        "app.bsky.embed.recordWithMedia" => Some(match media(embed.media)? {
            Some(media) => Embed::RecordWithMedia(media),
            None => Embed::Record,
        }),
        _ => None,
    })
}

/// The kind of a `recordWithMedia`'s media; `None` when absent or unknown.
fn media(media: Option<&RawValue>) -> Result<Option<Media>, ParseError> {
    let Some(media) = media else {
        return Ok(None);
    };
    let media: MediaRef<'_> =
        serde_json::from_str(media.get()).map_err(|_| ParseError::Field("commit.record.embed"))?;
    Ok(match media.kind.as_ref().map(|kind| &*kind.0) {
        Some("app.bsky.embed.images") => Some(Media::Images),
        Some("app.bsky.embed.video") => Some(Media::Video),
        Some("app.bsky.embed.external") => Some(Media::External),
        _ => None,
    })
}

/// The `val`s of `com.atproto.label.defs#selfLabels`; nothing for labels
/// of another (or no) `$type`.
fn self_labels(labels: Labels<'_>) -> Result<Vec<String>, ParseError> {
    let is_self_labels = labels
        .kind
        .is_some_and(|kind| kind.0 == "com.atproto.label.defs#selfLabels");
    let (true, Some(values)) = (is_self_labels, labels.values) else {
        return Ok(Vec::new());
    };
    let values: Vec<SelfLabel<'_>> = serde_json::from_str(values.get())
        .map_err(|_| ParseError::Field("commit.record.labels"))?;
    Ok(values
        .into_iter()
        .filter_map(|label| label.val)
        .filter(|val| !val.0.is_empty())
        .take(MAX_LABELS)
        .map(|val| val.0.into_owned())
        .collect())
}

/// The hashtags of the tag facets, then of `tags`.
fn hashtags(
    facets: Option<Vec<Facet<'_>>>,
    tags: Option<Vec<Text<'_>>>,
) -> Result<Vec<String>, ParseError> {
    let mut kept = Hashtags::default();
    let features = facets
        .into_iter()
        .flatten()
        .flat_map(|facet| facet.features.into_iter().flatten());
    for feature in features {
        let is_tag = feature
            .kind
            .is_some_and(|kind| kind.0 == "app.bsky.richtext.facet#tag");
        if let (true, Some(tag)) = (is_tag, feature.tag) {
            let tag: Option<Text<'_>> = serde_json::from_str(tag.get())
                .map_err(|_| ParseError::Field("commit.record.facets"))?;
            if let Some(tag) = tag {
                kept.add(&tag.0);
            }
        }
    }
    for tag in tags.into_iter().flatten() {
        kept.add(&tag.0);
    }
    Ok(kept.tags)
}

/// Hashtags without their leading `#`s; empty ones and repeats (ignoring
/// case, keeping the first spelling) dropped, at most [`MAX_TAGS`].
#[derive(Default)]
struct Hashtags {
    tags: Vec<String>,
    /// `tags`, lowercased.
    keys: Vec<String>,
}

impl Hashtags {
    fn add(&mut self, tag: &str) {
        let tag = tag.trim_start_matches('#');
        if tag.is_empty() || self.tags.len() == MAX_TAGS {
            return;
        }
        let key = tag.to_lowercase();
        if !self.keys.contains(&key) {
            self.tags.push(tag.to_owned());
            self.keys.push(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: &str = "did:plc:ewvi7nxzyoun6zhxrhs64oiz";
    const ROOT: &str = "at://did:plc:z72i7hdynmk6r22z27h6tvur/app.bsky.feed.post/3l3qnyqqxeu2x";
    const PARENT: &str = "at://did:plc:z72i7hdynmk6r22z27h6tvur/app.bsky.feed.post/3l3qnzkv5ll2c";
    /// 2024-09-09T19:46:02.102Z.
    const CREATED_US: u64 = 1_725_911_162_102_000;

    fn parse(line: &str) -> Result<Option<RepoEvent>, ParseError> {
        RepoEvent::from_jetstream_json(line)
    }

    /// A Jetstream commit on `app.bsky.feed.post`, with `record` (raw JSON)
    /// when given.
    fn commit(operation: &str, record: Option<&str>) -> String {
        let record = record.map_or(String::new(), |record| format!(r#""record":{record},"#));
        format!(
            r#"{{"did":"{ALICE}","time_us":1725911162329308,"kind":"commit","commit":{{"rev":"3l3qo2vuowo2b","operation":"{operation}","collection":"app.bsky.feed.post","rkey":"3l3qo2vutsw2b",{record}"cid":"bafyreigroo6vhxt62ufcndhaxzas6btq4jmniuvmjkdkm76hgwxjw3rj6e"}}}}"#
        )
    }

    /// A post create whose record has `fields` (JSON object members) after
    /// its `$type`.
    fn create(fields: &str) -> String {
        let comma = if fields.is_empty() { "" } else { "," };
        commit(
            "create",
            Some(&format!(
                r#"{{"$type":"app.bsky.feed.post"{comma}{fields}}}"#
            )),
        )
    }

    /// The post of a create that must decode, checked to survive a trip
    /// through the encoder.
    fn decoded(fields: &str) -> Post {
        let line = create(fields);
        let event = parse(&line);
        let Ok(Some(event @ RepoEvent::PostCreate { .. })) = event else {
            panic!("{line}: {event:?}");
        };
        assert_eq!(
            parse(&event.to_jetstream_json()),
            Ok(Some(event.clone())),
            "{line}"
        );
        let RepoEvent::PostCreate { post, .. } = event else {
            unreachable!()
        };
        *post
    }

    fn embed_of(embed: &str) -> Option<Embed> {
        decoded(&format!(r#""embed":{embed},"text":"look""#)).embed
    }

    fn blob(mime_type: &str) -> String {
        format!(
            r#"{{"$type":"blob","ref":{{"$link":"bafkreibme22gw2h7y2eunmcyzd6mt2ueeawqmhxj2uqhlnh4u2g7akldle"}},"mimeType":"{mime_type}","size":392116}}"#
        )
    }

    fn images() -> String {
        format!(
            r#"{{"$type":"app.bsky.embed.images","images":[{{"alt":"A cat on a keyboard","aspectRatio":{{"height":1536,"width":2048}},"image":{}}}]}}"#,
            blob("image/jpeg")
        )
    }

    fn video() -> String {
        format!(
            r#"{{"$type":"app.bsky.embed.video","aspectRatio":{{"height":1080,"width":1920}},"video":{}}}"#,
            blob("video/mp4")
        )
    }

    fn external() -> String {
        format!(
            r#"{{"$type":"app.bsky.embed.external","external":{{"description":"A language empowering everyone","thumb":{},"title":"Rust","uri":"https://www.rust-lang.org/"}}}}"#,
            blob("image/png")
        )
    }

    fn quote() -> String {
        format!(
            r#"{{"$type":"app.bsky.embed.record","record":{{"cid":"bafyreidc6sydkkbchcyg62v77wbhzvb2mvytlmsychqgwf2xojjtirmzj4","uri":"{ROOT}"}}}}"#
        )
    }

    fn quote_with(media: &str) -> String {
        format!(
            r#"{{"$type":"app.bsky.embed.recordWithMedia","media":{media},"record":{}}}"#,
            quote()
        )
    }

    #[test]
    fn a_reply_with_facets_becomes_a_post() {
        let record = format!(
            r##"{{"$type":"app.bsky.feed.post","createdAt":"2024-09-09T19:46:02.102Z","facets":[{{"features":[{{"$type":"app.bsky.richtext.facet#mention","did":"did:plc:z72i7hdynmk6r22z27h6tvur"}}],"index":{{"byteEnd":9,"byteStart":0}}}},{{"features":[{{"$type":"app.bsky.richtext.facet#tag","tag":"Rust"}}],"index":{{"byteEnd":26,"byteStart":21}}}},{{"$type":"app.bsky.richtext.facet","features":[{{"$type":"app.bsky.richtext.facet#link","uri":"https://www.rust-lang.org/"}}],"index":{{"byteEnd":40,"byteStart":27}}}}],"langs":["en"],"reply":{{"parent":{{"cid":"bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm","uri":"{PARENT}"}},"root":{{"cid":"bafyreidc6sydkkbchcyg62v77wbhzvb2mvytlmsychqgwf2xojjtirmzj4","uri":"{ROOT}"}}}},"text":"@bsky.app thanks for #Rust rust-lang.org"}}"##
        );
        let line = commit("create", Some(&record));
        assert_eq!(
            parse(&line),
            Ok(Some(RepoEvent::PostCreate {
                did: ALICE.into(),
                rkey: "3l3qo2vutsw2b".into(),
                time_us: 1725911162329308,
                post: Box::new(Post {
                    created_at_us: CREATED_US,
                    langs: vec!["en".into()],
                    reply: Some(ReplyRefs {
                        root: ROOT.into(),
                        parent: PARENT.into(),
                    }),
                    embed: None,
                    labels: vec![],
                    text: "@bsky.app thanks for #Rust rust-lang.org".into(),
                    tags: vec!["Rust".into()],
                }),
            }))
        );
    }

    #[test]
    fn a_bare_record_is_an_empty_post() {
        assert_eq!(decoded(""), Post::default());
        assert_eq!(
            decoded(
                r#""createdAt":null,"embed":null,"facets":null,"labels":null,"langs":null,"reply":null,"tags":null,"text":null"#
            ),
            Post::default(),
            "null is absent"
        );
    }

    #[test]
    fn embeds_keep_their_kind() {
        assert_eq!(embed_of(&images()), Some(Embed::Images));
        assert_eq!(embed_of(&video()), Some(Embed::Video));
        assert_eq!(embed_of(&external()), Some(Embed::External));
        assert_eq!(embed_of(&quote()), Some(Embed::Record));
        assert_eq!(
            embed_of(&quote_with(&images())),
            Some(Embed::RecordWithMedia(Media::Images))
        );
        assert_eq!(
            embed_of(&quote_with(&video())),
            Some(Embed::RecordWithMedia(Media::Video))
        );
        assert_eq!(
            embed_of(&quote_with(&external())),
            Some(Embed::RecordWithMedia(Media::External))
        );
    }

    #[test]
    fn unknown_embeds_are_none_and_unknown_media_a_quote() {
        assert_eq!(
            embed_of(r#"{"$type":"app.bsky.embed.poll","media":"x","options":[1,2]}"#),
            None
        );
        assert_eq!(embed_of(r#"{"images":[]}"#), None, "no $type");
        assert_eq!(
            embed_of(&quote_with(r#"{"$type":"app.bsky.embed.audio","audio":7}"#)),
            Some(Embed::Record)
        );
        assert_eq!(
            embed_of(&quote_with(r#"{"video":{}}"#)),
            Some(Embed::Record)
        );
        assert_eq!(embed_of(&quote_with("null")), Some(Embed::Record));
        // `media` means nothing to an images embed: it is not read.
        let images = images().replace(r#""images":["#, r#""media":5,"images":["#);
        assert_eq!(embed_of(&images), Some(Embed::Images));
    }

    #[test]
    fn a_reply_needs_both_uris() {
        let reply = |reply: &str| decoded(&format!(r#""reply":{reply},"text":"yes""#)).reply;
        let both = format!(r#"{{"root":{{"uri":"{ROOT}"}},"parent":{{"uri":"{PARENT}"}}}}"#);
        assert_eq!(
            reply(&both),
            Some(ReplyRefs {
                root: ROOT.into(),
                parent: PARENT.into(),
            })
        );
        for half in [
            format!(r#"{{"root":{{"uri":"{ROOT}"}}}}"#),
            format!(r#"{{"parent":{{"uri":"{PARENT}"}}}}"#),
            format!(r#"{{"root":{{"uri":"{ROOT}"}},"parent":{{"cid":"bafyrei"}}}}"#),
            format!(r#"{{"root":null,"parent":{{"uri":"{PARENT}"}}}}"#),
            "{}".into(),
        ] {
            assert_eq!(reply(&half), None, "{half}");
        }
        // The URIs are kept as written.
        let odd = r#"{"root":{"uri":"at://bsky.app/app.bsky.feed.post/1"},"parent":{"uri":""}}"#;
        assert_eq!(
            reply(odd),
            Some(ReplyRefs {
                root: "at://bsky.app/app.bsky.feed.post/1".into(),
                parent: String::new(),
            })
        );
    }

    #[test]
    fn langs_are_lowercased_non_empty_and_at_most_three() {
        let langs = |langs: &str| decoded(&format!(r#""langs":{langs}"#)).langs;
        assert_eq!(
            langs(r#"["EN","pt-BR","","nb","se"]"#),
            ["en", "pt-br", "nb"]
        );
        assert_eq!(langs(r#"["NB-no"]"#), ["nb-no"]);
        assert_eq!(langs(r#"["", ""]"#), Vec::<String>::new());
        assert_eq!(langs("[]"), Vec::<String>::new());
    }

    #[test]
    fn self_labels_are_kept() {
        let labels = |labels: &str| decoded(&format!(r#""labels":{labels}"#)).labels;
        assert_eq!(
            labels(
                r#"{"$type":"com.atproto.label.defs#selfLabels","values":[{"val":"nsfw"},{"val":""},{},{"val":"graphic-media","x":1}]}"#
            ),
            ["nsfw", "graphic-media"]
        );
        let many: Vec<String> = (0..12).map(|i| format!(r#"{{"val":"l{i}"}}"#)).collect();
        let many = labels(&format!(
            r#"{{"$type":"com.atproto.label.defs#selfLabels","values":[{}]}}"#,
            many.join(",")
        ));
        assert_eq!(many.len(), MAX_LABELS);
        assert_eq!(many[MAX_LABELS - 1], format!("l{}", MAX_LABELS - 1));
        for other in [
            r#"{"$type":"com.example.labels#other","values":"anything"}"#,
            r#"{"values":[{"val":"nsfw"}]}"#,
            r#"{"$type":"com.atproto.label.defs#selfLabels"}"#,
        ] {
            assert_eq!(labels(other), Vec::<String>::new(), "{other}");
        }
    }

    #[test]
    fn hashtags_come_from_tag_facets_then_tags_without_repeats() {
        let feature = |feature: &str| {
            format!(r#"{{"features":[{feature}],"index":{{"byteEnd":1,"byteStart":0}}}}"#)
        };
        let tag = |tag: &str| {
            feature(&format!(
                r#"{{"$type":"app.bsky.richtext.facet#tag","tag":"{tag}"}}"#
            ))
        };
        let facets = [
            tag("Rust"),
            feature(
                r#"{"$type":"app.bsky.richtext.facet#link","uri":"https://www.rust-lang.org/"}"#,
            ),
            tag("#rust"),
            tag(""),
            tag("#"),
            feature(r#"{"$type":"app.bsky.richtext.facet#tag"}"#),
            feature(r#"{"$type":"app.bsky.richtext.facet#emoji","tag":5}"#),
            tag("Ferris"),
            r#"{"index":{"byteStart":"x"}}"#.into(),
        ];
        let post = decoded(&format!(
            r#""facets":[{}],"tags":["RUST","\u0023\u0023Crab","ferris","crab","Øl","øL"],"text":"x""#,
            facets.join(",")
        ));
        assert_eq!(post.tags, ["Rust", "Ferris", "Crab", "Øl"]);
    }

    #[test]
    fn hashtags_stop_at_the_limit() {
        let tags: Vec<String> = (0..MAX_TAGS + 6).map(|i| format!(r#""t{i}""#)).collect();
        let post = decoded(&format!(r#""tags":[{}]"#, tags.join(",")));
        assert_eq!(post.tags.len(), MAX_TAGS);
        assert_eq!(post.tags[MAX_TAGS - 1], format!("t{}", MAX_TAGS - 1));
    }

    #[test]
    fn created_at_variants() {
        let created = |at: &str| decoded(&format!(r#""createdAt":"{at}""#)).created_at_us;
        let secs = CREATED_US - 102_000;
        assert_eq!(created("2024-09-09T19:46:02.102Z"), CREATED_US);
        assert_eq!(created("2024-09-09T20:46:02.102+01:00"), CREATED_US);
        assert_eq!(created("2024-09-09T15:46:02.102-04:00"), CREATED_US);
        let fractions = [
            ("", 0),
            (".1", 100_000),
            (".10", 100_000),
            (".102", 102_000),
            (".1023", 102_300),
            (".10234", 102_340),
            (".102345", 102_345),
            (".1023456", 102_345),
            (".10234567", 102_345),
            (".102345678", 102_345),
        ];
        for (fraction, micros) in fractions {
            assert_eq!(
                created(&format!("2024-09-09T19:46:02{fraction}Z")),
                secs + micros,
                "{fraction:?}"
            );
        }
        for invalid in [
            "",
            "yesterday",
            "2024-09-09",
            "2024-09-09T19:46:02",
            "2024-09-09 19:46:02Z",
            "2024-02-30T19:46:02Z",
            "1969-12-31T23:59:59Z",
            "0000-01-01T00:00:00Z",
        ] {
            assert_eq!(created(invalid), 0, "{invalid:?}");
        }
        assert_eq!(decoded(r#""text":"no time""#).created_at_us, 0);
    }

    #[test]
    fn escaped_strings_are_unescaped() {
        let post = decoded(&format!(
            r#""langs":["\u0045N"],"reply":{{"root":{{"uri":"{}"}},"parent":{{"uri":"{PARENT}"}}}},"tags":["\u0023Caf\u00e9"],"text":"hello \"world\" \u00e9 \ud83e\udd80\n""#,
            ROOT.replace('/', r"\/")
        ));
        assert_eq!(post.text, "hello \"world\" é 🦀\n");
        assert_eq!(post.langs, ["en"]);
        assert_eq!(post.reply.unwrap().root, ROOT);
        assert_eq!(post.tags, ["Café"]);
    }

    #[test]
    fn the_record_is_required_and_must_be_an_object() {
        assert_eq!(
            parse(&commit("create", None)),
            Err(ParseError::Field("commit.record"))
        );
        for record in ["null", "5", r#""post""#, "[]", "true"] {
            assert_eq!(
                parse(&commit("create", Some(record))),
                Err(ParseError::Field("commit.record")),
                "{record}"
            );
        }
    }

    #[test]
    fn fields_of_the_wrong_type_are_named() {
        let cases: &[(&str, &str)] = &[
            (r#""text":5"#, "text"),
            (r#""text":["a"]"#, "text"),
            (r#""createdAt":1725911162"#, "createdAt"),
            (r#""langs":"en""#, "langs"),
            (r#""langs":["en",5]"#, "langs"),
            (r#""langs":[null]"#, "langs"),
            (r#""reply":"yes""#, "reply"),
            (
                r#""reply":{"root":"at://x","parent":{"uri":"at://y"}}"#,
                "reply",
            ),
            (
                r#""reply":{"root":{"uri":5},"parent":{"uri":"at://y"}}"#,
                "reply",
            ),
            (r#""embed":"images""#, "embed"),
            (r#""embed":{"$type":5}"#, "embed"),
            (
                r#""embed":{"$type":"app.bsky.embed.recordWithMedia","media":"x"}"#,
                "embed",
            ),
            (
                r#""embed":{"$type":"app.bsky.embed.recordWithMedia","media":{"$type":7}}"#,
                "embed",
            ),
            (r#""labels":["nsfw"]"#, "labels"),
            (r#""labels":{"$type":["x"]}"#, "labels"),
            (
                r#""labels":{"$type":"com.atproto.label.defs#selfLabels","values":{"val":"nsfw"}}"#,
                "labels",
            ),
            (
                r#""labels":{"$type":"com.atproto.label.defs#selfLabels","values":["nsfw"]}"#,
                "labels",
            ),
            (
                r#""labels":{"$type":"com.atproto.label.defs#selfLabels","values":[{"val":1}]}"#,
                "labels",
            ),
            (r#""facets":{}"#, "facets"),
            (r#""facets":[5]"#, "facets"),
            (r#""facets":[{"features":{}}]"#, "facets"),
            (r#""facets":[{"features":[{"$type":5}]}]"#, "facets"),
            (
                r#""facets":[{"features":[{"$type":"app.bsky.richtext.facet#tag","tag":5}]}]"#,
                "facets",
            ),
            (r#""tags":"rust""#, "tags"),
            (r#""tags":["rust",{}]"#, "tags"),
            // Raw parts before the bad field do not hide it.
            (
                r#""facets":[{"features":[{"$type":"app.bsky.richtext.facet#tag","tag":"ok"}]}],"tags":[5]"#,
                "tags",
            ),
            (
                r#""embed":{"$type":"app.bsky.embed.recordWithMedia","media":{"$type":"x"}},"labels":{"values":5},"langs":[5]"#,
                "langs",
            ),
        ];
        for (fields, field) in cases {
            let named = POST_FIELDS
                .iter()
                .find(|(json, _)| json == field)
                .unwrap()
                .1;
            assert_eq!(
                parse(&create(fields)),
                Err(ParseError::Field(named)),
                "{fields}"
            );
        }
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let post = decoded(
            r#""future":{"nested":[1,{"a":null}]},"via":"app","text":"hi","threadgate":5,"embed":{"$type":"app.bsky.embed.images","images":"later"}"#,
        );
        assert_eq!(post.text, "hi");
        assert_eq!(post.embed, Some(Embed::Images));
    }

    #[test]
    fn a_repeated_field_fails_the_record() {
        assert_eq!(
            parse(&create(r#""text":"a","text":"b""#)),
            Err(ParseError::Field("commit.record"))
        );
    }

    #[test]
    fn delete_becomes_post_delete() {
        assert_eq!(
            parse(&commit("delete", None)),
            Ok(Some(RepoEvent::PostDelete {
                did: ALICE.into(),
                rkey: "3l3qo2vutsw2b".into(),
                time_us: 1725911162329308,
            }))
        );
    }

    #[test]
    fn updates_are_ignored_without_reading_the_record() {
        assert_eq!(
            parse(&commit("update", Some(r#"{"text":"edited"}"#))),
            Ok(None)
        );
        assert_eq!(parse(&commit("update", Some(r#"{"text":5}"#))), Ok(None));
        assert_eq!(parse(&commit("update", None)), Ok(None));
    }

    #[test]
    fn the_envelope_rules_hold_for_posts() {
        let line = create(r#""text":"hi""#);
        for (from, to, field) in [
            (r#""rkey":"3l3qo2vutsw2b","#, "", "commit.rkey"),
            (
                r#""rkey":"3l3qo2vutsw2b","#,
                r#""rkey":"..","#,
                "commit.rkey",
            ),
            (r#""rev":"3l3qo2vuowo2b","#, "", "commit.rev"),
            (&format!(r#""did":"{ALICE}","#), "", "did"),
        ] {
            let line = line.replace(from, to);
            assert_eq!(parse(&line), Err(ParseError::Field(field)), "{line}");
        }
    }
}
