//! `max_post_age`: drops posts older than `max_age_hours`, so a feed about
//! "now" does not serve last week's posts that are still collecting likes.

use std::sync::Arc;

use async_trait::async_trait;
use feedmixer_flow::{
    Candidate, ComponentError, Kind, Params, Predicate, Registration, RequestContext, params,
    register,
};
use feedmixer_graph::post_created_secs;

use crate::hours_to_secs;

pub const KIND: Kind<dyn Predicate> = Kind {
    name: "max_post_age",
    description: "Drops posts created more than `max_age_hours` ago",
    reads: &[],
    params: MaxPostAgeParams::docs,
    build: |table| {
        Ok(Arc::new(MaxPostAge::new(MaxPostAgeParams::from_table(
            table,
        )?)))
    },
};

register!(Registration::Predicate(KIND));

params! {
    /// How old a post may be.
    pub struct MaxPostAgeParams {
        /// Posts older than this are dropped, hours.
        max_age_hours: f64 = 72.0, in 0.1..=8760.0;
    }
}

/// Keeps a post when `now - created <= max_age`, with `created` from
/// [`post_created_secs`] (its TID key's time, never later than its first
/// like). A post created after now has age 0.
pub struct MaxPostAge {
    max_age_secs: u32,
}

impl MaxPostAge {
    pub fn new(params: MaxPostAgeParams) -> Self {
        MaxPostAge {
            max_age_secs: hours_to_secs(params.max_age_hours),
        }
    }
}

#[async_trait]
impl Predicate for MaxPostAge {
    async fn keep(
        &self,
        ctx: &RequestContext,
        candidates: &[Candidate],
    ) -> Result<Vec<bool>, ComponentError> {
        let graph = &ctx.graph;
        let oldest = ctx.now_secs.saturating_sub(self.max_age_secs);
        Ok(candidates
            .iter()
            .map(|c| {
                // A post exists before its first like: a first like older
                // than the limit settles it without decoding the key.
                let first_like_too_old = graph
                    .likers_of(c.post)
                    .first()
                    .is_some_and(|e| e.ts < oldest);
                !first_like_too_old && post_created_secs(graph, c.post) >= oldest
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use feedmixer_flow::ParamError;
    use crate::testing::{NOW, candidate, ctx, graph, post};
    use feedmixer_atproto::Tid;

    const HOUR: u32 = 3600;

    fn build(text: &str) -> Result<Arc<dyn Predicate>, ParamError> {
        (KIND.build)(toml::from_str(text).unwrap())
    }

    /// A post of `y` whose key is a TID of `secs`.
    fn tid_post(secs: u32) -> String {
        let tid = Tid::new(u64::from(secs) * 1_000_000, 7);
        format!("at://did:plc:y/app.bsky.feed.post/{tid}")
    }

    #[test]
    fn params_have_bounds() {
        assert!(build("").is_ok());
        assert!(build("max_age_hours = 0.1").is_ok());
        assert!(build("max_age_hours = 8760.0").is_ok());
        for bad in ["max_age_hours = 0.09", "max_age_hours = 8760.5"] {
            let err = build(bad).err().unwrap();
            assert_eq!(err.field.as_deref(), Some("max_age_hours"), "{bad}");
        }
        let err = build("max_age = 3.0").err().unwrap();
        assert_eq!(err.field.as_deref(), Some("max_age"));
    }

    #[tokio::test]
    async fn drops_posts_past_the_limit_and_keeps_those_at_it() {
        // Keys not TIDs: created = first like.
        let (at_limit, past_limit, fresh) = (post("x", 1), post("x", 2), post("x", 3));
        // TID keys: created = the key's time, however recent the likes.
        let (tid_at, tid_past) = (tid_post(NOW - 72 * HOUR), tid_post(NOW - 72 * HOUR - 1));
        // A key from the future: created = first like, 80 h ago.
        let tid_future = tid_post(NOW + HOUR);
        let g = graph(&[
            ("u1", &at_limit, 72 * HOUR),
            ("u2", &at_limit, 60),
            ("u1", &past_limit, 72 * HOUR + 1),
            ("u2", &past_limit, 60),
            ("u1", &fresh, 60),
            ("u1", &tid_at, 60),
            ("u1", &tid_past, 60),
            ("u1", &tid_future, 80 * HOUR),
        ]);
        let list: Vec<_> = [
            &at_limit,
            &past_limit,
            &fresh,
            &tid_at,
            &tid_past,
            &tid_future,
        ]
        .iter()
        .map(|p| candidate(&g, p, &[1.0]))
        .collect();
        let default = build("").unwrap();
        for viewer in [None, Some("u1")] {
            let keep = default.keep(&ctx(&g, viewer), &list).await.unwrap();
            assert_eq!(keep, vec![true, false, true, true, false, false]);
        }
        let wide = build("max_age_hours = 80.0").unwrap();
        let keep = wide.keep(&ctx(&g, None), &list).await.unwrap();
        assert_eq!(keep, vec![true; 6]);
        let narrow = build("max_age_hours = 0.1").unwrap();
        let keep = narrow.keep(&ctx(&g, None), &list).await.unwrap();
        assert_eq!(keep, vec![false, false, true, false, false, false]);
        assert!(default.keep(&ctx(&g, None), &[]).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_post_from_the_future_has_age_zero() {
        // Liked one hour "ahead" of the request's clock (clock skew).
        let p = post("x", 1);
        let g = graph(&[("u1", &p, 0)]);
        let list = [candidate(&g, &p, &[1.0])];
        let mut c = ctx(&g, None);
        c.now_secs = NOW - HOUR;
        let keep = build("max_age_hours = 0.1")
            .unwrap()
            .keep(&c, &list)
            .await
            .unwrap();
        assert_eq!(keep, vec![true]);
    }
}
