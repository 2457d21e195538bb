//! `author_blocklist`: drops posts by the listed accounts, for every viewer
//! (spam, bots, accounts a feed's operator keeps out).

use std::sync::Arc;

use async_trait::async_trait;
use feedmixer_atproto::is_did;
use feedmixer_flow::{
    Candidate, ComponentError, Kind, ParamError, Params, Predicate, Registration, RequestContext,
    params, register,
};
use feedmixer_graph::{LikeGraph, UserId};
use rustc_hash::FxHashSet;

pub const KIND: Kind<dyn Predicate> = Kind {
    name: "author_blocklist",
    description: "Drops posts whose author's DID is in `authors`",
    reads: &[],
    params: AuthorBlocklistParams::docs,
    build: |table| {
        Ok(Arc::new(AuthorBlocklist::new(
            AuthorBlocklistParams::from_table(table)?,
        )))
    },
};

register!(Registration::Predicate(KIND));

params! {
    /// Whose posts are dropped.
    pub struct AuthorBlocklistParams {
        /// DIDs of the authors whose posts are dropped (a handle is an error).
        authors: Vec<String> = Vec::new(), bounds "DIDs";
    }
    check(p) {
        match p.authors.iter().find(|did| !is_did(did)) {
            Some(bad) => Err(ParamError::new("authors", format!("{bad:?} is not a DID"))),
            None => Ok(()),
        }
    }
}

/// The DIDs, deduplicated once at build. Graph ids are per snapshot, so
/// each request matches them against its own graph, whichever way is
/// cheaper for it (see [`Predicate::keep`] below).
pub struct AuthorBlocklist {
    authors: FxHashSet<Box<str>>,
}

impl AuthorBlocklist {
    pub fn new(params: AuthorBlocklistParams) -> Self {
        AuthorBlocklist {
            authors: params
                .authors
                .into_iter()
                .map(String::into_boxed_str)
                .collect(),
        }
    }

    /// Resolves the list to graph ids (a DID not in the graph matches
    /// nothing), then one integer probe per candidate.
    fn keep_by_id(&self, graph: &LikeGraph, candidates: &[Candidate]) -> Vec<bool> {
        let blocked: FxHashSet<UserId> = self
            .authors
            .iter()
            .filter_map(|did| graph.user_id(did))
            .collect();
        if blocked.is_empty() {
            return vec![true; candidates.len()];
        }
        candidates
            .iter()
            .map(|c| !blocked.contains(&c.author))
            .collect()
    }

    /// Looks each candidate's author DID up in the list.
    fn keep_by_did(&self, graph: &LikeGraph, candidates: &[Candidate]) -> Vec<bool> {
        candidates
            .iter()
            .map(|c| !graph.with_user_did(c.author, |did| self.authors.contains(did)))
            .collect()
    }
}

#[async_trait]
impl Predicate for AuthorBlocklist {
    /// Either way costs one string hash and interner read per item of one
    /// side: resolving the list costs one per listed DID (then an integer
    /// probe per candidate), comparing DIDs one per candidate. So the
    /// shorter side is hashed: a short list (the usual case: tens of
    /// accounts against hundreds of candidates) is resolved, a long one
    /// (thousands of accounts) is probed. Caching the resolved ids per graph
    /// snapshot would save only the short list's few lookups, for a lock
    /// and snapshot tracking on every request.
    async fn keep(
        &self,
        ctx: &RequestContext,
        candidates: &[Candidate],
    ) -> Result<Vec<bool>, ComponentError> {
        Ok(if self.authors.is_empty() {
            vec![true; candidates.len()]
        } else if self.authors.len() <= candidates.len() {
            self.keep_by_id(&ctx.graph, candidates)
        } else {
            self.keep_by_did(&ctx.graph, candidates)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{candidate, ctx, graph, post};

    fn build(text: &str) -> Result<Arc<dyn Predicate>, ParamError> {
        (KIND.build)(toml::from_str(text).unwrap())
    }

    fn blocklist(authors: &[&str]) -> AuthorBlocklist {
        AuthorBlocklist::new(AuthorBlocklistParams {
            authors: authors.iter().map(|a| format!("did:plc:{a}")).collect(),
        })
    }

    #[test]
    fn params_are_dids() {
        assert!(build("").is_ok());
        assert!(build("authors = []").is_ok());
        assert!(build(r#"authors = ["did:plc:abc", "did:web:example.com"]"#).is_ok());
        for bad in [
            r#"authors = ["did:plc:abc", "alice.bsky.social"]"#,
            r#"authors = [""]"#,
            r#"authors = ["did:PLC:abc"]"#,
            r#"authors = "did:plc:abc""#,
        ] {
            let err = build(bad).err().unwrap();
            assert_eq!(err.field.as_deref(), Some("authors"), "{bad}: {err}");
        }
        // A type error names the element, as serde's path does.
        let err = build("authors = [1]").err().unwrap();
        assert_eq!(err.field.as_deref(), Some("authors[0]"));
        let err = build(r#"authors = ["did:plc:a", "bob"]"#).err().unwrap();
        assert_eq!(err.to_string(), r#"authors: "bob" is not a DID"#);
        let err = build(r#"author = ["did:plc:abc"]"#).err().unwrap();
        assert_eq!(err.field.as_deref(), Some("author"));
    }

    /// Posts x1, y1, x2, z1 (z liked, so it is in the graph, but has no
    /// post listed); `ghost` is not in the graph at all.
    #[tokio::test]
    async fn drops_listed_authors_only() {
        let (x1, y1, x2, z1) = (post("x", 1), post("y", 1), post("x", 2), post("z", 1));
        let g = graph(&[
            ("u", &x1, 60),
            ("u", &y1, 60),
            ("u", &x2, 60),
            ("z", &z1, 60),
        ]);
        let list: Vec<_> = [&x1, &y1, &x2]
            .iter()
            .map(|p| candidate(&g, p, &[1.0]))
            .collect();
        let cases: [(&[&str], [bool; 3]); 6] = [
            (&[], [true, true, true]),
            (&["x"], [false, true, false]),
            (&["y", "x"], [false, false, false]),
            (&["ghost"], [true, true, true]),
            (&["z", "ghost", "u"], [true, true, true]),
            (&["x", "ghost", "z", "u"], [false, true, false]),
        ];
        for (authors, expected) in cases {
            let predicate = blocklist(authors);
            assert_eq!(predicate.keep_by_id(&g, &list), expected, "{authors:?}");
            assert_eq!(predicate.keep_by_did(&g, &list), expected, "{authors:?}");
            for viewer in [None, Some("u")] {
                let keep = predicate.keep(&ctx(&g, viewer), &list).await.unwrap();
                assert_eq!(keep, expected, "{authors:?}, viewer {viewer:?}");
            }
        }
        let keep = blocklist(&["x"]).keep(&ctx(&g, None), &[]).await.unwrap();
        assert!(keep.is_empty());
    }

    #[tokio::test]
    async fn built_from_a_flow_table() {
        let (x1, y1) = (post("x", 1), post("y", 1));
        let g = graph(&[("u", &x1, 60), ("u", &y1, 60)]);
        let list = [candidate(&g, &x1, &[1.0]), candidate(&g, &y1, &[1.0])];
        let predicate = build(r#"authors = ["did:plc:y", "did:plc:y"]"#).unwrap();
        let keep = predicate.keep(&ctx(&g, None), &list).await.unwrap();
        assert_eq!(keep, vec![true, false]);
    }
}
