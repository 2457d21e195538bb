//! Jetstream events, reduced to what the like graph and the post index
//! need.
//!
//! [`RepoEvent::from_jetstream_json`] decodes one line of a Jetstream
//! capture (or one websocket message); [`RepoEvent::to_jetstream_json`]
//! writes the same shape back, so captures can be produced from events.
//! The wire structs live in `decode` and `encode`; nothing outside this
//! module sees them.

pub(crate) mod datetime;
mod decode;
mod encode;

use crate::Post;

/// Collection NSID of like records.
pub const LIKE_COLLECTION: &str = "app.bsky.feed.like";

/// One change to the likes or posts of a repository, as decoded from a
/// Jetstream event.
///
/// Records are keyed by `(did, rkey)` within their collection: that is how
/// Jetstream identifies the record in both its create and its delete
/// events, so a repeated create is one record and a delete finds the record
/// it undoes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RepoEvent {
    /// `did` liked the post `subject` (an `at://` URI of an
    /// `app.bsky.feed.post`).
    LikeCreate {
        did: String,
        rkey: String,
        subject: String,
        time_us: u64,
    },
    /// `did` removed its like record `rkey`.
    LikeDelete {
        did: String,
        rkey: String,
        time_us: u64,
    },
    /// `did` posted `at://did/app.bsky.feed.post/rkey`.
    PostCreate {
        did: String,
        rkey: String,
        time_us: u64,
        post: Box<Post>,
    },
    /// `did` deleted its post `rkey`.
    PostDelete {
        did: String,
        rkey: String,
        time_us: u64,
    },
    /// The account was deleted: every like and every post it made goes.
    AccountDeleted { did: String, time_us: u64 },
    /// The account's hosting status changed without a deletion. Inactive
    /// (taken down, suspended, deactivated, or any other reason the
    /// protocol gives): its posts must not be served and its likes stop
    /// counting, but it may come back with both intact. Active again: they
    /// return.
    AccountStatus {
        did: String,
        time_us: u64,
        active: bool,
    },
}

impl RepoEvent {
    /// The Jetstream `time_us` of the event.
    pub fn time_us(&self) -> u64 {
        match self {
            RepoEvent::LikeCreate { time_us, .. }
            | RepoEvent::LikeDelete { time_us, .. }
            | RepoEvent::PostCreate { time_us, .. }
            | RepoEvent::PostDelete { time_us, .. }
            | RepoEvent::AccountDeleted { time_us, .. }
            | RepoEvent::AccountStatus { time_us, .. } => *time_us,
        }
    }

    /// The DID of the account the event belongs to.
    pub fn did(&self) -> &str {
        match self {
            RepoEvent::LikeCreate { did, .. }
            | RepoEvent::LikeDelete { did, .. }
            | RepoEvent::PostCreate { did, .. }
            | RepoEvent::PostDelete { did, .. }
            | RepoEvent::AccountDeleted { did, .. }
            | RepoEvent::AccountStatus { did, .. } => did,
        }
    }

    /// Decodes one Jetstream JSON event (one line of a capture).
    ///
    /// `Ok(None)` for valid events that touch neither likes nor posts:
    /// other collections, identity events, `update` operations on likes and on posts (Bluesky posts
    /// are not edited; a post stays as it was created), and likes whose
    /// subject is not an `app.bsky.feed.post` AT-URI (feed generators,
    /// lists, or a subject string that is no AT-URI at all: that is the
    /// author's record content, not a broken event).
    ///
    /// `Err` for a malformed envelope: not JSON, a missing or invalid `did`,
    /// `time_us` or `kind`, a commit without `rev`, `operation`,
    /// `collection` or a valid `rkey`, an account event without `active`,
    /// a like create without `record.subject.uri`, or a post create without
    /// a record object (`commit.record`).
    ///
    /// A post record is read by "types are checked, values are not": a
    /// field it reads that holds the wrong JSON type is an `Err` naming the
    /// field (`commit.record.langs`; anything wrong deeper inside a field
    /// is reported as that field), while a value that makes no sense is
    /// dropped. What it keeps of each field:
    ///
    /// - `createdAt`: unix microseconds of a strict RFC 3339 time (`Z` or
    ///   `±HH:MM`, any number of fractional digits, truncated to the
    ///   microsecond); 0 when absent, not such a time, or before 1970.
    /// - `langs`: ASCII-lowercased, empty strings dropped, the first
    ///   [`MAX_LANGS`](crate::MAX_LANGS).
    /// - `reply`: set only when both `root.uri` and `parent.uri` are
    ///   there; the URIs as written.
    /// - `embed`: the kind by `$type` (images, video, external, record,
    ///   recordWithMedia with its `media.$type`); unknown media makes it a
    ///   plain record, an unknown or absent `$type` no embed.
    /// - `labels`: the `values[].val` of `com.atproto.label.defs#selfLabels`
    ///   (other label types give none), empty ones dropped, the first
    ///   [`MAX_LABELS`](crate::MAX_LABELS).
    /// - `text` as written (absent: empty).
    /// - hashtags: the `tag` of `app.bsky.richtext.facet#tag` facet
    ///   features, then the record's `tags`; leading `#`s stripped, empty
    ///   ones and repeats (compared lowercased, the first spelling kept)
    ///   dropped, the first [`MAX_TAGS`](crate::MAX_TAGS).
    ///
    /// Unknown fields and unknown `$type`s are ignored, a field set to
    /// `null` is the same as one absent, and the record of any event but a
    /// like or post create is never decoded, so new record fields cannot
    /// break ingest.
    pub fn from_jetstream_json(line: &str) -> Result<Option<RepoEvent>, ParseError> {
        decode::decode(line)
    }

    /// Writes the event in Jetstream's JSON shape (a `commit` event on
    /// `app.bsky.feed.like` or `app.bsky.feed.post`, or an `account` event
    /// for a deletion), for captures and tests.
    ///
    /// Jetstream carries fields the event does not keep (`rev`, `cid`s, a
    /// like's `createdAt`, what a post's embed points at); they are derived
    /// deterministically from the event, so the same event always produces
    /// the same line, and `from_jetstream_json(&e.to_jetstream_json()) ==
    /// Ok(Some(e))` for every event `from_jetstream_json` can produce.
    ///
    /// A post's hashtags become tag facets while they occur in its text as
    /// `#tag`, and the record's `tags` from the first one that does not, so
    /// the text and the order of the tags come back unchanged. A post's
    /// `createdAt` is left out when `created_at_us` is 0.
    pub fn to_jetstream_json(&self) -> String {
        encode::encode(self)
    }
}

/// Why a Jetstream line could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseError {
    #[error("not a JSON object: {0}")]
    Json(String),
    /// A field is missing or invalid (`did`, `commit.rkey`), or a field of
    /// a post record holds the wrong JSON type (`commit.record.langs`).
    #[error("missing or invalid field `{0}`")]
    Field(&'static str),
    /// Valid JSON whose values have the wrong type or an unknown enum value
    /// (`"time_us": "soon"`, `"kind": "gossip"`).
    #[error("unexpected event shape: {0}")]
    Shape(String),
}

impl ParseError {
    /// Splits serde_json's errors into "this is not JSON" and "this is
    /// JSON of the wrong shape", which call for different fixes.
    fn from_serde(err: serde_json::Error) -> Self {
        match err.classify() {
            serde_json::error::Category::Data => ParseError::Shape(err.to_string()),
            _ => ParseError::Json(err.to_string()),
        }
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use crate::{Embed, MAX_LABELS, MAX_LANGS, Media, ReplyRefs};
    use proptest::collection::vec;
    use proptest::prelude::*;

    fn did() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z2-7]{24}".prop_map(|id| format!("did:plc:{id}")),
            "[a-z0-9-]{1,12}\\.(com|social)".prop_map(|host| format!("did:web:{host}")),
        ]
    }

    fn rkey() -> impl Strategy<Value = String> {
        prop_oneof![
            "[2-7a-z]{13}",
            "[A-Za-z0-9._:~-]{1,40}".prop_filter("`.` and `..` are not record keys", |k| {
                k != "." && k != ".."
            }),
        ]
    }

    fn like_event() -> impl Strategy<Value = RepoEvent> {
        prop_oneof![
            (did(), rkey(), did(), rkey(), any::<u64>()).prop_map(
                |(did, rkey, author, post, time_us)| RepoEvent::LikeCreate {
                    did,
                    rkey,
                    subject: format!("at://{author}/app.bsky.feed.post/{post}"),
                    time_us,
                }
            ),
            (did(), rkey(), any::<u64>()).prop_map(|(did, rkey, time_us)| RepoEvent::LikeDelete {
                did,
                rkey,
                time_us
            }),
            (did(), any::<u64>())
                .prop_map(|(did, time_us)| RepoEvent::AccountDeleted { did, time_us }),
            (did(), any::<u64>(), any::<bool>()).prop_map(|(did, time_us, active)| {
                RepoEvent::AccountStatus {
                    did,
                    time_us,
                    active,
                }
            }),
        ]
    }

    fn post_uri() -> impl Strategy<Value = String> {
        (did(), rkey()).prop_map(|(did, rkey)| format!("at://{did}/app.bsky.feed.post/{rkey}"))
    }

    fn embed() -> impl Strategy<Value = Embed> {
        let media = prop_oneof![
            Just(Media::Images),
            Just(Media::Video),
            Just(Media::External)
        ];
        prop_oneof![
            Just(Embed::Images),
            Just(Embed::Video),
            Just(Embed::External),
            Just(Embed::Record),
            media.prop_map(Embed::RecordWithMedia),
        ]
    }

    /// Languages as decoding leaves them: non-empty, ASCII-lowercased.
    fn lang() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z]{2,3}(-[a-z0-9]{2,8}){0,2}",
            "\\PC{1,6}".prop_map(|lang| lang.to_ascii_lowercase()),
        ]
    }

    /// Text and hashtags as decoding leaves them: tags non-empty, not
    /// starting with `#`, distinct ignoring case; some of them written in
    /// the text as `#tag`, so that encoding makes facets of them.
    fn text_and_tags() -> impl Strategy<Value = (String, Vec<String>)> {
        (
            prop_oneof!["\\PC{0,40}", any::<String>()],
            vec("[^#]\\PC{0,10}", 0..10),
            any::<prop::sample::Index>(),
        )
            .prop_map(|(mut text, tags, in_text)| {
                let mut seen = Vec::new();
                let tags: Vec<String> = tags
                    .into_iter()
                    .filter(|tag| {
                        let key = tag.to_lowercase();
                        let new = !seen.contains(&key);
                        seen.push(key);
                        new
                    })
                    .collect();
                for tag in &tags[..in_text.index(tags.len() + 1)] {
                    text.push_str(" #");
                    text.push_str(tag);
                }
                (text, tags)
            })
    }

    /// Posts as decoding can produce them.
    fn post() -> impl Strategy<Value = Post> {
        (
            prop_oneof![Just(0), 0..=datetime::MAX_US],
            vec(lang(), 0..=MAX_LANGS),
            prop::option::of(prop_oneof![
                (post_uri(), post_uri()),
                (any::<String>(), any::<String>()),
            ]),
            prop::option::of(embed()),
            vec("\\PC{1,12}", 0..=MAX_LABELS),
            text_and_tags(),
        )
            .prop_map(
                |(created_at_us, langs, reply, embed, labels, (text, tags))| Post {
                    created_at_us,
                    langs,
                    reply: reply.map(|(root, parent)| ReplyRefs { root, parent }),
                    embed,
                    labels,
                    text,
                    tags,
                },
            )
    }

    fn post_event() -> impl Strategy<Value = RepoEvent> {
        prop_oneof![
            (did(), rkey(), any::<u64>(), post()).prop_map(|(did, rkey, time_us, post)| {
                RepoEvent::PostCreate {
                    did,
                    rkey,
                    time_us,
                    post: Box::new(post),
                }
            }),
            (did(), rkey(), any::<u64>()).prop_map(|(did, rkey, time_us)| RepoEvent::PostDelete {
                did,
                rkey,
                time_us
            }),
        ]
    }

    fn event() -> impl Strategy<Value = RepoEvent> {
        prop_oneof![like_event(), post_event()]
    }

    /// A post record with untidy values of the right types: languages in
    /// any case or empty, hashtags with `#`s, repeats and empties,
    /// timestamps valid or not, embeds of known and unknown kinds.
    fn untidy_post_record() -> impl Strategy<Value = serde_json::Value> {
        let kinds = || {
            prop::sample::select(vec![
                "app.bsky.embed.images",
                "app.bsky.embed.video",
                "app.bsky.embed.external",
                "app.bsky.embed.record",
                "app.bsky.embed.recordWithMedia",
                "app.bsky.embed.poll",
            ])
        };
        (
            prop_oneof![
                "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{0,12})?(Z|[+-][0-9]{2}:[0-9]{2})?",
                "\\PC{0,30}",
            ],
            vec("[a-zA-Z-]{0,6}", 0..6),
            vec("#{0,3}[a-zA-ZøØ]{0,3}", 0..12),
            vec("#{0,3}[a-zA-ZøØ]{0,3}", 0..6),
            vec("\\PC{0,4}", 0..14),
            "\\PC{0,20}",
            (kinds(), kinds()),
        )
            .prop_map(
                |(created_at, langs, facet_tags, tags, labels, text, (embed, media))| {
                    let facets: Vec<_> = facet_tags
                        .iter()
                        .map(|tag| {
                            serde_json::json!({
                                "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": tag}],
                                "index": {"byteStart": 0, "byteEnd": 1},
                            })
                        })
                        .collect();
                    let values: Vec<_> = labels
                        .iter()
                        .map(|val| serde_json::json!({ "val": val }))
                        .collect();
                    serde_json::json!({
                        "$type": "app.bsky.feed.post",
                        "createdAt": created_at,
                        "embed": {"$type": embed, "media": {"$type": media}},
                        "facets": facets,
                        "labels": {"$type": "com.atproto.label.defs#selfLabels", "values": values},
                        "langs": langs,
                        "reply": {"root": {"uri": "at://a"}, "parent": {"uri": "at://b"}},
                        "tags": tags,
                        "text": text,
                    })
                },
            )
    }

    proptest! {
        #[test]
        fn arbitrary_strings_never_panic(line in any::<String>()) {
            let _ = RepoEvent::from_jetstream_json(&line);
        }

        #[test]
        fn json_looking_garbage_never_panics(line in "[{}\\[\\]\":,a-z0-9 .\\\\-]{0,200}") {
            let _ = RepoEvent::from_jetstream_json(&line);
        }

        /// Damaging a valid line anywhere (truncation, a replaced byte)
        /// must give an error or a decoded event, never a panic.
        #[test]
        fn damaged_events_never_panic(
            event in event(),
            cut in any::<prop::sample::Index>(),
            byte in any::<u8>(),
        ) {
            let line = event.to_jetstream_json();
            let at = cut.index(line.len());
            // Posts carry any text: cut where a character starts.
            let end = (0..=at).rev().find(|&end| line.is_char_boundary(end)).unwrap_or(0);
            let _ = RepoEvent::from_jetstream_json(&line[..end]);
            let mut bytes = line.into_bytes();
            bytes[at] = byte;
            if let Ok(damaged) = String::from_utf8(bytes) {
                let _ = RepoEvent::from_jetstream_json(&damaged);
            }
        }

        #[test]
        fn events_round_trip_through_json(event in event()) {
            let line = event.to_jetstream_json();
            prop_assert_eq!(RepoEvent::from_jetstream_json(&line), Ok(Some(event)));
        }

        /// What decoding makes of an untidy record, encoding gives back: the
        /// clean-up is done once and for all (the fuzz target's property).
        #[test]
        fn decoded_posts_round_trip(record in untidy_post_record()) {
            let line = serde_json::json!({
                "did": "did:plc:ewvi7nxzyoun6zhxrhs64oiz",
                "time_us": 1_725_911_162_329_308_u64,
                "kind": "commit",
                "commit": {
                    "rev": "3l3qo2vuowo2b",
                    "operation": "create",
                    "collection": "app.bsky.feed.post",
                    "rkey": "3l3qo2vutsw2b",
                    "record": record,
                },
            })
            .to_string();
            let event = RepoEvent::from_jetstream_json(&line);
            let Ok(Some(event)) = event else {
                return Err(TestCaseError::fail(format!("{line}: {event:?}")));
            };
            prop_assert_eq!(
                RepoEvent::from_jetstream_json(&event.to_jetstream_json()),
                Ok(Some(event))
            );
        }
    }
}
