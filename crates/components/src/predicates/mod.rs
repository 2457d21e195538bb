//! Predicates: keep or drop each candidate.

mod already_liked;

use feedmixer_flow::Registry;

pub(crate) fn register(registry: &mut Registry) {
    registry.predicates.add(already_liked::KIND);
}
