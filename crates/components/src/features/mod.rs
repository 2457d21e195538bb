//! Features: the per-request data components read, one file each with
//! its model, its feature key and the hydrator that loads it (each
//! registering itself).

automod::dir!(pub "src/features");
