//! Rankers: combine source scores into one order.

mod weighted_sum;

use feedmixer_flow::Registry;

pub(crate) fn register(registry: &mut Registry) {
    registry.rankers.add(weighted_sum::KIND);
}
