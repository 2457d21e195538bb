//! Posts placed at fixed positions instead of ranked: at the top, or at a
//! fixed slot of the list. Sources return them beside their ranked
//! candidates (the `special_posts` source places a feed's pinned,
//! rotating and sponsored posts); they need not be in the like graph: a
//! pinned announcement shows before anyone likes it.

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

    proptest::proptest! {
        /// What the first page relies on when it makes strings of only
        /// `limit + placements` ranked posts: the page comes out the same.
        #[test]
        fn a_page_needs_only_limit_plus_placements_ranked_posts(
            ranked_len in 0usize..40,
            limit in 1usize..20,
            slots in proptest::collection::vec((0usize..45, proptest::option::of(0usize..30)), 0..5),
        ) {
            let ranked: Vec<(String, String)> =
                (0..ranked_len).map(|i| (format!("p{i}"), "walk".to_string())).collect();
            let placements: Vec<Placement> = slots
                .iter()
                .map(|&(post, at)| placement(
                    &format!("p{post}"),
                    at.map_or(Slot::Top, Slot::At),
                    PlacementKind::Pinned,
                ))
                .collect();
            let whole = place(ranked.clone(), &placements);
            let needed = (limit + placements.len()).min(ranked.len());
            let cut = place(ranked[..needed].to_vec(), &placements);
            let page = limit.min(whole.len());
            proptest::prop_assert_eq!(&cut[..page], &whole[..page]);
        }
    }
}
