//! The flow parser never panics, whatever the file holds.

mod common;

use std::path::Path;

use feedmixer_flow::spec::FlowDef;
use proptest::prelude::*;

const VALID: &str =
    "[[sources]]\nid = \"a\"\nkind = \"fixed\"\nposts = [[1, 1.0]]\n\n[ranker]\nkind = \"sum\"\n";

proptest! {
    #[test]
    fn arbitrary_text_is_parsed_or_refused(text in "\\PC{0,200}") {
        let _ = FlowDef::parse("p", Path::new("p.toml"), &text, &common::registry());
    }

    #[test]
    fn mutated_flows_are_parsed_or_refused_with_a_line(at in 0..VALID.len(), insert in "[a-z\\[\\]=\"0-9 \n.,-]{0,12}") {
        let mut text = VALID.to_string();
        let at = (0..=at).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
        text.insert_str(at, &insert);
        if let Err(errors) = FlowDef::parse("p", Path::new("p.toml"), &text, &common::registry()) {
            prop_assert!(!errors.is_empty());
            let lines = text.lines().count().max(1);
            for e in errors {
                prop_assert!(e.line <= lines + 1, "{} beyond {} lines", e, lines);
            }
        }
    }
}
