//! Kinds and features are found by listing their folders (`automod`), which
//! the compiler does not track: rebuild the crate when a folder gains or
//! loses a file, so a new kind's file is all it takes.

fn main() {
    for dir in [
        "src/sources",
        "src/predicates",
        "src/rankers",
        "src/transforms",
        "src/features",
    ] {
        println!("cargo::rerun-if-changed={dir}");
    }
}
