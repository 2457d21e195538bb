//! feedmixer-server
