//! A viewer's interactions (sendInteractions), resolved against the graph
//! snapshot a request runs on, for components that filter what was seen
//! and follow "show less / show more".

use feedmixer_atproto::{AtUri, InteractionEvent};
use feedmixer_graph::{LikeGraph, PostId, UserId};
use feedmixer_store::Interaction;
use rustc_hash::{FxHashMap, FxHashSet};

/// What the viewer told feeds, in graph ids. Posts and authors the graph
/// does not know cannot be candidates, so they are left out.
#[derive(Debug, Default)]
pub struct Feedback {
    /// Posts the viewer has seen in a feed.
    pub seen: FxHashSet<PostId>,
    /// Posts the viewer asked to see less of.
    pub less_posts: FxHashSet<PostId>,
    /// Authors of those posts, with how many times.
    pub less_authors: FxHashMap<UserId, u32>,
    /// Posts the viewer asked to see more of, newest first.
    pub more_posts: Vec<PostId>,
    /// Authors of those posts, with how many times.
    pub more_authors: FxHashMap<UserId, u32>,
    /// How many interactions this was built from (for explain and stats).
    pub interactions: usize,
}

impl Feedback {
    /// Resolves `history` (newest first) against `graph`.
    pub fn new(graph: &LikeGraph, history: &[Interaction]) -> Self {
        let mut feedback = Feedback {
            interactions: history.len(),
            ..Feedback::default()
        };
        for interaction in history {
            let post = graph.post_id(&interaction.item);
            match interaction.event {
                InteractionEvent::Seen => feedback.seen.extend(post),
                InteractionEvent::RequestLess => {
                    feedback.less_posts.extend(post);
                    if let Some(author) = author(graph, post, &interaction.item) {
                        *feedback.less_authors.entry(author).or_default() += 1;
                    }
                }
                InteractionEvent::RequestMore => {
                    feedback.more_posts.extend(post);
                    if let Some(author) = author(graph, post, &interaction.item) {
                        *feedback.more_authors.entry(author).or_default() += 1;
                    }
                }
                _ => {}
            }
        }
        feedback
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
            && self.less_posts.is_empty()
            && self.more_posts.is_empty()
            && self.less_authors.is_empty()
            && self.more_authors.is_empty()
    }
}

/// The author of a post: from the graph when it has the post, else from
/// the URI (an author whose posts nobody liked yet may still be known).
fn author(graph: &LikeGraph, post: Option<PostId>, uri: &str) -> Option<UserId> {
    match post {
        Some(post) => Some(graph.post_author(post)),
        None => graph.user_id(AtUri::parse(uri).ok()?.did),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use feedmixer_graph::GraphBuilder;

    fn at(time_us: u64, event: InteractionEvent, item: &str) -> Interaction {
        Interaction {
            item: item.into(),
            event,
            time_us,
        }
    }

    #[test]
    fn resolves_posts_and_authors_the_graph_knows() {
        let a1 = "at://did:plc:a/app.bsky.feed.post/1";
        let a2 = "at://did:plc:a/app.bsky.feed.post/2";
        let b1 = "at://did:plc:b/app.bsky.feed.post/1";
        let unknown = "at://did:plc:nobody/app.bsky.feed.post/1";
        let mut builder = GraphBuilder::new(0);
        for post in [a1, a2, b1] {
            builder.add_like("did:plc:u", post, 10);
        }
        let graph = builder.build();
        let history = [
            at(5, InteractionEvent::Seen, a1),
            at(4, InteractionEvent::RequestLess, a2),
            at(3, InteractionEvent::RequestMore, b1),
            at(2, InteractionEvent::RequestLess, unknown),
            at(1, InteractionEvent::Like, a1),
        ];
        let feedback = Feedback::new(&graph, &history);
        let id = |uri| graph.post_id(uri).unwrap();
        assert_eq!(feedback.seen, [id(a1)].into_iter().collect());
        assert_eq!(feedback.less_posts, [id(a2)].into_iter().collect());
        assert_eq!(feedback.less_authors.len(), 1);
        assert_eq!(feedback.less_authors[&graph.post_author(id(a2))], 1);
        assert_eq!(feedback.more_posts, vec![id(b1)]);
        assert_eq!(feedback.more_authors[&graph.post_author(id(b1))], 1);
        assert_eq!(feedback.interactions, 5);
    }
}
