//! `language`: keeps posts in one of the given languages — any of a post's
//! languages whose primary subtag is listed (`nb` keeps `nb-NO`). Posts the
//! post index does not hold have no language and are dropped.

use std::sync::Arc;

use async_trait::async_trait;
use feedmixer_flow::{
    Candidate, ComponentError, Kind, Params, Predicate, Registration, RequestContext, params,
    register,
};

use crate::langs;

pub const KIND: Kind<dyn Predicate> = Kind {
    name: "language",
    description: "Keeps posts in one of `langs` (by primary subtag)",
    reads: &[],
    params: LanguageParams::docs,
    build: |table| Ok(Arc::new(Language(LanguageParams::from_table(table)?))),
};

register!(Registration::Predicate(KIND));

params! {
    /// Which languages stay.
    pub struct LanguageParams {
        /// BCP-47 language tags; a post stays when one of its languages has
        /// one of their primary subtags.
        langs: Vec<String> = Vec::new(), bounds "at least one tag, each like \"nb\" or \"pt-BR\"";
    }
    check(p) {
        if p.langs.is_empty() {
            return Err(feedmixer_flow::ParamError::new("langs", "name at least one language"));
        }
        langs::check("langs", &p.langs)
    }
}

pub struct Language(LanguageParams);

#[async_trait]
impl Predicate for Language {
    async fn keep(
        &self,
        ctx: &RequestContext,
        candidates: &[Candidate],
    ) -> Result<Vec<bool>, ComponentError> {
        let wanted = langs::ids(&ctx.graph, &self.0.langs);
        Ok(candidates
            .iter()
            .map(|c| ctx.graph.post_info(c.post).in_any(&wanted))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{candidate, ctx, post, post_graph};

    #[tokio::test]
    async fn keeps_posts_in_the_languages_by_primary_subtag() {
        let g = post_graph(&[
            ("a", 1, 60, &["nb-NO"], false, false),
            ("a", 2, 60, &["en", "se"], false, false),
            ("a", 3, 60, &["en"], false, false),
            ("a", 4, 60, &[], false, false),
        ]);
        let table = toml::from_str(r#"langs = ["nb", "SE"]"#).unwrap();
        let language = Language(LanguageParams::from_table(table).unwrap());
        let candidates: Vec<_> = (1..=4).map(|n| candidate(&g, &post("a", n), &[1.0])).collect();
        let kept = language.keep(&ctx(&g, None), &candidates).await.unwrap();
        assert_eq!(kept, [true, true, false, false]);
    }

    #[test]
    fn needs_valid_languages() {
        assert!((KIND.build)(toml::Table::new()).is_err());
        assert!((KIND.build)(toml::from_str(r#"langs = ["n0"]"#).unwrap()).is_err());
        assert!((KIND.build)(toml::from_str(r#"langs = ["nn"]"#).unwrap()).is_ok());
    }
}
