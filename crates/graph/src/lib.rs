//! feedmixer-graph
