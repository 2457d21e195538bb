//! Every metric the store crate emits, named in one place: how the store
//! looks from the request path ([`crate::StoreHealth`]). Labels are
//! bounded: `op` is a name the caller gives, `outcome` one of
//! [`OUTCOMES`].

/// 1 while the store answers, 0 while it cannot be reached.
pub const STORE_UP: &str = "feedmixer_store_up";
/// Store calls a request went on without, by `op` and `outcome`.
pub const STORE_ERRORS: &str = "feedmixer_store_request_errors_total";

/// Values of the `outcome` label of [`STORE_ERRORS`]: the call failed,
/// timed out, or was `skipped` because the store was known to be down.
pub const OUTCOMES: [&str; 3] = ["error", "timeout", "skipped"];

/// Every metric name this crate emits.
pub const ALL: &[&str] = &[STORE_UP, STORE_ERRORS];
