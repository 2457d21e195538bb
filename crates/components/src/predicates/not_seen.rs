//! `not_seen`: drops what the viewer already saw in a feed (interactionSeen
//! through sendInteractions).

use std::sync::Arc;

use feedmixer_flow::{FeatureKey, Kind, NoParams, Params, Predicate, Registration, register};

use super::feedback_set::NotIn;
use crate::features::viewer_feedback::ViewerFeedback;

pub const KIND: Kind<dyn Predicate> = Kind {
    name: "not_seen",
    description: "Drops posts the viewer has already seen (interactionSeen)",
    reads: &[FeatureKey::of::<ViewerFeedback>()],
    params: NoParams::docs,
    build: |table| {
        NoParams::from_table(table)?;
        Ok(Arc::new(NotIn(|feedback| &feedback.seen)))
    },
};

register!(Registration::Predicate(KIND));
