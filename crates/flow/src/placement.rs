//! Posts placed at fixed positions instead of ranked: pinned at the top,
//! a rotating post after them, sponsored posts at fixed slots. A feed's
//! operator sets them (`PUT /v1/feeds/{feed}/special-posts`); a
//! `special_posts` source in the flow places them. They need not be in the
//! like graph: a pinned announcement shows before anyone likes it.

use serde::{Deserialize, Serialize};

/// A feed's special posts, as its operator set them.
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
    /// Checks bounds and that every entry is a post AT-URI (`is_post`
    /// decides); the error names the entry.
    pub fn validate(&self, is_post: impl Fn(&str) -> bool) -> Result<(), String> {
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
            if !is_post(uri) {
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

/// Why a post sits where it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlacementKind {
    Pinned,
    Rotating,
    Sponsored,
}

impl PlacementKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PlacementKind::Pinned => "pinned",
            PlacementKind::Rotating => "rotating",
            PlacementKind::Sponsored => "sponsored",
        }
    }
}

/// Where a placed post goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// At the top, before ranked posts (in placement order).
    Top,
    /// At this 0-based position of the whole list.
    At(usize),
}

/// A post a source places rather than ranks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub post: String,
    pub slot: Slot,
    pub kind: PlacementKind,
}

/// One entry of a feed's final list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListItem {
    pub post: String,
    /// `None` for a ranked post.
    pub placed: Option<PlacementKind>,
    /// Why the post is here, echoed back by clients with interactions:
    /// the ids of the sources that proposed it, or the placement.
    pub context: String,
}

/// Merges placements into a ranked list of post URIs: top placements first,
/// then the ranked posts with fixed-slot placements inserted at their
/// positions (or at the end of a shorter list). A post is never listed
/// twice: a placed post leaves the ranked list, and the first placement of
/// a post wins.
pub fn place(ranked: Vec<(String, String)>, placements: &[Placement]) -> Vec<ListItem> {
    let mut seen = std::collections::HashSet::new();
    let placements: Vec<&Placement> = placements
        .iter()
        .filter(|p| seen.insert(p.post.as_str()))
        .collect();
    let mut list: Vec<ListItem> = placements
        .iter()
        .filter(|p| p.slot == Slot::Top)
        .map(|p| ListItem {
            post: p.post.clone(),
            placed: Some(p.kind),
            context: p.kind.as_str().to_string(),
        })
        .collect();
    list.extend(
        ranked
            .into_iter()
            .filter(|(uri, _)| !seen.contains(uri.as_str()))
            .map(|(post, context)| ListItem {
                post,
                placed: None,
                context,
            }),
    );
    let mut fixed: Vec<(usize, &Placement)> = placements
        .iter()
        .filter_map(|p| match p.slot {
            Slot::At(i) => Some((i, *p)),
            Slot::Top => None,
        })
        .collect();
    fixed.sort_by_key(|(i, _)| *i);
    for (i, p) in fixed {
        let at = i.min(list.len());
        list.insert(
            at,
            ListItem {
                post: p.post.clone(),
                placed: Some(p.kind),
                context: p.kind.as_str().to_string(),
            },
        );
    }
    list
}

#[cfg(test)]
mod tests {
    use super::*;

    fn placement(post: &str, slot: Slot, kind: PlacementKind) -> Placement {
        Placement {
            post: post.into(),
            slot,
            kind,
        }
    }

    fn posts(list: &[ListItem]) -> Vec<&str> {
        list.iter().map(|i| i.post.as_str()).collect()
    }

    #[test]
    fn places_top_then_fixed_slots_without_repeats() {
        let ranked = ["a", "b", "c", "d", "pin"]
            .map(|p| (p.to_string(), "walk".to_string()))
            .to_vec();
        let list = place(
            ranked,
            &[
                placement("pin", Slot::Top, PlacementKind::Pinned),
                placement("rot", Slot::Top, PlacementKind::Rotating),
                placement("ad", Slot::At(3), PlacementKind::Sponsored),
                placement("late", Slot::At(50), PlacementKind::Sponsored),
                placement("pin", Slot::At(1), PlacementKind::Sponsored),
            ],
        );
        assert_eq!(
            posts(&list),
            vec!["pin", "rot", "a", "ad", "b", "c", "d", "late"]
        );
        assert_eq!(list[0].placed, Some(PlacementKind::Pinned));
        assert_eq!(list[3].placed, Some(PlacementKind::Sponsored));
        assert_eq!(list[2].placed, None);
        assert_eq!(
            (list[2].context.as_str(), list[3].context.as_str()),
            ("walk", "sponsored")
        );
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
        let ok = |u: &str| u.starts_with("at://");
        let mut s = SpecialPosts {
            pinned: vec!["at://a".into()],
            sponsored: vec![Sponsored {
                slot: 3,
                post: "at://b".into(),
            }],
            ..Default::default()
        };
        assert!(s.validate(ok).is_ok());
        s.rotating.push("nope".into());
        assert_eq!(
            s.validate(ok).unwrap_err(),
            "rotating[0]: \"nope\" is not a post AT-URI"
        );
        s.rotating.clear();
        s.sponsored.push(Sponsored {
            slot: 3,
            post: "at://c".into(),
        });
        assert!(s.validate(ok).unwrap_err().contains("share a slot"));
        s.sponsored[1].slot = 0;
        assert!(s.validate(ok).unwrap_err().contains("slot 0"));
    }
}
