//! Predicates: keep or drop each candidate. One file per kind, each registering
//! itself.

automod::dir!("src/predicates");
