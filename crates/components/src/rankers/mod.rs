//! Rankers: combine source scores into one order. One file per kind, each registering
//! itself.

automod::dir!("src/rankers");
