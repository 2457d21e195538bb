//! What feedmixer keeps of an `app.bsky.feed.post` record: enough to index
//! the post and to judge feed rules, never the whole record.
//!
//! Languages are BCP-47 tags; feeds match them by their primary subtag
//! ([`primary_subtag`]), so a feed for `nb` takes `nb-NO` too.

/// Most languages a post keeps: the lexicon allows three.
pub const MAX_LANGS: usize = 3;

/// Most self-labels a post keeps: the lexicon allows ten.
pub const MAX_LABELS: usize = 10;

/// Most hashtags a post keeps. The lexicon allows 8 `tags` but any number
/// of tag facets; this bounds the work one record can cost.
pub const MAX_TAGS: usize = 64;

/// One post, as decoded from its record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Post {
    /// The record's `createdAt` in unix microseconds; 0 when absent, not
    /// an RFC 3339 time, or before 1970. The author's clock: shown, never
    /// used for order.
    pub created_at_us: u64,
    /// The record's `langs` in order, ASCII-lowercased, empty ones dropped,
    /// at most the first [`MAX_LANGS`]. Self-declared by the client.
    pub langs: Vec<String>,
    /// Set when the post replies to another (the record's `reply` names
    /// both a root and a parent URI).
    pub reply: Option<ReplyRefs>,
    /// What the post embeds, if anything.
    pub embed: Option<Embed>,
    /// The author's self-labels (`labels.values[].val`), in order, empty
    /// ones dropped, at most the first [`MAX_LABELS`].
    pub labels: Vec<String>,
    /// The post's text, for rules judged at ingest; stores do not keep it.
    pub text: String,
    /// Hashtags, without their leading `#`s: the facets' tag features and
    /// the record's `tags`, in that order; empty ones dropped, repeats
    /// (ignoring case) dropped keeping the first spelling, at most
    /// [`MAX_TAGS`]. For rules at ingest only.
    pub tags: Vec<String>,
}

/// The thread a reply belongs to: the URIs as the record wrote them, not
/// checked to be AT-URIs of posts (parse them with [`crate::AtUri`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyRefs {
    /// AT-URI of the thread's first post.
    pub root: String,
    /// AT-URI of the post replied to.
    pub parent: String,
}

/// The kind of a post's embed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Embed {
    Images,
    Video,
    /// A link card.
    External,
    /// A quoted record (post, feed, list...).
    Record,
    /// A quoted record with media beside it. An unknown kind of media
    /// makes the embed a plain [`Embed::Record`].
    RecordWithMedia(Media),
}

/// The media beside a quoted record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Media {
    Images,
    Video,
    External,
}

impl Post {
    pub fn is_reply(&self) -> bool {
        self.reply.is_some()
    }

    /// Whether the post shows images or a video, directly or beside a quote
    /// (a link card is not media).
    pub fn has_media(&self) -> bool {
        matches!(
            self.embed,
            Some(
                Embed::Images | Embed::Video | Embed::RecordWithMedia(Media::Images | Media::Video)
            )
        )
    }

    /// The post as stores keep it: without its text and hashtags.
    pub fn without_text(&self) -> Post {
        Post {
            text: String::new(),
            tags: Vec::new(),
            ..self.clone()
        }
    }
}

/// The primary language subtag of a BCP-47 tag: `nb` for `nb-NO`, `se` for
/// `se`, `zh` for `zh-Hant-TW`. The case is kept as it is; [`Post::langs`]
/// are lowercase already.
pub fn primary_subtag(tag: &str) -> &str {
    tag.split(['-', '_']).next().unwrap_or(tag)
}

/// The language a tag names, as feeds compare languages: its primary
/// subtag, lowercased (`nb` for `NB-no`).
pub fn primary_language(tag: &str) -> String {
    primary_subtag(tag).to_ascii_lowercase()
}

/// Whether `tag` starts with a BCP-47 primary language subtag: 2 to 8
/// ASCII letters (`nb`, `pt-BR`; not `n0`, not `*`).
pub fn is_language_tag(tag: &str) -> bool {
    let subtag = primary_subtag(tag);
    (2..=8).contains(&subtag.len()) && subtag.bytes().all(|b| b.is_ascii_alphabetic())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primary_subtags() {
        assert_eq!(primary_subtag("nb-NO"), "nb");
        assert_eq!(primary_subtag("se"), "se");
        assert_eq!(primary_subtag("zh-Hant-TW"), "zh");
        assert_eq!(primary_subtag(""), "");
    }

    #[test]
    fn media_is_images_or_video_anywhere() {
        let with = |embed| Post {
            embed,
            ..Post::default()
        };
        assert!(with(Some(Embed::Images)).has_media());
        assert!(with(Some(Embed::Video)).has_media());
        assert!(with(Some(Embed::RecordWithMedia(Media::Images))).has_media());
        assert!(with(Some(Embed::RecordWithMedia(Media::Video))).has_media());
        assert!(!with(Some(Embed::RecordWithMedia(Media::External))).has_media());
        assert!(!with(Some(Embed::External)).has_media());
        assert!(!with(Some(Embed::Record)).has_media());
        assert!(!with(None).has_media());
    }
}
