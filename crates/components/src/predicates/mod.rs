//! Predicates: keep or drop each candidate.

mod already_liked;
mod author_blocklist;
mod feedback;
mod in_pool;
mod max_post_age;
mod min_likes;

use feedmixer_flow::Registry;

pub(crate) fn register(registry: &mut Registry) {
    registry.predicates.add(already_liked::KIND);
    registry.predicates.add(max_post_age::KIND);
    registry.predicates.add(min_likes::KIND);
    registry.predicates.add(author_blocklist::KIND);
    registry.predicates.add(in_pool::KIND);
    registry.predicates.add(feedback::NOT_SEEN);
    registry.predicates.add(feedback::NOT_REQUESTED_LESS);
}
