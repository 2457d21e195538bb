//! Feed rules judged at ingest (`[feeds.NAME.match]` in the feeds file):
//! which new posts join a feed's candidate pool as they arrive. A post
//! joins when it matches every rule given; within `langs`, `keywords` and
//! `authors`, one match is enough.
//!
//! Rules see a post once, when it is ingested, with its text (which no
//! store keeps): a change to the rules applies to posts ingested after it,
//! and posts already in a pool stay.

use std::collections::BTreeSet;

use feedmixer_atproto::{Post, is_did, is_language_tag, primary_language};
use serde::Deserialize;

/// The longest keyword accepted, in bytes.
const MAX_KEYWORD: usize = 100;

/// `[feeds.NAME.match]` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRules {
    langs: Option<Vec<String>>,
    keywords: Option<Vec<String>>,
    authors: Option<Vec<String>>,
    exclude_replies: Option<bool>,
    require_media: Option<bool>,
}

/// One feed's rules, checked and ready to match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostRules {
    /// Primary subtags, lowercase; `None`: any language.
    langs: Option<BTreeSet<String>>,
    /// Each keyword as lowercase words; `None`: no keyword needed.
    keywords: Option<Vec<Keyword>>,
    authors: Option<BTreeSet<String>>,
    exclude_replies: bool,
    require_media: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Keyword {
    /// Written with a leading `#`: only hashtags match it.
    hashtag_only: bool,
    /// Its words, lowercase, matched as a run of whole words.
    words: Vec<String>,
}

impl PostRules {
    /// Checks the rules as written; every problem is one message.
    pub fn from_raw(raw: RawRules) -> Result<PostRules, Vec<String>> {
        let mut problems = Vec::new();
        let mut list = |name: &str, values: Option<Vec<String>>| -> Option<Vec<String>> {
            let values = values?;
            if values.is_empty() {
                problems.push(format!(
                    "match.{name}: an empty list matches no post; leave it out to match any"
                ));
            }
            Some(values)
        };
        let langs = list("langs", raw.langs);
        let keywords = list("keywords", raw.keywords);
        let authors = list("authors", raw.authors);
        let langs = langs.map(|langs| {
            langs
                .iter()
                .filter_map(|tag| {
                    let ok = is_language_tag(tag);
                    if !ok {
                        problems.push(format!(
                            "match.langs: {tag:?} is not a language tag (like \"nb\" or \"pt-BR\")"
                        ));
                    }
                    ok.then(|| primary_language(tag))
                })
                .collect()
        });
        let keywords = keywords.map(|keywords| {
            keywords
                .iter()
                .filter_map(|keyword| {
                    let hashtag_only = keyword.starts_with('#');
                    let words = words(keyword.trim_start_matches('#'));
                    if words.is_empty() || keyword.len() > MAX_KEYWORD {
                        problems.push(format!(
                            "match.keywords: {keyword:?} needs 1 to {MAX_KEYWORD} bytes with a letter or digit"
                        ));
                        return None;
                    }
                    Some(Keyword {
                        hashtag_only,
                        words,
                    })
                })
                .collect()
        });
        let authors = authors.map(|authors| {
            authors
                .iter()
                .filter(|did| {
                    let ok = is_did(did);
                    if !ok {
                        problems.push(format!(
                            "match.authors: {did:?} is not a DID (a handle is not stable: use the account's DID)"
                        ));
                    }
                    ok
                })
                .cloned()
                .collect()
        });
        let rules = PostRules {
            langs,
            keywords,
            authors,
            exclude_replies: raw.exclude_replies.unwrap_or(false),
            require_media: raw.require_media.unwrap_or(false),
        };
        if rules.langs.is_none()
            && rules.keywords.is_none()
            && rules.authors.is_none()
            && !rules.exclude_replies
            && !rules.require_media
        {
            problems.push(
                "match: give at least one rule (langs, keywords, authors, exclude_replies or require_media)".into(),
            );
        }
        if problems.is_empty() {
            Ok(rules)
        } else {
            Err(problems)
        }
    }

    /// Whether the post `author` wrote matches every rule given.
    pub fn matches(&self, author: &str, post: &Post) -> bool {
        self.matches_words(author, post, &PostWords::of(post))
    }

    /// [`PostRules::matches`] with the post's words already split, for
    /// judging one post against many feeds.
    pub fn matches_words(&self, author: &str, post: &Post, words: &PostWords) -> bool {
        (!self.exclude_replies || !post.is_reply())
            && (!self.require_media || post.has_media())
            && self.authors.as_ref().is_none_or(|a| a.contains(author))
            && self.langs.as_ref().is_none_or(|langs| {
                post.langs
                    .iter()
                    .any(|tag| langs.contains(&primary_language(tag)))
            })
            && self
                .keywords
                .as_ref()
                .is_none_or(|keywords| keywords.iter().any(|k| words.has(k)))
    }
}

/// A post's text and hashtags as lowercase words.
pub struct PostWords {
    text: Vec<String>,
    hashtags: BTreeSet<String>,
}

impl PostWords {
    pub fn of(post: &Post) -> PostWords {
        let mut hashtags: BTreeSet<String> = post.tags.iter().map(|t| t.to_lowercase()).collect();
        // `#word` in the text is a hashtag even without its facet.
        for (i, _) in post.text.match_indices('#') {
            if let Some(word) = words(&post.text[i + 1..]).into_iter().next()
                && post.text[i + 1..].to_lowercase().starts_with(&word)
            {
                hashtags.insert(word);
            }
        }
        PostWords {
            text: words(&post.text),
            hashtags,
        }
    }

    fn has(&self, keyword: &Keyword) -> bool {
        let in_hashtags = keyword.words.len() == 1 && self.hashtags.contains(&keyword.words[0]);
        if keyword.hashtag_only {
            return in_hashtags;
        }
        in_hashtags
            || self
                .text
                .windows(keyword.words.len())
                .any(|run| run == keyword.words.as_slice())
    }
}

/// Lowercase runs of letters and digits: the whole words of `text`.
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use feedmixer_atproto::{Embed, ReplyRefs};

    fn rules(toml: &str) -> Result<PostRules, Vec<String>> {
        PostRules::from_raw(toml::from_str(toml).unwrap())
    }

    fn post(text: &str, langs: &[&str]) -> Post {
        Post {
            text: text.into(),
            langs: langs.iter().map(|l| l.to_string()).collect(),
            ..Post::default()
        }
    }

    const A: &str = "did:plc:alice";

    #[test]
    fn languages_match_by_primary_subtag() {
        let norsk = rules(r#"langs = ["nb", "NN", "se"]"#).unwrap();
        assert!(norsk.matches(A, &post("", &["nb-no"])));
        assert!(norsk.matches(A, &post("", &["en", "nn"])));
        assert!(!norsk.matches(A, &post("", &["en"])));
        assert!(!norsk.matches(A, &post("", &[])));
    }

    #[test]
    fn keywords_are_whole_words_case_insensitive_and_hashtags() {
        let rust = rules(r##"keywords = ["rust", "borrow checker", "#rustlang"]"##).unwrap();
        assert!(rust.matches(A, &post("Learning RUST today", &[])));
        assert!(rust.matches(A, &post("the Borrow  Checker, again", &[])));
        assert!(
            !rust.matches(A, &post("trusty rusting", &[])),
            "whole words only"
        );
        assert!(!rust.matches(A, &post("borrow the checker", &[])));
        let tagged = Post {
            tags: vec!["RustLang".into()],
            ..post("no words here", &[])
        };
        assert!(rust.matches(A, &tagged));
        assert!(rust.matches(A, &post("new release #rustlang", &[])));
        assert!(
            !rust.matches(A, &post("rustlang without a hash", &[])),
            "#keywords: hashtags only"
        );
        assert!(rust.matches(A, &post("#Rust is fun", &[])));
        let unicode = rules(r#"keywords = ["fjellet"]"#).unwrap();
        assert!(unicode.matches(A, &post("Til FJELLET!", &[])));
        assert!(!unicode.matches(A, &post("fjelletur", &[])));
    }

    #[test]
    fn every_rule_given_must_match() {
        let r = rules(
            r#"
            langs = ["nb"]
            authors = ["did:plc:alice"]
            exclude_replies = true
            require_media = true
            "#,
        )
        .unwrap();
        let good = Post {
            embed: Some(Embed::Images),
            ..post("hei", &["nb"])
        };
        assert!(r.matches(A, &good));
        assert!(!r.matches("did:plc:bob", &good));
        assert!(!r.matches(
            A,
            &Post {
                embed: None,
                ..good.clone()
            }
        ));
        let reply = Post {
            reply: Some(ReplyRefs {
                root: "at://did:plc:x/app.bsky.feed.post/1".into(),
                parent: "at://did:plc:x/app.bsky.feed.post/1".into(),
            }),
            ..good.clone()
        };
        assert!(!r.matches(A, &reply));
    }

    #[test]
    fn bad_rules_are_named() {
        let problems = |toml| rules(toml).unwrap_err().join("\n");
        assert!(problems("").contains("at least one rule"));
        assert!(problems("langs = []").contains("empty list"));
        assert!(problems(r#"langs = ["n0"]"#).contains("not a language tag"));
        assert!(problems(r#"keywords = ["  "]"#).contains("match.keywords"));
        assert!(problems(r#"authors = ["alice.bsky.social"]"#).contains("not a DID"));
        assert!(
            toml::from_str::<RawRules>("languages = [\"nb\"]").is_err(),
            "unknown keys"
        );
    }
}
