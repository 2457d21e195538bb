//! What the demo's posts say: a language per community (Norwegian bokmål,
//! nynorsk and Northern Sámi among them, for the `norsk` feed), replies,
//! media and hashtags. Drawn from a generator of its own, so adding
//! content never changes the likes a seed gives.

use feedmixer_atproto::{Embed, Media, Post, ReplyRefs};
use rand::RngExt;
use rand_chacha::ChaCha8Rng;

/// Each community's language (by community index, cycling).
const LANGUAGES: [&str; 24] = [
    "en", "en", "nb", "ja", "en", "nn", "pt-BR", "de", "en", "se", "es", "en", "fr", "ko", "en",
    "nb-NO", "it", "en", "pl", "en", "tr", "nl", "en", "ru",
];

/// Each community's topic: its hashtag, and the word its posts use.
const TOPICS: [&str; 24] = [
    "rust",
    "photography",
    "fjell",
    "anime",
    "science",
    "ski",
    "futebol",
    "bier",
    "music",
    "joik",
    "cocina",
    "books",
    "cinema",
    "kpop",
    "gaming",
    "friluftsliv",
    "arte",
    "jazz",
    "pierogi",
    "climate",
    "kahve",
    "fietsen",
    "ai",
    "chess",
];

/// The language of community `community`.
pub fn language(community: usize) -> &'static str {
    LANGUAGES[community % LANGUAGES.len()]
}

/// The topic of community `community`.
pub fn topic(community: usize) -> &'static str {
    TOPICS[community % TOPICS.len()]
}

/// The record of post `n`, written in `community`, created at
/// `created_us`; `replied` is the AT-URI of the post it answers, if any.
pub fn post(
    rng: &mut ChaCha8Rng,
    n: usize,
    community: usize,
    created_us: u64,
    replied: Option<String>,
) -> Post {
    let lang = language(community);
    let topic = topic(community);
    let mut langs = vec![lang.to_ascii_lowercase()];
    let roll = rng.random::<f64>();
    if roll < 0.05 {
        langs.clear();
    } else if roll < 0.15 && !lang.starts_with("en") {
        langs.push("en".into());
    }
    let hashtag = rng.random_bool(0.4);
    let text = match (lang, hashtag) {
        ("nb" | "nb-NO" | "nn", true) => format!("innlegg {n} om {topic} #{topic}"),
        ("nb" | "nb-NO" | "nn", false) => format!("innlegg {n} om {topic}"),
        (_, true) => format!("post {n} about {topic} #{topic}"),
        (_, false) => format!("post {n} about {topic}"),
    };
    let embed = match rng.random::<f64>() {
        r if r < 0.18 => Some(Embed::Images),
        r if r < 0.23 => Some(Embed::Video),
        r if r < 0.30 => Some(Embed::External),
        r if r < 0.34 => Some(Embed::Record),
        r if r < 0.36 => Some(Embed::RecordWithMedia(Media::Images)),
        _ => None,
    };
    Post {
        created_at_us: created_us,
        langs,
        reply: replied.map(|uri| ReplyRefs {
            root: uri.clone(),
            parent: uri,
        }),
        embed,
        labels: Vec::new(),
        text,
        tags: if hashtag {
            vec![topic.to_string()]
        } else {
            Vec::new()
        },
    }
}
