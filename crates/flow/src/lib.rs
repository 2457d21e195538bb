//! feedmixer-flow
