//! Transforms: reshape a ranked list. One file per kind, each registering
//! itself.

automod::dir!("src/transforms");
