//! Candidate sources.

mod trending;
mod walk;

use feedmixer_flow::Registry;

pub(crate) fn register(registry: &mut Registry) {
    registry.sources.add(walk::KIND);
    registry.sources.add(trending::KIND);
}
