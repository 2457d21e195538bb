//! Language params as components take them: BCP-47 tags, matched by their
//! primary subtag (`nb` matches `nb-NO`), as a graph's language ids.

use feedmixer_atproto::is_language_tag;
use feedmixer_flow::ParamError;
use feedmixer_graph::{LangId, LikeGraph};

/// Refuses a list with a tag whose primary subtag is not 2 to 8 ASCII
/// letters (BCP-47's shape), naming `field`.
pub(crate) fn check(field: &str, langs: &[String]) -> Result<(), ParamError> {
    match langs.iter().find(|tag| !is_language_tag(tag)) {
        Some(bad) => Err(ParamError::new(
            field,
            format!("{bad:?} is not a language tag (like \"nb\" or \"pt-BR\")"),
        )),
        None => Ok(()),
    }
}

/// The ids of `langs` in `graph`; languages no post of the graph has are
/// left out (so an empty answer for a non-empty list matches nothing).
pub(crate) fn ids(graph: &LikeGraph, langs: &[String]) -> Vec<LangId> {
    langs.iter().filter_map(|tag| graph.lang_id(tag)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_checked_by_their_primary_subtag() {
        assert!(check("langs", &["nb".into(), "pt-BR".into(), "SE".into()]).is_ok());
        for bad in ["", "n", "n3", "toolongtag", "-nb"] {
            assert!(check("langs", &[bad.into()]).is_err(), "{bad:?}");
        }
    }
}
