//! [`RepoEvent`] → Jetstream JSON, for writing captures.
//!
//! The event keeps only what the graph and the post index need; the other
//! fields Jetstream sends (`rev`, the commit, subject and blob `cid`s, a
//! like's `createdAt`, the account event's `seq` and `time`, the parts of
//! an embed a [`Post`] does not keep) are derived from the event so that
//! encoding is deterministic. They look like the real thing (a TID, a
//! `bafyrei…` CID, RFC 3339 times, a minimal valid embed) but are not: the
//! CIDs hash nothing real.

use serde::Serialize;

use super::datetime::{format_ms, format_us};
use super::{LIKE_COLLECTION, RepoEvent};
use crate::{Embed, Media, POST_COLLECTION, Post, Tid};

#[derive(Serialize)]
struct Event<'a> {
    did: &'a str,
    time_us: u64,
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    commit: Option<Commit<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    account: Option<Account<'a>>,
}

#[derive(Serialize)]
struct Commit<'a> {
    rev: String,
    operation: &'static str,
    collection: &'static str,
    rkey: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    record: Option<Record<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cid: Option<String>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Record<'a> {
    Like(LikeRecord<'a>),
    Post(Box<PostRecord<'a>>),
}

#[derive(Serialize)]
struct LikeRecord<'a> {
    #[serde(rename = "$type")]
    kind: &'static str,
    #[serde(rename = "createdAt")]
    created_at: String,
    subject: StrongRef<'a>,
}

#[derive(Serialize)]
struct StrongRef<'a> {
    cid: String,
    uri: &'a str,
}

/// An `app.bsky.feed.post` record. Empty lists and absent parts are left
/// out, as clients do.
#[derive(Serialize)]
struct PostRecord<'a> {
    #[serde(rename = "$type")]
    kind: &'static str,
    #[serde(rename = "createdAt", skip_serializing_if = "Option::is_none")]
    created_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    embed: Option<EmbedWire<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    facets: Vec<Facet<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    labels: Option<SelfLabels<'a>>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    langs: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    reply: Option<Reply<'a>>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    tags: &'a [String],
    text: &'a str,
}

#[derive(Serialize)]
struct Reply<'a> {
    root: StrongRef<'a>,
    parent: StrongRef<'a>,
}

/// The smallest embed of each kind the lexicon accepts.
#[derive(Serialize)]
#[serde(untagged)]
enum EmbedWire<'a> {
    Images {
        #[serde(rename = "$type")]
        kind: &'static str,
        images: [Image; 1],
    },
    Video {
        #[serde(rename = "$type")]
        kind: &'static str,
        video: Blob,
    },
    External {
        #[serde(rename = "$type")]
        kind: &'static str,
        external: External,
    },
    Record {
        #[serde(rename = "$type")]
        kind: &'static str,
        record: StrongRef<'a>,
    },
    RecordWithMedia {
        #[serde(rename = "$type")]
        kind: &'static str,
        record: Box<EmbedWire<'a>>,
        media: Box<EmbedWire<'a>>,
    },
}

#[derive(Serialize)]
struct Image {
    alt: &'static str,
    image: Blob,
}

/// A blob reference in its JSON form.
#[derive(Serialize)]
struct Blob {
    #[serde(rename = "$type")]
    kind: &'static str,
    #[serde(rename = "ref")]
    link: Link,
    #[serde(rename = "mimeType")]
    mime_type: &'static str,
    size: u64,
}

#[derive(Serialize)]
struct Link {
    #[serde(rename = "$link")]
    link: String,
}

#[derive(Serialize)]
struct External {
    uri: String,
    title: &'static str,
    description: &'static str,
}

#[derive(Serialize)]
struct SelfLabels<'a> {
    #[serde(rename = "$type")]
    kind: &'static str,
    values: Vec<SelfLabel<'a>>,
}

#[derive(Serialize)]
struct SelfLabel<'a> {
    val: &'a str,
}

#[derive(Serialize)]
struct Facet<'a> {
    index: ByteSlice,
    features: [TagFeature<'a>; 1],
}

#[derive(Serialize)]
struct ByteSlice {
    #[serde(rename = "byteStart")]
    byte_start: usize,
    #[serde(rename = "byteEnd")]
    byte_end: usize,
}

#[derive(Serialize)]
struct TagFeature<'a> {
    #[serde(rename = "$type")]
    kind: &'static str,
    tag: &'a str,
}

#[derive(Serialize)]
struct Account<'a> {
    active: bool,
    did: &'a str,
    /// The relay's sequence number, which an event does not keep.
    seq: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<&'static str>,
    time: String,
}

pub(super) fn encode(event: &RepoEvent) -> String {
    let quoted;
    let wire = match event {
        RepoEvent::LikeCreate {
            did,
            rkey,
            subject,
            time_us,
        } => Event {
            did,
            time_us: *time_us,
            kind: "commit",
            commit: Some(Commit {
                rev: tid(*time_us),
                operation: "create",
                collection: LIKE_COLLECTION,
                rkey,
                record: Some(Record::Like(LikeRecord {
                    kind: LIKE_COLLECTION,
                    created_at: format_ms(*time_us),
                    subject: StrongRef {
                        cid: fake_cid(&[subject.as_bytes()]),
                        uri: subject,
                    },
                })),
                cid: Some(fake_cid(&[
                    did.as_bytes(),
                    rkey.as_bytes(),
                    subject.as_bytes(),
                    &time_us.to_be_bytes(),
                ])),
            }),
            account: None,
        },
        RepoEvent::LikeDelete { did, rkey, time_us } => {
            commit_delete(did, rkey, *time_us, LIKE_COLLECTION)
        }
        RepoEvent::PostCreate {
            did,
            rkey,
            time_us,
            post,
        } => {
            // A post of the same author a minute earlier: what a quote
            // embed points at, as the post does not keep it.
            quoted = format!(
                "at://{did}/{POST_COLLECTION}/{}",
                tid(time_us.saturating_sub(60_000_000))
            );
            Event {
                did,
                time_us: *time_us,
                kind: "commit",
                commit: Some(Commit {
                    rev: tid(*time_us),
                    operation: "create",
                    collection: POST_COLLECTION,
                    rkey,
                    record: Some(Record::Post(Box::new(post_record(rkey, post, &quoted)))),
                    cid: Some(fake_cid(&[
                        did.as_bytes(),
                        rkey.as_bytes(),
                        post.text.as_bytes(),
                        &time_us.to_be_bytes(),
                    ])),
                }),
                account: None,
            }
        }
        RepoEvent::PostDelete { did, rkey, time_us } => {
            commit_delete(did, rkey, *time_us, POST_COLLECTION)
        }
        RepoEvent::AccountDeleted { did, time_us } => Event {
            did,
            time_us: *time_us,
            kind: "account",
            commit: None,
            account: Some(Account {
                active: false,
                did,
                seq: 0,
                status: Some("deleted"),
                time: format_ms(*time_us),
            }),
        },
        // The event keeps only whether the account is active, not why it
        // is not: any inactive status reads back the same.
        RepoEvent::AccountStatus {
            did,
            time_us,
            active,
        } => Event {
            did,
            time_us: *time_us,
            kind: "account",
            commit: None,
            account: Some(Account {
                active: *active,
                did,
                seq: 0,
                status: (!active).then_some("deactivated"),
                time: format_ms(*time_us),
            }),
        },
    };
    serde_json::to_string(&wire).expect("event structs of strings and integers always serialize")
}

fn commit_delete<'a>(
    did: &'a str,
    rkey: &'a str,
    time_us: u64,
    collection: &'static str,
) -> Event<'a> {
    Event {
        did,
        time_us,
        kind: "commit",
        commit: Some(Commit {
            rev: tid(time_us),
            operation: "delete",
            collection,
            rkey,
            record: None,
            cid: None,
        }),
        account: None,
    }
}

/// The record of `post`, quoting `quoted` if it embeds a record.
///
/// Hashtags become tag facets while they occur in the text as `#tag`; from
/// the first one that does not, the rest go to the record's `tags`. That
/// keeps the text as it is and the tags in their order, which is what
/// decoding reads back (facets first, then `tags`).
fn post_record<'a>(rkey: &'a str, post: &'a Post, quoted: &'a str) -> PostRecord<'a> {
    let mut facets = Vec::new();
    let mut rest: &[String] = &post.tags;
    while let Some((tag, others)) = rest.split_first() {
        let Some(start) = find_hashtag(&post.text, tag) else {
            break;
        };
        facets.push(Facet {
            index: ByteSlice {
                byte_start: start,
                byte_end: start + 1 + tag.len(),
            },
            features: [TagFeature {
                kind: "app.bsky.richtext.facet#tag",
                tag,
            }],
        });
        rest = others;
    }
    PostRecord {
        kind: POST_COLLECTION,
        created_at: (post.created_at_us != 0).then(|| format_us(post.created_at_us)),
        embed: post.embed.map(|embed| embed_wire(embed, rkey, quoted)),
        facets,
        labels: (!post.labels.is_empty()).then(|| SelfLabels {
            kind: "com.atproto.label.defs#selfLabels",
            values: post.labels.iter().map(|val| SelfLabel { val }).collect(),
        }),
        langs: &post.langs,
        reply: post.reply.as_ref().map(|reply| Reply {
            root: strong_ref(&reply.root),
            parent: strong_ref(&reply.parent),
        }),
        tags: rest,
        text: &post.text,
    }
}

/// Byte offset of `#tag` in `text`.
fn find_hashtag(text: &str, tag: &str) -> Option<usize> {
    text.match_indices('#')
        .map(|(at, _)| at)
        .find(|&at| text[at + 1..].starts_with(tag))
}

fn strong_ref(uri: &str) -> StrongRef<'_> {
    StrongRef {
        cid: fake_cid(&[uri.as_bytes()]),
        uri,
    }
}

fn embed_wire<'a>(embed: Embed, rkey: &'a str, quoted: &'a str) -> EmbedWire<'a> {
    let record = || EmbedWire::Record {
        kind: "app.bsky.embed.record",
        record: strong_ref(quoted),
    };
    match embed {
        Embed::Images => media_wire(Media::Images, rkey),
        Embed::Video => media_wire(Media::Video, rkey),
        Embed::External => media_wire(Media::External, rkey),
        Embed::Record => record(),
        Embed::RecordWithMedia(media) => EmbedWire::RecordWithMedia {
            kind: "app.bsky.embed.recordWithMedia",
            record: Box::new(record()),
            media: Box::new(media_wire(media, rkey)),
        },
    }
}

fn media_wire(media: Media, rkey: &str) -> EmbedWire<'static> {
    match media {
        Media::Images => EmbedWire::Images {
            kind: "app.bsky.embed.images",
            images: [Image {
                alt: "",
                image: blob(rkey, "image/jpeg", 254_119),
            }],
        },
        Media::Video => EmbedWire::Video {
            kind: "app.bsky.embed.video",
            video: blob(rkey, "video/mp4", 3_137_513),
        },
        Media::External => EmbedWire::External {
            kind: "app.bsky.embed.external",
            external: External {
                uri: format!("https://example.com/{rkey}"),
                title: "",
                description: "",
            },
        },
    }
}

fn blob(rkey: &str, mime_type: &'static str, size: u64) -> Blob {
    Blob {
        kind: "blob",
        link: Link {
            link: fake_cid_with("bafkrei", &[rkey.as_bytes(), mime_type.as_bytes()]),
        },
        mime_type,
        size,
    }
}

/// Base32 alphabet of multibase `b` CIDs: RFC 4648 lowercase.
const CID_ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// The TID of `time_us` with clock id 0, as repo revisions are.
fn tid(time_us: u64) -> String {
    Tid::new(time_us, 0).to_string()
}

/// A string shaped like a CIDv1 of a record (dag-cbor, sha2-256, base32),
/// derived from `parts` with a non-cryptographic hash.
fn fake_cid(parts: &[&[u8]]) -> String {
    fake_cid_with("bafyrei", parts)
}

/// [`fake_cid`] with another multibase, version and codec prefix
/// (`bafkrei` for the raw codec of blobs).
fn fake_cid_with(prefix: &str, parts: &[&[u8]]) -> String {
    // FNV-1a over the parts, then splitmix64 to spread it over 52 characters.
    let mut state = parts.iter().fold(0xcbf2_9ce4_8422_2325_u64, |hash, part| {
        part.iter().chain(&[0xff]).fold(hash, |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        })
    });
    let mut cid = String::with_capacity(prefix.len() + 52);
    cid.push_str(prefix);
    for _ in 0..52 {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        cid.push(CID_ALPHABET[(z >> 59) as usize] as char);
    }
    cid
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ReplyRefs;

    #[test]
    fn create_has_jetstream_shape() {
        let event = RepoEvent::LikeCreate {
            did: "did:plc:alice".into(),
            rkey: "3l3qo2vutsw2b".into(),
            subject: "at://did:plc:bob/app.bsky.feed.post/3l3qo2vutsw2a".into(),
            time_us: 1_725_911_162_329_308,
        };
        let json: serde_json::Value = serde_json::from_str(&event.to_jetstream_json()).unwrap();
        assert_eq!(json["did"], "did:plc:alice");
        assert_eq!(json["time_us"], 1_725_911_162_329_308_u64);
        assert_eq!(json["kind"], "commit");
        let commit = &json["commit"];
        assert_eq!(commit["operation"], "create");
        assert_eq!(commit["collection"], "app.bsky.feed.like");
        assert_eq!(commit["rkey"], "3l3qo2vutsw2b");
        assert_eq!(commit["rev"].as_str().unwrap().len(), 13);
        assert!(commit["cid"].as_str().unwrap().starts_with("bafyrei"));
        let record = &commit["record"];
        assert_eq!(record["$type"], "app.bsky.feed.like");
        assert_eq!(record["createdAt"], "2024-09-09T19:46:02.329Z");
        assert_eq!(
            record["subject"]["uri"],
            "at://did:plc:bob/app.bsky.feed.post/3l3qo2vutsw2a"
        );
        assert_eq!(record["subject"]["cid"].as_str().unwrap().len(), 59);
    }

    #[test]
    fn delete_and_account_deletion_have_jetstream_shape() {
        let delete = RepoEvent::LikeDelete {
            did: "did:plc:alice".into(),
            rkey: "3l3qo2vutsw2b".into(),
            time_us: 1,
        };
        let json: serde_json::Value = serde_json::from_str(&delete.to_jetstream_json()).unwrap();
        assert_eq!(json["commit"]["operation"], "delete");
        assert!(json["commit"].get("record").is_none());

        let gone = RepoEvent::AccountDeleted {
            did: "did:plc:alice".into(),
            time_us: 1_725_516_666_833_633,
        };
        let json: serde_json::Value = serde_json::from_str(&gone.to_jetstream_json()).unwrap();
        assert_eq!(json["kind"], "account");
        assert_eq!(json["account"]["active"], false);
        assert_eq!(json["account"]["status"], "deleted");
        assert_eq!(json["account"]["did"], "did:plc:alice");
        assert_eq!(json["account"]["time"], "2024-09-05T06:11:06.833Z");

        let hidden = RepoEvent::AccountStatus {
            did: "did:plc:alice".into(),
            time_us: 1,
            active: false,
        };
        let json: serde_json::Value = serde_json::from_str(&hidden.to_jetstream_json()).unwrap();
        assert_eq!(json["account"]["active"], false);
        assert_eq!(json["account"]["status"], "deactivated");
        let back = RepoEvent::AccountStatus {
            did: "did:plc:alice".into(),
            time_us: 2,
            active: true,
        };
        let json: serde_json::Value = serde_json::from_str(&back.to_jetstream_json()).unwrap();
        assert_eq!(json["account"]["active"], true);
        assert!(json["account"].get("status").is_none());
    }

    #[test]
    fn encoding_is_deterministic() {
        let event = RepoEvent::LikeCreate {
            did: "did:plc:alice".into(),
            rkey: "a".into(),
            subject: "at://did:plc:bob/app.bsky.feed.post/b".into(),
            time_us: 7,
        };
        assert_eq!(event.to_jetstream_json(), event.clone().to_jetstream_json());
        assert_ne!(
            fake_cid(&[b"ab", b"c"]),
            fake_cid(&[b"a", b"bc"]),
            "parts are delimited"
        );
    }

    #[test]
    fn tids_sort_like_their_times() {
        // The epoch is all zero digits; later times sort after earlier ones.
        assert_eq!(tid(0), "2222222222222");
        assert!(tid(1_725_911_162_329_308) < tid(1_725_911_162_329_309));
        assert_eq!(tid(1_725_911_162_329_308).len(), 13);
    }

    fn post() -> Post {
        Post {
            created_at_us: 1_725_911_162_102_000,
            langs: vec!["nb".into(), "en".into()],
            reply: Some(ReplyRefs {
                root: "at://did:plc:bob/app.bsky.feed.post/3l3qo2vutsw2a".into(),
                parent: "at://did:plc:carol/app.bsky.feed.post/3l3qo2vutsw2c".into(),
            }),
            embed: Some(Embed::Images),
            labels: vec!["nsfw".into()],
            text: "Blåbær i skogen #Sommer #natur".into(),
            tags: vec!["Sommer".into(), "natur".into(), "bær".into()],
        }
    }

    fn create(post: Post) -> RepoEvent {
        RepoEvent::PostCreate {
            did: "did:plc:alice".into(),
            rkey: "3l3qo2vutsw2b".into(),
            time_us: 1_725_911_162_329_308,
            post: Box::new(post),
        }
    }

    fn json(event: &RepoEvent) -> serde_json::Value {
        serde_json::from_str(&event.to_jetstream_json()).unwrap()
    }

    #[test]
    fn post_create_has_jetstream_shape() {
        let json = json(&create(post()));
        assert_eq!(json["did"], "did:plc:alice");
        assert_eq!(json["time_us"], 1_725_911_162_329_308_u64);
        assert_eq!(json["kind"], "commit");
        let commit = &json["commit"];
        assert_eq!(commit["operation"], "create");
        assert_eq!(commit["collection"], "app.bsky.feed.post");
        assert_eq!(commit["rkey"], "3l3qo2vutsw2b");
        assert_eq!(commit["rev"].as_str().unwrap().len(), 13);
        assert!(commit["cid"].as_str().unwrap().starts_with("bafyrei"));
        let record = &commit["record"];
        assert_eq!(record["$type"], "app.bsky.feed.post");
        assert_eq!(record["createdAt"], "2024-09-09T19:46:02.102Z");
        assert_eq!(record["text"], "Blåbær i skogen #Sommer #natur");
        assert_eq!(record["langs"], serde_json::json!(["nb", "en"]));
        assert_eq!(
            record["reply"]["root"]["uri"],
            "at://did:plc:bob/app.bsky.feed.post/3l3qo2vutsw2a"
        );
        assert_eq!(
            record["reply"]["parent"]["uri"],
            "at://did:plc:carol/app.bsky.feed.post/3l3qo2vutsw2c"
        );
        assert_eq!(record["reply"]["parent"]["cid"].as_str().unwrap().len(), 59);
        assert_eq!(
            record["labels"],
            serde_json::json!({
                "$type": "com.atproto.label.defs#selfLabels",
                "values": [{"val": "nsfw"}],
            })
        );
        assert_eq!(record["tags"], serde_json::json!(["bær"]));
    }

    #[test]
    fn hashtags_in_the_text_become_facets_over_their_bytes() {
        let json = json(&create(post()));
        let record = &json["commit"]["record"];
        let text = record["text"].as_str().unwrap();
        let facets = record["facets"].as_array().unwrap();
        assert_eq!(facets.len(), 2);
        for (facet, tag) in facets.iter().zip(["Sommer", "natur"]) {
            let feature = &facet["features"][0];
            assert_eq!(feature["$type"], "app.bsky.richtext.facet#tag");
            assert_eq!(feature["tag"], tag);
            let start = facet["index"]["byteStart"].as_u64().unwrap() as usize;
            let end = facet["index"]["byteEnd"].as_u64().unwrap() as usize;
            assert_eq!(&text[start..end], format!("#{tag}"));
        }
    }

    #[test]
    fn tags_after_one_missing_from_the_text_stay_in_order() {
        let post = Post {
            text: "#a #c".into(),
            tags: vec!["a".into(), "b".into(), "c".into()],
            ..Post::default()
        };
        let json = json(&create(post));
        let record = &json["commit"]["record"];
        assert_eq!(record["facets"].as_array().unwrap().len(), 1);
        assert_eq!(record["tags"], serde_json::json!(["b", "c"]));
    }

    #[test]
    fn empty_parts_are_left_out() {
        let json = json(&create(Post::default()));
        let record = json["commit"]["record"].as_object().unwrap();
        let keys: Vec<&str> = record.keys().map(String::as_str).collect();
        assert_eq!(keys, ["$type", "text"]);
    }

    #[test]
    fn embeds_have_the_lexicon_shape() {
        let embed = |embed| {
            let json = json(&create(Post {
                embed: Some(embed),
                ..Post::default()
            }));
            json["commit"]["record"]["embed"].clone()
        };
        let images = embed(Embed::Images);
        assert_eq!(images["$type"], "app.bsky.embed.images");
        assert_eq!(images["images"][0]["alt"], "");
        let image = &images["images"][0]["image"];
        assert_eq!(image["$type"], "blob");
        assert!(
            image["ref"]["$link"]
                .as_str()
                .unwrap()
                .starts_with("bafkrei")
        );
        assert_eq!(image["mimeType"], "image/jpeg");
        assert!(image["size"].as_u64().unwrap() > 0);

        let video = embed(Embed::Video);
        assert_eq!(video["$type"], "app.bsky.embed.video");
        assert_eq!(video["video"]["mimeType"], "video/mp4");

        let external = embed(Embed::External);
        assert_eq!(external["$type"], "app.bsky.embed.external");
        assert!(
            external["external"]["uri"]
                .as_str()
                .unwrap()
                .starts_with("https://")
        );
        assert_eq!(external["external"]["title"], "");
        assert_eq!(external["external"]["description"], "");

        let record = embed(Embed::Record);
        assert_eq!(record["$type"], "app.bsky.embed.record");
        let quoted = record["record"]["uri"].as_str().unwrap();
        assert!(crate::AtUri::parse(quoted).unwrap().is_post());
        assert!(
            record["record"]["cid"]
                .as_str()
                .unwrap()
                .starts_with("bafyrei")
        );

        for (media, kind) in [
            (Media::Images, "app.bsky.embed.images"),
            (Media::Video, "app.bsky.embed.video"),
            (Media::External, "app.bsky.embed.external"),
        ] {
            let both = embed(Embed::RecordWithMedia(media));
            assert_eq!(both["$type"], "app.bsky.embed.recordWithMedia");
            assert_eq!(both["record"], record);
            assert_eq!(both["media"]["$type"], kind);
        }
    }

    #[test]
    fn post_delete_has_jetstream_shape() {
        let delete = RepoEvent::PostDelete {
            did: "did:plc:alice".into(),
            rkey: "3l3qo2vutsw2b".into(),
            time_us: 1,
        };
        let json = json(&delete);
        assert_eq!(json["commit"]["operation"], "delete");
        assert_eq!(json["commit"]["collection"], "app.bsky.feed.post");
        assert_eq!(json["commit"]["rkey"], "3l3qo2vutsw2b");
        assert!(json["commit"].get("record").is_none());
        assert!(json["commit"].get("cid").is_none());
    }

    #[test]
    fn post_encoding_is_deterministic() {
        let event = create(post());
        assert_eq!(event.to_jetstream_json(), event.clone().to_jetstream_json());
    }
}
