//! A feed's special posts, as its operator set them: pinned at the top, a
//! rotating post after them, sponsored posts at fixed slots
//! (`PUT /v1/feeds/{feed}/special-posts`). The record and how every
//! backend keeps it: JSON under one meta key per feed.

use feedmixer_atproto::AtUri;
use serde::{Deserialize, Serialize};

use crate::{Store, StoreError};

/// A feed's special posts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpecialPosts {
    /// At the top, in this order.
    #[serde(default)]
    pub pinned: Vec<String>,
    /// One of these after the pinned posts, a different one each period.
    #[serde(default)]
    pub rotating: Vec<String>,
    /// How long one rotating post stays, minutes.
    #[serde(default = "default_rotate_minutes")]
    pub rotate_every_minutes: u32,
    /// Posts at fixed positions of the whole list.
    #[serde(default)]
    pub sponsored: Vec<Sponsored>,
}

impl Default for SpecialPosts {
    fn default() -> Self {
        SpecialPosts {
            pinned: Vec::new(),
            rotating: Vec::new(),
            rotate_every_minutes: default_rotate_minutes(),
            sponsored: Vec::new(),
        }
    }
}

/// A sponsored post and its position (1 = first) in the feed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sponsored {
    pub slot: usize,
    pub post: String,
}

fn default_rotate_minutes() -> u32 {
    60
}

/// Most special posts a feed may have, all kinds together.
pub const MAX_SPECIAL_POSTS: usize = 100;
/// Sponsored slots lie within the first this many positions.
pub const MAX_SPONSORED_SLOT: usize = 1000;

impl SpecialPosts {
    /// Checks bounds and that every entry is a post AT-URI; the error names
    /// the entry.
    pub fn validate(&self) -> Result<(), String> {
        let total = self.pinned.len() + self.rotating.len() + self.sponsored.len();
        if total > MAX_SPECIAL_POSTS {
            return Err(format!(
                "at most {MAX_SPECIAL_POSTS} special posts, got {total}"
            ));
        }
        if !(1..=10_080).contains(&self.rotate_every_minutes) {
            return Err("rotate_every_minutes: 1..=10080".into());
        }
        let uris = self
            .pinned
            .iter()
            .enumerate()
            .map(|(i, p)| (format!("pinned[{i}]"), p))
            .chain(
                self.rotating
                    .iter()
                    .enumerate()
                    .map(|(i, p)| (format!("rotating[{i}]"), p)),
            )
            .chain(
                self.sponsored
                    .iter()
                    .enumerate()
                    .map(|(i, s)| (format!("sponsored[{i}].post"), &s.post)),
            );
        for (field, uri) in uris {
            if !AtUri::parse(uri).is_ok_and(|u| u.is_post()) {
                return Err(format!("{field}: {uri:?} is not a post AT-URI"));
            }
        }
        let mut slots: Vec<usize> = self.sponsored.iter().map(|s| s.slot).collect();
        if let Some(bad) = slots
            .iter()
            .find(|s| !(1..=MAX_SPONSORED_SLOT).contains(*s))
        {
            return Err(format!("sponsored slot {bad}: 1..={MAX_SPONSORED_SLOT}"));
        }
        slots.sort_unstable();
        if slots.windows(2).any(|w| w[0] == w[1]) {
            return Err("two sponsored posts share a slot".into());
        }
        Ok(())
    }

    /// The rotating post shown at `now_secs`.
    pub fn rotating_at(&self, now_secs: u32) -> Option<&str> {
        if self.rotating.is_empty() {
            return None;
        }
        let period = u64::from(self.rotate_every_minutes.max(1)) * 60;
        let index = (u64::from(now_secs) / period) as usize % self.rotating.len();
        Some(&self.rotating[index])
    }
}

/// The meta key holding a feed's special posts.
fn key(feed: &str) -> String {
    format!("feed_special_posts:{feed}")
}

/// A feed's special posts as stored; bytes no version wrote are reported
/// and read as none, so one bad record cannot stop a feed.
pub(crate) async fn read<S: Store + ?Sized>(
    store: &S,
    feed: &str,
) -> Result<Option<SpecialPosts>, StoreError> {
    let Some(bytes) = store.get_meta(&key(feed)).await? else {
        return Ok(None);
    };
    match serde_json::from_slice(&bytes) {
        Ok(posts) => Ok(Some(posts)),
        Err(e) => {
            tracing::error!(feed, error = %e, "stored special posts are unreadable; ignoring them");
            Ok(None)
        }
    }
}

/// Stores a feed's special posts after checking them.
pub(crate) async fn write<S: Store + ?Sized>(
    store: &S,
    feed: &str,
    posts: &SpecialPosts,
) -> Result<(), StoreError> {
    if feed.is_empty() {
        return Err(StoreError::EmptyFeedName);
    }
    posts.validate().map_err(StoreError::InvalidSpecialPosts)?;
    let json = serde_json::to_vec(posts).expect("special posts serialize");
    store.set_meta(&key(feed), &json).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post(n: u32) -> String {
        format!("at://did:plc:a/app.bsky.feed.post/{n}")
    }

    #[test]
    fn rotation_moves_with_time() {
        let s = SpecialPosts {
            rotating: vec!["x".into(), "y".into()],
            rotate_every_minutes: 10,
            ..Default::default()
        };
        assert_eq!(s.rotating_at(0), Some("x"));
        assert_eq!(s.rotating_at(599), Some("x"));
        assert_eq!(s.rotating_at(600), Some("y"));
        assert_eq!(s.rotating_at(1200), Some("x"));
        assert_eq!(SpecialPosts::default().rotating_at(5), None);
    }

    #[test]
    fn validation_names_the_bad_entry() {
        let mut s = SpecialPosts {
            pinned: vec![post(1)],
            sponsored: vec![Sponsored {
                slot: 3,
                post: post(2),
            }],
            ..Default::default()
        };
        assert!(s.validate().is_ok());
        s.rotating.push("nope".into());
        assert_eq!(
            s.validate().unwrap_err(),
            "rotating[0]: \"nope\" is not a post AT-URI"
        );
        s.rotating.clear();
        s.sponsored.push(Sponsored {
            slot: 3,
            post: post(3),
        });
        assert!(s.validate().unwrap_err().contains("share a slot"));
        s.sponsored[1].slot = 0;
        assert!(s.validate().unwrap_err().contains("slot 0"));
    }
}
