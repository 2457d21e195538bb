//! feedmixer-store
