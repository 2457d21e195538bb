//! Transforms: reshape a ranked list.

mod interaction_feedback;
mod max_per_author;

use feedmixer_flow::Registry;

pub(crate) fn register(registry: &mut Registry) {
    registry.transforms.add(max_per_author::KIND);
    registry.transforms.add(interaction_feedback::KIND);
}
