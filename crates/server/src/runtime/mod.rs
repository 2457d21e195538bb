//! What runs beside the requests: the state they share ([`AppState`]),
//! the graph's start-up load ([`bootstrap`]) and refresher ([`refresh`]),
//! the store's pruner ([`prune`]) and the hot reload of flows and feeds
//! ([`reload`]).

pub mod bootstrap;
pub mod prune;
pub mod refresh;
pub mod reload;
pub mod state;

pub use state::AppState;
