//! feedmixer-demo
