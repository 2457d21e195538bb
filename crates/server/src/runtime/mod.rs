//! What runs beside the requests: the state they share ([`AppState`]),
//! the graph's start-up load ([`bootstrap`]) and refresher ([`refresh`]),
//! the store's pruner ([`prune`]), the hot reload of flows and feeds
//! ([`reload`]), the in-process mirror of what operators set per feed
//! ([`feed_data`]) and the feed rules judged at ingest ([`post_routing`]).

pub mod bootstrap;
pub mod feed_data;
pub mod post_routing;
pub mod prune;
pub mod refresh;
pub mod reload;
pub mod state;
pub mod sync;

pub use state::AppState;
