//! `special_posts`: places the feed's special posts — pinned at the top, a
//! rotating post after them, sponsored posts at fixed slots — as its
//! operator set them (`PUT /v1/feeds/{feed}/special-posts`). It ranks
//! nothing: its posts keep their positions whatever the ranker does, and
//! need not be in the like graph. Params choose which kinds this flow shows.

use std::sync::Arc;

use async_trait::async_trait;
use feedmixer_flow::placement::{Placement, PlacementKind, Slot};
use feedmixer_flow::{
    CandidateSource, ComponentError, FeatureKey, Fetched, Kind, Params, Registration,
    RequestContext, params, register,
};

use crate::features::special_posts::FeedSpecialPosts;

pub const KIND: Kind<dyn CandidateSource> = Kind {
    name: "special_posts",
    description: "Places the feed's pinned, rotating and sponsored posts at fixed positions",
    reads: &[FeatureKey::of::<FeedSpecialPosts>()],
    params: SpecialPostsParams::docs,
    build: |table| {
        Ok(Arc::new(SpecialPostsSource(
            SpecialPostsParams::from_table(table)?,
        )))
    },
};

register!(Registration::Source(KIND));

params! {
    /// Which kinds of special posts this flow shows.
    pub struct SpecialPostsParams {
        /// Show the pinned posts.
        pinned: bool = true;
        /// Show the rotating post.
        rotating: bool = true;
        /// Show the sponsored posts.
        sponsored: bool = true;
    }
}

pub struct SpecialPostsSource(SpecialPostsParams);

#[async_trait]
impl CandidateSource for SpecialPostsSource {
    async fn fetch(&self, ctx: &RequestContext) -> Result<Fetched, ComponentError> {
        Ok(Fetched {
            scores: Vec::new(),
            placements: self.placements(ctx),
        })
    }
}

impl SpecialPostsSource {
    fn placements(&self, ctx: &RequestContext) -> Vec<Placement> {
        let Some(special) = ctx.feature::<FeedSpecialPosts>() else {
            return Vec::new();
        };
        let mut placed = Vec::new();
        let p = &self.0;
        if p.pinned {
            placed.extend(special.pinned.iter().map(|post| Placement {
                post: post.clone(),
                slot: Slot::Top,
                kind: PlacementKind::Pinned,
            }));
        }
        if p.rotating
            && let Some(post) = special.rotating_at(ctx.now_secs)
        {
            placed.push(Placement {
                post: post.to_string(),
                slot: Slot::Top,
                kind: PlacementKind::Rotating,
            });
        }
        if p.sponsored {
            placed.extend(special.sponsored.iter().map(|s| Placement {
                post: s.post.clone(),
                slot: Slot::At(s.slot.saturating_sub(1)),
                kind: PlacementKind::Sponsored,
            }));
        }
        placed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{NOW, ctx, graph, post};
    use feedmixer_store::{SpecialPosts, Sponsored};

    #[tokio::test]
    async fn places_what_the_feed_set_and_the_flow_wants() {
        let g = graph(&[("u", &post("x", 1), 60)]);
        let mut c = ctx(&g, None);
        let all = SpecialPostsSource(SpecialPostsParams::default());
        assert!(all.placements(&c).is_empty(), "no special posts set");
        c.features.insert::<FeedSpecialPosts>(Arc::new(SpecialPosts {
            pinned: vec!["at://p/app.bsky.feed.post/1".into()],
            rotating: vec![
                "at://r/app.bsky.feed.post/1".into(),
                "at://r/app.bsky.feed.post/2".into(),
            ],
            rotate_every_minutes: 60,
            sponsored: vec![Sponsored {
                slot: 5,
                post: "at://s/app.bsky.feed.post/1".into(),
            }],
        }));
        let placed = all.fetch(&c).await.unwrap().placements;
        let expected_rotating = if (NOW / 3600).is_multiple_of(2) {
            "at://r/app.bsky.feed.post/1"
        } else {
            "at://r/app.bsky.feed.post/2"
        };
        assert_eq!(
            placed,
            vec![
                Placement {
                    post: "at://p/app.bsky.feed.post/1".into(),
                    slot: Slot::Top,
                    kind: PlacementKind::Pinned
                },
                Placement {
                    post: expected_rotating.into(),
                    slot: Slot::Top,
                    kind: PlacementKind::Rotating
                },
                Placement {
                    post: "at://s/app.bsky.feed.post/1".into(),
                    slot: Slot::At(4),
                    kind: PlacementKind::Sponsored
                },
            ]
        );
        let pins_only = SpecialPostsSource(SpecialPostsParams {
            pinned: true,
            rotating: false,
            sponsored: false,
        });
        assert_eq!(pins_only.placements(&c).len(), 1);
    }
}
