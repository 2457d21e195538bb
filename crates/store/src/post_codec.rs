//! How every backend keeps a post: its [`Post`] without text and hashtags,
//! as compact JSON. Text, so it reads in a redb dump or `redis-cli`; JSON,
//! so a hostile language tag or label cannot break the framing.

use feedmixer_atproto::{Embed, Media, Post, ReplyRefs};
use serde::{Deserialize, Serialize};

use crate::StoreError;

#[derive(Serialize, Deserialize)]
struct Wire {
    #[serde(rename = "c", default, skip_serializing_if = "is_zero")]
    created_at_us: u64,
    #[serde(rename = "l", default, skip_serializing_if = "Vec::is_empty")]
    langs: Vec<String>,
    /// `[root, parent]`.
    #[serde(rename = "r", default, skip_serializing_if = "Option::is_none")]
    reply: Option<[String; 2]>,
    #[serde(rename = "e", default, skip_serializing_if = "Option::is_none")]
    embed: Option<EmbedCode>,
    #[serde(rename = "s", default, skip_serializing_if = "Vec::is_empty")]
    labels: Vec<String>,
}

#[derive(Serialize, Deserialize, Clone, Copy)]
enum EmbedCode {
    #[serde(rename = "i")]
    Images,
    #[serde(rename = "v")]
    Video,
    #[serde(rename = "x")]
    External,
    #[serde(rename = "r")]
    Record,
    #[serde(rename = "ri")]
    RecordWithImages,
    #[serde(rename = "rv")]
    RecordWithVideo,
    #[serde(rename = "rx")]
    RecordWithExternal,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The stored form of `post` (its text and hashtags left out).
pub fn encode(post: &Post) -> String {
    let wire = Wire {
        created_at_us: post.created_at_us,
        langs: post.langs.clone(),
        reply: post
            .reply
            .as_ref()
            .map(|r| [r.root.clone(), r.parent.clone()]),
        embed: post.embed.map(|embed| match embed {
            Embed::Images => EmbedCode::Images,
            Embed::Video => EmbedCode::Video,
            Embed::External => EmbedCode::External,
            Embed::Record => EmbedCode::Record,
            Embed::RecordWithMedia(Media::Images) => EmbedCode::RecordWithImages,
            Embed::RecordWithMedia(Media::Video) => EmbedCode::RecordWithVideo,
            Embed::RecordWithMedia(Media::External) => EmbedCode::RecordWithExternal,
        }),
        labels: post.labels.clone(),
    };
    serde_json::to_string(&wire).expect("strings and integers always serialize")
}

/// The post [`encode`] stored.
pub fn decode(stored: &str) -> Result<Post, StoreError> {
    let wire: Wire = serde_json::from_str(stored)
        .map_err(|err| StoreError::Corrupt(format!("stored post {stored:?}: {err}")))?;
    Ok(Post {
        created_at_us: wire.created_at_us,
        langs: wire.langs,
        reply: wire.reply.map(|[root, parent]| ReplyRefs { root, parent }),
        embed: wire.embed.map(|code| match code {
            EmbedCode::Images => Embed::Images,
            EmbedCode::Video => Embed::Video,
            EmbedCode::External => Embed::External,
            EmbedCode::Record => Embed::Record,
            EmbedCode::RecordWithImages => Embed::RecordWithMedia(Media::Images),
            EmbedCode::RecordWithVideo => Embed::RecordWithMedia(Media::Video),
            EmbedCode::RecordWithExternal => Embed::RecordWithMedia(Media::External),
        }),
        labels: wire.labels,
        text: String::new(),
        tags: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_without_text() {
        let post = Post {
            created_at_us: 1_725_911_162_102_000,
            langs: vec!["nb-no".into(), "se".into()],
            reply: Some(ReplyRefs {
                root: "at://did:plc:a/app.bsky.feed.post/1".into(),
                parent: "at://did:plc:b/app.bsky.feed.post/2".into(),
            }),
            embed: Some(Embed::RecordWithMedia(Media::Video)),
            labels: vec!["nsfw".into()],
            text: "hei \"verden\" #fjell".into(),
            tags: vec!["fjell".into()],
        };
        let stored = encode(&post);
        assert!(!stored.contains("verden"), "{stored}");
        assert_eq!(decode(&stored).unwrap(), post.without_text());
    }

    #[test]
    fn an_empty_post_is_small() {
        assert_eq!(encode(&Post::default()), "{}");
        assert_eq!(decode("{}").unwrap(), Post::default());
    }

    #[test]
    fn garbage_is_corrupt() {
        assert!(matches!(
            decode("{\"e\":\"zz\"}"),
            Err(StoreError::Corrupt(_))
        ));
        assert!(matches!(decode("nope"), Err(StoreError::Corrupt(_))));
    }
}
