//! The post index beside the likes: what the graph knows of a post beyond
//! who liked it — when it was indexed, its languages, whether it replies or
//! shows media — and whether it may be served at all.
//!
//! One [`PostInfo`] per post id (16 bytes), languages as small ids into a
//! per-graph table of primary subtags, and the indexed posts in
//! chronological order for the sources that page through them. A deleted
//! post (or a post of a deleted account) keeps its id, marked removed, so
//! that a like or a pool entry naming it later is recognised; its likes are
//! dropped when the graph is built. A post of an inactive account is
//! marked hidden at every build, from the graph's set of inactive
//! accounts, and comes back when its account does.

use feedmixer_atproto::{MAX_LANGS, Post, primary_language};
use rustc_hash::FxHashMap;

use crate::graph::{LikeGraph, PostId};

/// A language in a graph's table: a primary subtag such as `nb`.
pub type LangId = u16;

/// No language (unused slot).
const NO_LANG: LangId = 0;

const REPLY: u8 = 1;
const MEDIA: u8 = 2;
const REMOVED: u8 = 4;
/// Its author is inactive (set at build from the inactive accounts).
const HIDDEN: u8 = 8;

/// What the index holds of one post.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PostInfo {
    /// When the post was indexed (its create's Jetstream `time_us`); 0 when
    /// the index does not hold it (only likes name it).
    indexed_us: u64,
    /// Up to three languages, `NO_LANG` in the unused slots.
    langs: [LangId; MAX_LANGS],
    flags: u8,
}

impl PostInfo {
    pub fn is_indexed(&self) -> bool {
        self.indexed_us != 0
    }

    /// When the post was indexed, microseconds; 0 when it is not.
    pub fn indexed_us(&self) -> u64 {
        self.indexed_us
    }

    /// Deleted, or its account was: never served, its likes not counted.
    pub fn is_removed(&self) -> bool {
        self.flags & REMOVED != 0
    }

    /// Its account is inactive: not served, its likes not counted, until
    /// the account is active again.
    pub fn is_hidden(&self) -> bool {
        self.flags & HIDDEN != 0
    }

    /// Neither removed nor hidden.
    pub fn is_servable(&self) -> bool {
        self.flags & (REMOVED | HIDDEN) == 0
    }

    pub fn is_reply(&self) -> bool {
        self.flags & REPLY != 0
    }

    pub fn has_media(&self) -> bool {
        self.flags & MEDIA != 0
    }

    /// The post's languages (primary subtags, as ids of the graph's table).
    pub fn langs(&self) -> impl Iterator<Item = LangId> + '_ {
        self.langs.iter().copied().filter(|&l| l != NO_LANG)
    }

    /// Whether any of the post's languages is one of `langs`.
    pub fn in_any(&self, langs: &[LangId]) -> bool {
        self.langs().any(|l| langs.contains(&l))
    }
}

/// The primary subtags a graph has seen, numbered from 1.
#[derive(Clone, Debug, Default)]
pub(crate) struct Languages {
    names: Vec<Box<str>>,
    ids: FxHashMap<Box<str>, LangId>,
}

impl Languages {
    /// The id of `tag`'s primary subtag, numbering it when new; `None`
    /// when the table is full (65,535 subtags: only hostile input gets
    /// there, and its posts just keep fewer languages).
    fn intern(&mut self, tag: &str) -> Option<LangId> {
        let subtag = primary_language(tag);
        if subtag.is_empty() {
            return None;
        }
        if let Some(&id) = self.ids.get(subtag.as_str()) {
            return Some(id);
        }
        let id = LangId::try_from(self.names.len() + 1).ok()?;
        self.names.push(subtag.clone().into_boxed_str());
        self.ids.insert(subtag.into_boxed_str(), id);
        Some(id)
    }

    fn find(&self, tag: &str) -> Option<LangId> {
        self.ids.get(primary_language(tag).as_str()).copied()
    }

    fn name(&self, id: LangId) -> Option<&str> {
        self.names
            .get(usize::from(id).checked_sub(1)?)
            .map(|n| &**n)
    }

    fn memory_bytes(&self) -> usize {
        self.names.iter().map(|n| n.len() * 2 + 32).sum()
    }
}

/// The index as a builder grows it.
#[derive(Clone, Debug, Default)]
pub(crate) struct PostIndex {
    /// One per interned post.
    pub(crate) info: Vec<PostInfo>,
    pub(crate) languages: Languages,
}

impl PostIndex {
    /// Holds `post` (indexed at `indexed_us`) as post `p`; a post indexed
    /// again (a rebuild, a re-create after a delete) is live again.
    pub(crate) fn set(&mut self, p: PostId, indexed_us: u64, post: &Post) {
        let mut langs = [NO_LANG; MAX_LANGS];
        let mut n = 0;
        for tag in &post.langs {
            if n == MAX_LANGS {
                break;
            }
            if let Some(id) = self.languages.intern(tag)
                && !langs[..n].contains(&id)
            {
                langs[n] = id;
                n += 1;
            }
        }
        let mut flags = 0;
        if post.is_reply() {
            flags |= REPLY;
        }
        if post.has_media() {
            flags |= MEDIA;
        }
        self.info[p as usize] = PostInfo {
            indexed_us: indexed_us.max(1),
            langs,
            flags,
        };
    }

    pub(crate) fn remove(&mut self, p: PostId) {
        self.info[p as usize].flags |= REMOVED;
    }

    /// Marks each post hidden exactly when `is_hidden(post)`.
    pub(crate) fn set_hidden(&mut self, is_hidden: impl Fn(PostId) -> bool) {
        for (p, info) in self.info.iter_mut().enumerate() {
            if is_hidden(p as PostId) {
                info.flags |= HIDDEN;
            } else {
                info.flags &= !HIDDEN;
            }
        }
    }

    /// Forgets the index entries of posts indexed before `window_start_us`
    /// (their likes may still keep them in the graph); removals stay.
    pub(crate) fn forget_before(&mut self, window_start_us: u64) {
        for info in &mut self.info {
            if info.is_indexed() && info.indexed_us < window_start_us {
                *info = PostInfo {
                    flags: info.flags & REMOVED,
                    ..PostInfo::default()
                };
            }
        }
    }
}

impl LikeGraph {
    /// What the index holds of `p`.
    #[inline]
    pub fn post_info(&self, p: PostId) -> PostInfo {
        self.post_index.info[p as usize]
    }

    /// Whether `p` may be served: not deleted, nor its account, and its
    /// account not inactive.
    #[inline]
    pub fn is_servable(&self, p: PostId) -> bool {
        self.post_index.info[p as usize].is_servable()
    }

    /// The id of a language tag's primary subtag (`nb-NO` → `nb`), when a
    /// post in the graph has it.
    pub fn lang_id(&self, tag: &str) -> Option<LangId> {
        self.post_index.languages.find(tag)
    }

    /// The primary subtag of a language id.
    pub fn lang_name(&self, id: LangId) -> Option<&str> {
        self.post_index.languages.name(id)
    }

    /// The indexed, servable posts of the window, oldest first (by indexed
    /// time, then URI): newest first is `.iter().rev()`, and "older than a
    /// position" a binary search with [`LikeGraph::chronological_before`].
    pub fn chronological(&self) -> &[PostId] {
        &self.chronological
    }

    /// How many posts of [`LikeGraph::chronological`] come before the
    /// position `(indexed_us, uri)`: the posts strictly older than it in
    /// the feed's order, which is the same on every replica.
    pub fn chronological_before(&self, indexed_us: u64, uri: &str) -> usize {
        self.chronological.partition_point(|&p| {
            let at = self.post_index.info[p as usize].indexed_us;
            at < indexed_us || (at == indexed_us && self.post_uri(p).as_str() < uri)
        })
    }

    /// Posts the index holds (in the window, servable).
    pub fn num_indexed_posts(&self) -> usize {
        self.chronological.len()
    }

    pub(crate) fn post_index_memory_bytes(&self) -> usize {
        self.post_index.info.capacity() * size_of::<PostInfo>()
            + self.chronological.capacity() * size_of::<PostId>()
            + self.post_index.languages.memory_bytes()
    }
}

/// The chronological order of the servable indexed posts: by indexed time,
/// ties by URI, so every replica agrees. With the order of the graph an
/// update starts from (`previous`) and the posts indexed since (`added`),
/// only those are sorted and merged in: an update costs a pass over the
/// order, not a sort of it.
pub(crate) fn chronological(
    index: &PostIndex,
    uris: &dyn Fn(PostId) -> String,
    window_start_us: u64,
    previous: Option<(&[PostId], &[PostId])>,
) -> Vec<PostId> {
    let servable = |p: PostId| {
        let info = &index.info[p as usize];
        info.is_indexed() && info.is_servable() && info.indexed_us >= window_start_us
    };
    let Some((previous, added)) = previous else {
        let posts: Vec<PostId> = (0..index.info.len() as PostId)
            .filter(|&p| servable(p))
            .collect();
        return sorted(index, uris, posts);
    };
    let again: rustc_hash::FxHashSet<PostId> = added.iter().copied().collect();
    let mut added: Vec<PostId> = again.iter().copied().filter(|&p| servable(p)).collect();
    added = sorted(index, uris, added);
    let before = |a: PostId, b: PostId| {
        let (at_a, at_b) = (
            index.info[a as usize].indexed_us,
            index.info[b as usize].indexed_us,
        );
        at_a < at_b || (at_a == at_b && uris(a) < uris(b))
    };
    let mut merged = Vec::with_capacity(previous.len() + added.len());
    let mut added = added.into_iter().peekable();
    for &p in previous {
        if again.contains(&p) || !servable(p) {
            continue;
        }
        while let Some(a) = added.next_if(|&a| before(a, p)) {
            merged.push(a);
        }
        merged.push(p);
    }
    merged.extend(added);
    merged
}

/// `posts` in the chronological order.
fn sorted(
    index: &PostIndex,
    uris: &dyn Fn(PostId) -> String,
    mut posts: Vec<PostId>,
) -> Vec<PostId> {
    posts.sort_by_key(|&p| index.info[p as usize].indexed_us);
    // Ties are rare (microseconds): order them by URI where they occur.
    let mut start = 0;
    while start < posts.len() {
        let at = index.info[posts[start] as usize].indexed_us;
        let end = start
            + posts[start..]
                .iter()
                .take_while(|&&p| index.info[p as usize].indexed_us == at)
                .count();
        if end - start > 1 {
            posts[start..end].sort_by_cached_key(|&p| uris(p));
        }
        start = end;
    }
    posts
}

#[cfg(test)]
mod tests {
    use feedmixer_atproto::{Embed, ReplyRefs};

    use super::*;
    use crate::{GraphBuilder, GraphChange};

    fn uri(author: &str, rkey: &str) -> String {
        format!("at://did:plc:{author}/app.bsky.feed.post/{rkey}")
    }

    fn post(langs: &[&str]) -> Post {
        Post {
            langs: langs.iter().map(|l| l.to_string()).collect(),
            ..Post::default()
        }
    }

    const S: u64 = 1_000_000;

    #[test]
    fn indexes_languages_replies_and_media() {
        let mut b = GraphBuilder::new(100);
        let reply = Post {
            reply: Some(ReplyRefs {
                root: uri("a", "r"),
                parent: uri("a", "r"),
            }),
            embed: Some(Embed::Images),
            ..post(&["nb-NO", "NB", "se", "en"])
        };
        assert!(b.add_post(&uri("a", "1"), 200 * S, &reply));
        assert!(b.add_post(&uri("b", "2"), 150 * S, &post(&["en"])));
        assert!(
            !b.add_post(&uri("b", "old"), 99 * S, &post(&["en"])),
            "before the window"
        );
        assert!(!b.add_post("at://did:plc:b/app.bsky.feed.like/3", 150 * S, &post(&[])));
        let g = b.build();
        let p = g.post_id(&uri("a", "1")).unwrap();
        let info = g.post_info(p);
        assert!(info.is_indexed() && info.is_reply() && info.has_media());
        assert_eq!(info.indexed_us(), 200 * S);
        let names: Vec<_> = info.langs().map(|l| g.lang_name(l).unwrap()).collect();
        assert_eq!(
            names,
            ["nb", "se", "en"],
            "primary subtags, once each, at most three"
        );
        assert_eq!(g.lang_id("nb-NO"), g.lang_id("nb"));
        assert!(info.in_any(&[g.lang_id("se").unwrap()]));
        assert_eq!(g.lang_id("fr"), None);
        let order: Vec<_> = g.chronological().iter().map(|&p| g.post_uri(p)).collect();
        assert_eq!(order, [uri("b", "2"), uri("a", "1")]);
        assert_eq!(g.num_indexed_posts(), 2);
    }

    #[test]
    fn removed_posts_are_not_served_and_their_likes_do_not_count() {
        let mut b = GraphBuilder::new(0);
        let (kept, gone, never) = (uri("a", "1"), uri("a", "2"), uri("z", "9"));
        b.add_like("did:plc:u", &kept, 10);
        b.add_like("did:plc:u", &gone, 10);
        b.add_like("did:plc:v", &never, 10);
        b.add_post(&kept, 5 * S, &post(&[]));
        b.add_post(&gone, 5 * S, &post(&[]));
        b.remove_post(&gone);
        // Deleted before the index held it: only likes name it.
        b.remove_post(&never);
        let g = b.build();
        let (kept, gone, never) = (
            g.post_id(&kept).unwrap(),
            g.post_id(&gone).unwrap(),
            g.post_id(&never).unwrap(),
        );
        assert!(g.is_servable(kept));
        assert!(!g.is_servable(gone) && !g.is_servable(never));
        assert!(g.likers_of(gone).is_empty() && g.likers_of(never).is_empty());
        assert_eq!(g.num_likes(), 1);
        assert_eq!(g.chronological(), &[kept]);
    }

    #[test]
    fn an_account_removal_takes_the_posts_known_so_far() {
        let mut b = GraphBuilder::new(0);
        b.add_like("did:plc:u", &uri("a", "liked"), 10);
        b.add_post(&uri("a", "1"), 5 * S, &post(&[]));
        b.add_post(&uri("b", "1"), 5 * S, &post(&[]));
        assert!(b.remove_account("did:plc:a"));
        assert!(!b.remove_account("not a did"));
        b.add_post(&uri("a", "after"), 6 * S, &post(&[]));
        let g = b.build();
        let servable = |u: &str| g.is_servable(g.post_id(u).unwrap());
        assert!(!servable(&uri("a", "liked")) && !servable(&uri("a", "1")));
        assert!(servable(&uri("b", "1")) && servable(&uri("a", "after")));
    }

    #[test]
    fn inactive_accounts_are_hidden_and_come_back_with_their_likes() {
        let (a1, b1) = (uri("a", "1"), uri("b", "1"));
        let mut b = GraphBuilder::new(0);
        b.add_post(&a1, 5 * S, &post(&[]));
        b.add_post(&b1, 6 * S, &post(&[]));
        // u likes a's post; a likes b's post; u likes b's post.
        b.add_like("did:plc:u", &a1, 10);
        b.add_like("did:plc:a", &b1, 11);
        b.add_like("did:plc:u", &b1, 12);
        assert!(b.hide_account("did:plc:a"));
        assert!(!b.hide_account("not a did"));
        let g = b.build();
        let (pa, pb) = (g.post_id(&a1).unwrap(), g.post_id(&b1).unwrap());
        assert!(!g.is_servable(pa) && g.post_info(pa).is_hidden());
        assert!(g.is_servable(pb));
        assert_eq!(g.chronological(), &[pb]);
        // Only u's like of b's post counts: a's own like and the like on
        // a's post are held back.
        assert_eq!(g.num_likes(), 1);
        assert_eq!(g.num_withheld_likes(), 2);
        assert_eq!(g.num_hidden_accounts(), 1);
        assert!(g.likers_of(pa).is_empty());

        // Likes and posts that come while hidden are held back too.
        let (a2, u) = (uri("a", "2"), "did:plc:u");
        let p = post(&[]);
        let still = g.with_changes(
            0,
            &[
                GraphChange::PostAdded {
                    post: &a2,
                    indexed_us: 7 * S,
                    info: &p,
                },
                GraphChange::Added {
                    user: u,
                    post: &a2,
                    ts: 13,
                },
            ],
        );
        assert_eq!(still.chronological(), &[pb]);
        assert_eq!((still.num_likes(), still.num_withheld_likes()), (1, 3));

        let back = still.with_changes(0, &[GraphChange::AccountRevealed { user: "did:plc:a" }]);
        let order: Vec<_> = back
            .chronological()
            .iter()
            .map(|&p| back.post_uri(p))
            .collect();
        assert_eq!(order, [a1.clone(), b1.clone(), a2.clone()]);
        assert_eq!((back.num_likes(), back.num_withheld_likes()), (4, 0));
        assert_eq!(back.likers_of(back.post_id(&a1).unwrap()).len(), 1);

        // Hidden again by a change; a deletion of the account ends it.
        let again = back.with_changes(0, &[GraphChange::AccountHidden { user: "did:plc:a" }]);
        assert_eq!(again.chronological(), &[pb]);
        let gone = again.with_changes(0, &[GraphChange::AccountRemoved { user: "did:plc:a" }]);
        assert_eq!(gone.num_hidden_accounts(), 0);
    }

    #[test]
    fn ties_in_time_are_ordered_by_uri_and_positions_are_stable() {
        let mut b = GraphBuilder::new(0);
        for rkey in ["c", "a", "b"] {
            b.add_post(&uri("x", rkey), 7 * S, &post(&[]));
        }
        b.add_post(&uri("x", "z"), 6 * S, &post(&[]));
        let g = b.build();
        let order: Vec<_> = g.chronological().iter().map(|&p| g.post_uri(p)).collect();
        assert_eq!(
            order,
            [uri("x", "z"), uri("x", "a"), uri("x", "b"), uri("x", "c")]
        );
        assert_eq!(g.chronological_before(7 * S, &uri("x", "b")), 2);
        assert_eq!(g.chronological_before(7 * S, &uri("x", "a")), 1);
        assert_eq!(g.chronological_before(6 * S, &uri("x", "z")), 0);
        assert_eq!(g.chronological_before(8 * S, ""), 4);
    }

    #[test]
    fn changes_follow_the_index() {
        let mut b = GraphBuilder::new(0);
        b.add_post(&uri("a", "1"), 5 * S, &post(&["nb"]));
        b.add_like("did:plc:u", &uri("a", "1"), 10);
        let g = b.build();
        let (p2, p3) = (uri("a", "2"), uri("b", "3"));
        let nn = post(&["nn"]);
        let next = g.with_changes(
            0,
            &[
                GraphChange::PostAdded {
                    post: &p2,
                    indexed_us: 6 * S,
                    info: &nn,
                },
                GraphChange::PostAdded {
                    post: &p3,
                    indexed_us: 7 * S,
                    info: &nn,
                },
                GraphChange::PostRemoved { post: &p3 },
                GraphChange::AccountRemoved { user: "did:plc:a" },
            ],
        );
        assert!(next.chronological().is_empty(), "all removed");
        assert_eq!(next.num_likes(), 0, "the like of a removed post went");
        // The window slides: posts indexed before it leave the index.
        let mut b = GraphBuilder::new(0);
        b.add_post(&uri("a", "1"), 5 * S, &post(&["nb"]));
        b.add_post(&uri("a", "2"), 50 * S, &post(&["nb"]));
        let slid = b.build().with_changes(10, &[]);
        let order: Vec<_> = slid
            .chronological()
            .iter()
            .map(|&p| slid.post_uri(p))
            .collect();
        assert_eq!(order, [uri("a", "2")]);
        assert!(
            !slid
                .post_info(slid.post_id(&uri("a", "1")).unwrap())
                .is_indexed()
        );
    }

    proptest::proptest! {
        /// Following changes gives the order a fresh build of the same
        /// posts gives.
        #[test]
        fn updates_keep_the_order_a_fresh_build_has(
            start in proptest::collection::vec((0u8..12, 0u64..5), 0..20),
            ops in proptest::collection::vec((0u8..5, 0u8..12, 0u64..5), 0..20),
        ) {
            // Ops: 0 adds post n, 1 and 2 remove it, 3 hides its author, 4
            // shows the author again.
            let author = |n: u8| format!("did:plc:a{}", n % 3);
            let name = |n: u8| uri(&format!("a{}", n % 3), &format!("p{n}"));
            let mut b = GraphBuilder::new(0);
            let mut model: std::collections::BTreeMap<String, Option<u64>> = Default::default();
            for (n, t) in &start {
                b.add_post(&name(*n), (t + 1) * S, &post(&[]));
                model.insert(name(*n), Some((t + 1) * S));
            }
            let g = b.build();
            let names: Vec<String> = ops.iter().map(|(_, n, _)| name(*n)).collect();
            let authors: Vec<String> = ops.iter().map(|(_, n, _)| author(*n)).collect();
            let p = post(&[]);
            let changes: Vec<GraphChange<'_>> = ops
                .iter()
                .zip(names.iter().zip(&authors))
                .map(|((op, _, t), (u, a))| match op {
                    0 => GraphChange::PostAdded { post: u, indexed_us: (t + 1) * S, info: &p },
                    3 => GraphChange::AccountHidden { user: a },
                    4 => GraphChange::AccountRevealed { user: a },
                    _ => GraphChange::PostRemoved { post: u },
                })
                .collect();
            let mut hidden = std::collections::BTreeSet::new();
            for ((op, _, t), (u, a)) in ops.iter().zip(names.iter().zip(&authors)) {
                match op {
                    3 => { hidden.insert(a.clone()); }
                    4 => { hidden.remove(a); }
                    _ => { model.insert(u.clone(), (*op == 0).then_some((t + 1) * S)); }
                }
            }
            let next = g.with_changes(0, &changes);
            // at://DID/...: the author's DID.
            let by = |u: &str| u.split('/').nth(2).unwrap().to_string();
            let mut expected: Vec<(u64, String)> = model
                .into_iter()
                .filter(|(u, _)| !hidden.contains(&by(u)))
                .filter_map(|(u, t)| Some((t?, u)))
                .collect();
            expected.sort();
            let got: Vec<(u64, String)> = next
                .chronological()
                .iter()
                .map(|&p| (next.post_info(p).indexed_us(), next.post_uri(p)))
                .collect();
            proptest::prop_assert_eq!(got, expected);
        }
    }
}
