//! Every metric this crate emits, named in one place. Labels are bounded:
//! `method` (`plc`, `web`), `outcome` and `result`, never a DID.

/// Counter of DID document fetches (cache misses and refreshes), labelled
/// `method` (`plc`, `web`) and `outcome` (`ok`, `not_found`, `invalid`,
/// `unavailable`).
pub const DID_RESOLUTIONS: &str = "feedmixer_did_resolutions_total";
/// Histogram of DID document fetch durations in seconds, labelled `method`.
pub const DID_RESOLUTION_DURATION: &str = "feedmixer_did_resolution_duration_seconds";
/// Counter of DID document cache lookups, labelled `result` (`hit`, `miss`).
pub const DID_CACHE_LOOKUPS: &str = "feedmixer_did_cache_lookups_total";

/// Every metric name this crate emits.
pub const ALL: &[&str] = &[DID_RESOLUTIONS, DID_RESOLUTION_DURATION, DID_CACHE_LOOKUPS];

/// Registers units and help texts for [`ALL`] with the installed
/// recorder. Call once, after installing it; emitting works without.
pub fn describe_metrics() {
    metrics::describe_counter!(
        DID_RESOLUTIONS,
        "DID document fetches by DID method and outcome"
    );
    metrics::describe_histogram!(
        DID_RESOLUTION_DURATION,
        metrics::Unit::Seconds,
        "Duration of DID document fetches by DID method"
    );
    metrics::describe_counter!(
        DID_CACHE_LOOKUPS,
        "DID document cache lookups by result (hit, miss)"
    );
}
