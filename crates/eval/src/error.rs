//! Why an evaluation cannot run.

/// An evaluation that cannot run, and why, in words for the operator.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EvalError {
    #[error("the like log holds no likes: nothing to evaluate")]
    EmptyLog,
    #[error("the split quantile must lie strictly between 0 and 1, got {0}")]
    Quantile(f64),
    #[error(
        "no user has {holdout} held-out likes after the split (of posts known before it) and \
         likes before it: {reason}"
    )]
    NoUsers { holdout: usize, reason: String },
    #[error("--users must be at least 1")]
    NoSample,
    #[error(
        "--holdout ({}), --min-holdout ({}) and --min-history ({}) must be at least 1, and \
         --min-holdout at most --holdout",
        .0.holdout, .0.min_holdout, .0.min_history
    )]
    Sizes(crate::split::Rules),
    #[error("unknown feed {name:?} (feeds: {known})")]
    UnknownFeed { name: String, known: String },
    #[error("unknown preset {name:?} (presets: {known})")]
    UnknownPreset { name: String, known: String },
    #[error("feed {feed:?} with preset {preset:?}: {reason}")]
    Flow {
        feed: String,
        preset: String,
        reason: String,
    },
}
