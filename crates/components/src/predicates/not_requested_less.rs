//! `not_requested_less`: drops what the viewer asked to see less of
//! (requestLess through sendInteractions); `interaction_feedback` demotes
//! the author too.

use std::sync::Arc;

use feedmixer_flow::{FeatureKey, Kind, NoParams, Params, Predicate, Registration, register};

use super::feedback_set::NotIn;
use crate::features::viewer_feedback::ViewerFeedback;

pub const KIND: Kind<dyn Predicate> = Kind {
    name: "not_requested_less",
    description: "Drops posts the viewer asked to see less of (requestLess)",
    reads: &[FeatureKey::of::<ViewerFeedback>()],
    params: NoParams::docs,
    build: |table| {
        NoParams::from_table(table)?;
        Ok(Arc::new(NotIn(|feedback| &feedback.less_posts)))
    },
};

register!(Registration::Predicate(KIND));
