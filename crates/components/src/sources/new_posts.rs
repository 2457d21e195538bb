//! `new_posts`: the newest posts of the post index, or of the feed's pool,
//! newest first — a chronological feed when it is a flow's only source.
//!
//! Posts come in the order every replica shares (indexed time, ties by
//! URI) and, on a later page, only from before the request's position
//! ([`RequestContext::after`]), so paging through them never repeats or
//! skips a post while new ones arrive. The score is the rank: the newest
//! post scores `max_results`, the next one less, so a ranker keeps the
//! order.

use std::sync::Arc;

use async_trait::async_trait;
use feedmixer_flow::{
    CandidateSource, ComponentError, FeatureKey, Fetched, Kind, Params, Registration,
    RequestContext, params, register,
};
use feedmixer_graph::{LangId, LikeGraph, PostId};

use crate::features::feed_pool::FeedPool;
use crate::langs;

pub const KIND: Kind<dyn CandidateSource> = Kind {
    name: "new_posts",
    description: "The newest posts of the index (or of the feed's pool), newest first",
    reads: &[FeatureKey::of::<FeedPool>()],
    params: NewPostsParams::docs,
    build: |table| Ok(Arc::new(NewPosts(NewPostsParams::from_table(table)?))),
};

register!(Registration::Source(KIND));

params! {
    /// Which new posts, and how many.
    pub struct NewPostsParams {
        /// Only the feed's pool (false: every post of the index).
        from_pool: bool = false;
        /// BCP-47 language tags; when given, a post needs one of their
        /// primary subtags among its languages.
        langs: Vec<String> = Vec::new(), bounds "tags like \"nb\" or \"pt-BR\"";
        /// Leave replies out.
        exclude_replies: bool = false;
        /// Only posts with images or a video.
        require_media: bool = false;
        /// Only posts indexed in the last this many hours; 0: the whole
        /// retention window.
        max_age_hours: f64 = 0.0, in 0.0..=8760.0;
        /// Candidates returned.
        max_results: usize = 1000, in 1..=10_000;
    }
    check(p) {
        langs::check("langs", &p.langs)
    }
}

pub struct NewPosts(NewPostsParams);

/// What a post must be to be proposed.
struct Filter {
    langs: Option<Vec<LangId>>,
    exclude_replies: bool,
    require_media: bool,
    oldest_us: u64,
}

impl Filter {
    fn admits(&self, graph: &LikeGraph, post: PostId) -> bool {
        let info = graph.post_info(post);
        info.is_indexed()
            && graph.is_servable(post)
            && info.indexed_us() >= self.oldest_us
            && (!self.exclude_replies || !info.is_reply())
            && (!self.require_media || info.has_media())
            && self.langs.as_ref().is_none_or(|langs| info.in_any(langs))
    }
}

#[async_trait]
impl CandidateSource for NewPosts {
    async fn fetch(&self, ctx: &RequestContext) -> Result<Fetched, ComponentError> {
        let graph = &ctx.graph;
        let p = &self.0;
        let filter = Filter {
            langs: (!p.langs.is_empty()).then(|| langs::ids(graph, &p.langs)),
            exclude_replies: p.exclude_replies,
            require_media: p.require_media,
            oldest_us: if p.max_age_hours > 0.0 {
                let age_us = (p.max_age_hours * 3600.0 * 1e6) as u64;
                (u64::from(ctx.now_secs) * 1_000_000).saturating_sub(age_us)
            } else {
                0
            },
        };
        let newest: Vec<PostId> = if p.from_pool {
            let Some(pool) = ctx.feature::<FeedPool>() else {
                return Ok(Fetched::default());
            };
            let mut posts: Vec<(u64, &str, PostId)> = pool
                .iter()
                .filter_map(|uri| graph.post_id(uri).map(|post| (uri, post)))
                .filter(|&(_, post)| filter.admits(graph, post))
                .map(|(uri, post)| (graph.post_info(post).indexed_us(), uri, post))
                .filter(|&(at, uri, _)| {
                    ctx.after
                        .as_ref()
                        .is_none_or(|after| (at, uri) < (after.indexed_us, after.uri.as_str()))
                })
                .collect();
            posts.sort_unstable_by(|a, b| (b.0, b.1).cmp(&(a.0, a.1)));
            posts
                .into_iter()
                .take(p.max_results)
                .map(|(_, _, post)| post)
                .collect()
        } else {
            let order = graph.chronological();
            let end = ctx.after.as_ref().map_or(order.len(), |after| {
                graph.chronological_before(after.indexed_us, &after.uri)
            });
            order[..end]
                .iter()
                .rev()
                .take_while(|&&post| graph.post_info(post).indexed_us() >= filter.oldest_us)
                .filter(|&&post| filter.admits(graph, post))
                .take(p.max_results)
                .copied()
                .collect()
        };
        let n = newest.len();
        Ok(newest
            .into_iter()
            .enumerate()
            .map(|(rank, post)| (post, (n - rank) as f32))
            .collect::<Vec<_>>()
            .into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::feed_pool::Pool;
    use crate::testing::{ctx, post, post_graph};
    use feedmixer_flow::Position;

    fn source(toml: &str) -> NewPosts {
        NewPosts(NewPostsParams::from_table(toml::from_str(toml).unwrap()).unwrap())
    }

    async fn fetched(source: &NewPosts, ctx: &RequestContext) -> Vec<String> {
        let found = source.fetch(ctx).await.unwrap().scores;
        assert!(found.windows(2).all(|w| w[0].1 > w[1].1), "scores fall with age");
        found
            .iter()
            .map(|(p, _)| ctx.graph.post_uri(*p))
            .collect()
    }

    #[tokio::test]
    async fn newest_first_filtered_and_from_a_position() {
        // (author, n, age s, langs, reply, media)
        let g = post_graph(&[
            ("a", 1, 500, &["nb"], false, false),
            ("a", 2, 400, &["en"], false, true),
            ("a", 3, 300, &["nn-NO"], true, false),
            ("a", 4, 200, &["se"], false, true),
            ("a", 5, 7200, &["nb"], false, false),
        ]);
        let c = ctx(&g, None);
        let all = fetched(&source(""), &c).await;
        assert_eq!(all, [post("a", 4), post("a", 3), post("a", 2), post("a", 1), post("a", 5)]);
        let norsk = source(r#"langs = ["nb", "nn", "se"]"#);
        assert_eq!(fetched(&norsk, &c).await, [post("a", 4), post("a", 3), post("a", 1), post("a", 5)]);
        let no_replies = source("exclude_replies = true\nrequire_media = true");
        assert_eq!(fetched(&no_replies, &c).await, [post("a", 4), post("a", 2)]);
        let recent = source("max_age_hours = 1.0");
        assert_eq!(fetched(&recent, &c).await.len(), 4);
        assert_eq!(fetched(&source("max_results = 2"), &c).await, [post("a", 4), post("a", 3)]);

        // The next page starts strictly after the last post served.
        let mut next = ctx(&g, None);
        let last = g.post_id(&post("a", 3)).unwrap();
        next.after = Some(Position {
            indexed_us: g.post_info(last).indexed_us(),
            uri: post("a", 3),
        });
        assert_eq!(fetched(&norsk, &next).await, [post("a", 1), post("a", 5)]);
    }

    #[tokio::test]
    async fn from_the_pool_in_the_same_order() {
        let g = post_graph(&[
            ("a", 1, 500, &["nb"], false, false),
            ("a", 2, 400, &["nb"], false, false),
            ("a", 3, 300, &["nb"], false, false),
        ]);
        let pooled = source("from_pool = true");
        let mut c = ctx(&g, None);
        assert!(fetched(&pooled, &c).await.is_empty(), "no pool, nothing");
        c.features.insert::<FeedPool>(Arc::new(Pool::new([
            post("a", 1),
            post("a", 3),
            post("z", 9),
        ])));
        assert_eq!(fetched(&pooled, &c).await, [post("a", 3), post("a", 1)]);
        let at = g.post_info(g.post_id(&post("a", 3)).unwrap()).indexed_us();
        c.after = Some(Position {
            indexed_us: at,
            uri: post("a", 3),
        });
        assert_eq!(fetched(&pooled, &c).await, [post("a", 1)]);
    }

    #[test]
    fn params_are_checked() {
        assert!((KIND.build)(toml::from_str(r#"langs = ["x1"]"#).unwrap()).is_err());
        assert!((KIND.build)(toml::from_str("max_results = 0").unwrap()).is_err());
        assert!((KIND.build)(toml::from_str("max_age_hours = -1.0").unwrap()).is_err());
    }
}
