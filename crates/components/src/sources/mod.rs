//! Candidate sources: one file per kind, each registering itself (and
//! `shared_list`, the cache the viewer-independent ones share).

automod::dir!("src/sources");

pub use shared_list::warm_shared_lists;

#[cfg(test)]
mod testing {
    use feedmixer_flow::SourceScores;
    use feedmixer_graph::LikeGraph;

    /// Asserts a source's list is `expected` (post URI, score) in that
    /// order, scores to 1e-6 relative.
    #[track_caller]
    pub(crate) fn assert_list(
        graph: &LikeGraph,
        found: &SourceScores,
        expected: &[(impl AsRef<str>, f64)],
    ) {
        let got: Vec<String> = found.iter().map(|&(p, _)| graph.post_uri(p)).collect();
        let want: Vec<&str> = expected.iter().map(|(uri, _)| uri.as_ref()).collect();
        assert_eq!(got, want, "order: got {found:?}");
        for (&(p, score), (_, exact)) in found.iter().zip(expected) {
            let err = (f64::from(score) - exact).abs() / exact.abs();
            assert!(
                err <= 1e-6,
                "{}: {score} vs {exact} (rel err {err:e})",
                graph.post_uri(p)
            );
        }
    }

    /// Asserts `list` serves its first list for `refresh_secs`, then that
    /// list once more, stale, while it makes the next one, which follows
    /// (within a bounded wait).
    pub(crate) async fn assert_refreshes_after(
        list: &std::sync::Arc<super::shared_list::SharedList>,
        graph: &std::sync::Arc<LikeGraph>,
        refresh_secs: u32,
    ) {
        use std::sync::Arc;
        let mut c = crate::testing::ctx(graph, None);
        let first = list.get(&c).await.unwrap();
        c.now_secs += refresh_secs - 1;
        assert!(Arc::ptr_eq(&first, &list.get(&c).await.unwrap()), "fresh");
        c.now_secs += 1;
        assert!(
            Arc::ptr_eq(&first, &list.get(&c).await.unwrap()),
            "stale, served"
        );
        crate::testing::eventually("a new list after the stale one", || async {
            !Arc::ptr_eq(&first, &list.get(&c).await.unwrap())
        })
        .await;
    }
}
