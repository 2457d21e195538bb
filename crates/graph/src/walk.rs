//! The LinkLonk walk: viewer -> a post it liked (j) -> a co-liker (s) -> a
//! post the co-liker liked (i).
//!
//! A walk is a few hundred thousand random memory accesses at most, so what
//! matters is what each access costs: co-liker weights and post scores live
//! in dense per-worker arrays indexed by id (a hash map is 1.3-2x slower),
//! decay comes from a table, the `powf`s are per post or per co-liker rather
//! than per edge, and nothing is allocated but the result.

use crate::decay::DecayCache;
use crate::graph::{Edge, LikeGraph, PostId, UserId};
use crate::prefetch::prefetch;
use crate::rank::top_k;

/// Knobs of the walk; [`Default`] is Graze's defaults.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WalkParams {
    /// Viewer likes sampled, newest first.
    pub max_likes: usize,
    /// Likers visited per sampled post, newest first. The viewer itself
    /// takes one of these places (it is skipped, not replaced).
    pub max_likers_per_post: usize,
    /// Distinct co-likers kept in total; later ones are ignored.
    pub max_colikers: usize,
    /// Likes read per co-liker, newest first.
    pub max_likes_per_coliker: usize,
    /// Recency half-life; 0 turns decay off.
    pub half_life_secs: u32,
    /// Exponent on `1/|likes(s)|`: penalizes co-likers that like everything.
    pub specificity_power: f32,
    /// Exponent on `1/|likers(j)|`: penalizes viral posts.
    pub popularity_power: f32,
    /// Final score `*= (distinct co-likers reaching i)^this`; 0 is off.
    pub num_paths_power: f32,
    /// Posts returned at most.
    pub max_results: usize,
}

impl Default for WalkParams {
    fn default() -> Self {
        WalkParams {
            max_likes: 500,
            max_likers_per_post: 500,
            max_colikers: 10_000,
            max_likes_per_coliker: 500,
            half_life_secs: 24 * 3_600,
            specificity_power: 1.0,
            popularity_power: 1.0,
            num_paths_power: 0.0,
            max_results: 500,
        }
    }
}

impl WalkParams {
    /// Graze's "fast" preset (200 likes, 50 likers per post, 500
    /// co-likers) with 50 likes per co-liker: 10-15x fewer edges read than
    /// the defaults for recall within a few points.
    pub fn fast() -> Self {
        WalkParams {
            max_likes: 200,
            max_likers_per_post: 50,
            max_colikers: 500,
            max_likes_per_coliker: 50,
            ..Self::default()
        }
    }

    /// Graze's "discovery" preset: 200 likes, specificity and popularity
    /// power 1.5.
    pub fn discovery() -> Self {
        WalkParams {
            max_likes: 200,
            specificity_power: 1.5,
            popularity_power: 1.5,
            ..Self::default()
        }
    }

    /// Graze's "stable" preset: 1,000 likes, 168 h half-life, specificity 0.5.
    pub fn stable() -> Self {
        WalkParams {
            max_likes: 1_000,
            half_life_secs: 168 * 3_600,
            specificity_power: 0.5,
            ..Self::default()
        }
    }
}

/// A dense array slot: a value and the walk (epoch) that last wrote it, so a
/// walk never has to clear the arrays, and a slot touched with a zero
/// contribution is still told apart from an untouched one.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C, align(8))]
struct Slot {
    value: f32,
    epoch: u32,
}

/// Per-worker walk state: dense `f32` arrays indexed by user and post id,
/// the lists of what a walk touched, and cached decay tables. Grows to the
/// largest graph it is used with; reuse one per worker (see
/// [`crate::ScratchPool`]).
#[derive(Debug, Default)]
pub struct WalkScratch {
    /// Current walk; slots from other epochs count as empty. Starts at 1.
    epoch: u32,
    /// w(s) per co-liker.
    users: Vec<Slot>,
    /// score(i) per post.
    posts: Vec<Slot>,
    /// paths(i) per post; valid where `posts` has the current epoch.
    /// Only sized and kept when `num_paths_power != 0`.
    paths: Vec<u32>,
    colikers: Vec<UserId>,
    /// Posts the walk scored, in first-touch order.
    touched: Vec<PostId>,
    candidates: Vec<(PostId, f32)>,
    decay: DecayCache,
}

impl WalkScratch {
    pub fn new() -> Self {
        Self::default()
    }

    /// Approximate heap bytes held.
    pub fn memory_bytes(&self) -> usize {
        (self.users.capacity() + self.posts.capacity()) * size_of::<Slot>()
            + self.paths.capacity() * size_of::<u32>()
            + (self.colikers.capacity() + self.touched.capacity()) * size_of::<u32>()
            + self.candidates.capacity() * size_of::<(PostId, f32)>()
            + self.decay.memory_bytes()
    }

    /// Sizes the arrays for `graph` and starts a new epoch.
    fn begin(&mut self, graph: &LikeGraph, with_paths: bool) -> u32 {
        grow(&mut self.users, graph.num_users());
        grow(&mut self.posts, graph.num_posts());
        if with_paths {
            grow(&mut self.paths, graph.num_posts());
        }
        self.epoch = match self.epoch.checked_add(1) {
            Some(epoch) => epoch,
            None => {
                // Once every 4 G walks: forget every stale epoch.
                for slot in self.users.iter_mut().chain(self.posts.iter_mut()) {
                    slot.epoch = 0;
                }
                1
            }
        };
        self.colikers.clear();
        self.touched.clear();
        self.candidates.clear();
        self.epoch
    }
}

fn grow<T: Default + Clone>(v: &mut Vec<T>, len: usize) {
    if v.len() < len {
        v.resize(len, T::default());
    }
}

/// The `n` newest entries of a time-ordered adjacency list.
#[inline]
fn newest(edges: &[Edge], n: usize) -> &[Edge] {
    &edges[edges.len().saturating_sub(n)..]
}

/// `(1 / degree)^power`, without `powf` for the common powers.
#[inline]
fn inv_pow(degree: usize, power: f32) -> f32 {
    let inv = 1.0 / degree as f32;
    if power == 1.0 {
        inv
    } else if power == 0.0 {
        1.0
    } else {
        inv.powf(power)
    }
}

/// An upper bound of the edges a walk from `viewer` with `params` reads,
/// from row lengths alone (at most `max_likes` reads): a caller can run a
/// walk known to be short where it is instead of on another thread. The
/// second hop is bounded by caps, not by the co-likers' own rows.
pub fn walk_edges_bound(graph: &LikeGraph, viewer: UserId, params: &WalkParams) -> usize {
    if viewer as usize >= graph.num_users() {
        return 0;
    }
    let likes = graph.likes_of(viewer);
    let sampled = &likes[likes.len().saturating_sub(params.max_likes)..];
    let first_hop: usize = sampled
        .iter()
        .map(|e| graph.likers_of(e.id).len().min(params.max_likers_per_post))
        .sum();
    sampled.len() + first_hop + first_hop.min(params.max_colikers) * params.max_likes_per_coliker
}

/// Scores the posts the viewer's co-likers liked, sorted by score
/// descending, ties broken by lower [`PostId`]; at most
/// `params.max_results`. Never contains a post the viewer liked (any of its
/// in-window likes, not only the sampled ones), nor a post whose score is 0.
/// Empty when the viewer has no likes or is not in the graph.
///
/// With `deg` the full in-window degree and `decay(age) = exp(-ln2 * age /
/// half_life)`: for each of the viewer's `max_likes` newest likes j (at
/// `t_vj`), newest first, and each of j's `max_likers_per_post` newest
/// likers s other than the viewer (at `t_sj`), newest first:
/// `w(s) += 1/deg(viewer) * (1/deg(j))^popularity * (1/deg(s))^specificity
/// * decay(now - t_vj) * decay(now - t_sj)`, for at most `max_colikers`
/// distinct s (first come). Then for each s and each of its
/// `max_likes_per_coliker` newest likes i (at `t_si`) the viewer has not
/// liked: `score(i) += w(s) * decay(now - t_si)`, and `paths(i) += 1`.
/// Finally `score(i) *= paths(i)^num_paths_power` unless that power is 0.
pub fn walk(
    graph: &LikeGraph,
    viewer: UserId,
    params: &WalkParams,
    now_secs: u32,
    scratch: &mut WalkScratch,
) -> Vec<(PostId, f32)> {
    if viewer as usize >= graph.num_users() || params.max_results == 0 {
        return Vec::new();
    }
    let viewer_likes = graph.likes_of(viewer);
    if viewer_likes.is_empty() {
        return Vec::new();
    }
    let with_paths = params.num_paths_power != 0.0;
    let epoch = scratch.begin(graph, with_paths);
    let WalkScratch {
        users,
        posts,
        paths,
        colikers,
        touched,
        candidates,
        decay,
        ..
    } = scratch;
    let decay = decay.table(
        params.half_life_secs,
        now_secs.saturating_sub(graph.window_start()),
    );
    let decay_at = |ts: u32| decay.get(now_secs.saturating_sub(ts));

    // Steps 1-2: co-likers of the viewer's newest likes, weighted by how
    // probable the walk viewer -> j -> s is. 1/deg(s)^specificity is common
    // to every path into s, so it is applied once per s in step 3.
    let inv_viewer = 1.0 / viewer_likes.len() as f32;
    for like in newest(viewer_likes, params.max_likes).iter().rev() {
        let likers = graph.likers_of(like.id);
        let to_j = inv_viewer * inv_pow(likers.len(), params.popularity_power) * decay_at(like.ts);
        for liker in newest(likers, params.max_likers_per_post).iter().rev() {
            if liker.id == viewer {
                continue;
            }
            let slot = &mut users[liker.id as usize];
            let w = to_j * decay_at(liker.ts);
            if slot.epoch == epoch {
                slot.value += w;
            } else if colikers.len() < params.max_colikers {
                *slot = Slot { value: w, epoch };
                colikers.push(liker.id);
            }
        }
    }

    // The viewer's own likes are pre-marked with -inf: they stay -inf
    // through step 3 without a branch and are never added to `touched`.
    for like in viewer_likes {
        posts[like.id as usize] = Slot {
            value: f32::NEG_INFINITY,
            epoch,
        };
        if with_paths {
            paths[like.id as usize] = 0;
        }
    }

    // Step 3: spread each co-liker's weight over its newest likes.
    for (c, &s) in colikers.iter().enumerate() {
        prefetch_coliker(graph, colikers, c, params.max_likes_per_coliker, users);
        let likes = graph.likes_of(s);
        let w = users[s as usize].value * inv_pow(likes.len(), params.specificity_power);
        if w > 0.0 {
            let likes = newest(likes, params.max_likes_per_coliker);
            if with_paths {
                spread::<true>(likes, w, epoch, &decay_at, posts, paths, touched);
            } else {
                spread::<false>(likes, w, epoch, &decay_at, posts, paths, touched);
            }
        }
    }

    // Collect, apply the path-count boost, keep the top k.
    let path_boost = PathBoost::new(params.num_paths_power);
    for &i in touched.iter() {
        let score = posts[i as usize].value;
        if score > 0.0 {
            let score = if with_paths {
                score * path_boost.get(paths[i as usize])
            } else {
                score
            };
            candidates.push((i, score));
        }
    }
    top_k(candidates, params.max_results).to_vec()
}

/// How far ahead step 3 prefetches: score slots, in edges; co-likers'
/// offsets and weights, in co-likers; co-likers' first edges, in co-likers.
/// Prefetching made walks 1.6-1.9x faster on a 10M-like graph (1.2-1.4x
/// on the 1M demo, which mostly fits in cache); these distances measured
/// best among the few tried.
const PREFETCH_EDGES: usize = 16;
const PREFETCH_COLIKERS: usize = 8;
const PREFETCH_FIRST_EDGES: usize = 2;

/// Prefetches what step 3 will need for later co-likers: the offsets (and
/// weight) of the one `PREFETCH_COLIKERS` ahead, and the first edges of the
/// one `PREFETCH_FIRST_EDGES` ahead, whose offsets were prefetched earlier.
#[inline(always)]
fn prefetch_coliker(
    graph: &LikeGraph,
    colikers: &[UserId],
    c: usize,
    max_likes: usize,
    users: &[Slot],
) {
    if let Some(&far) = colikers.get(c + PREFETCH_COLIKERS) {
        prefetch(&graph.likes.offsets, far as usize + 1);
        prefetch(users, far as usize);
    }
    if let Some(&next) = colikers.get(c + PREFETCH_FIRST_EDGES) {
        let likes = graph.likes_of(next);
        prefetch(likes, likes.len().saturating_sub(max_likes));
    }
}

/// Step 3 for one co-liker: `score(i) += w * decay(now - t_si)` over `likes`.
/// Generic over whether path counts are kept, so the common case carries no
/// per-edge branch or array for them. (A branchless variant, masking stale
/// slots and always writing `touched`, measured no faster.)
#[inline(always)]
fn spread<const PATHS: bool>(
    likes: &[Edge],
    w: f32,
    epoch: u32,
    decay_at: &impl Fn(u32) -> f32,
    posts: &mut [Slot],
    paths: &mut [u32],
    touched: &mut Vec<PostId>,
) {
    for (k, like) in likes.iter().enumerate() {
        if let Some(ahead) = likes.get(k + PREFETCH_EDGES) {
            prefetch(posts, ahead.id as usize);
        }
        let x = w * decay_at(like.ts);
        let i = like.id as usize;
        let slot = &mut posts[i];
        if slot.epoch == epoch {
            slot.value += x;
            if PATHS {
                paths[i] += 1;
            }
        } else {
            *slot = Slot { value: x, epoch };
            touched.push(like.id);
            if PATHS {
                paths[i] = 1;
            }
        }
    }
}

/// `paths^power`, from a small table for the usual small counts.
struct PathBoost {
    power: f32,
    small: [f32; 64],
}

impl PathBoost {
    fn new(power: f32) -> Self {
        let mut small = [1.0; 64];
        if power != 0.0 {
            for (n, slot) in small.iter_mut().enumerate() {
                *slot = (n as f32).powf(power);
            }
        }
        PathBoost { power, small }
    }

    #[inline]
    fn get(&self, paths: u32) -> f32 {
        match self.small.get(paths as usize) {
            Some(&boost) => boost,
            None => (paths as f32).powf(self.power),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture::{self, HOUR, NOW, assert_scores, post, user};
    use crate::{GraphBuilder, LikeGraph};

    /// Defaults, with the fixture's one-hour half-life.
    fn params() -> WalkParams {
        WalkParams {
            half_life_secs: HOUR,
            ..WalkParams::default()
        }
    }

    fn run(g: &LikeGraph, params: &WalkParams) -> Vec<(PostId, f32)> {
        walk(g, user(g, "v"), params, NOW, &mut WalkScratch::new())
    }

    // Step 2 at the defaults (1/deg(V) = 1/2, decay(kh) = 2^-k):
    //   j=p0 (V@0h): to_j = 1/2 * 1/3 * 1   = 1/6
    //     A@1h: w_A += 1/6 * 1/2 = 1/12;  B@2h: w_B += 1/6 * 1/4 = 1/24
    //   j=p1 (V@1h): to_j = 1/2 * 1/3 * 1/2 = 1/12
    //     B@0h: w_B += 1/12;              C@2h: w_C += 1/12 * 1/4 = 1/48
    //   specificity: w_A = 1/12 / 3 = 1/36, w_B = 1/8 / 4 = 1/32, w_C = 1/48 / 2 = 1/96
    // Step 3 (p0, p1 are the viewer's and excluded):
    //   A: p2@0h 1/36,  p3@2h 1/36 * 1/4 = 1/144
    //   B: p3@1h 1/64,  p4@1h 1/64
    //   C: p5@0h 1/96
    //   p2 = 1/36, p3 = 1/144 + 1/64 = 13/576, p4 = 1/64, p5 = 1/96
    const DEFAULT: [(usize, f64); 4] = [
        (2, 1.0 / 36.0),
        (3, 13.0 / 576.0),
        (4, 1.0 / 64.0),
        (5, 1.0 / 96.0),
    ];

    #[test]
    fn exact_scores_at_the_defaults() {
        let g = fixture::graph();
        let got = run(&g, &params());
        assert_scores(&got, &DEFAULT);
        // The viewer's own posts never come back.
        let v = user(&g, "v");
        assert!(got.iter().all(|&(p, _)| !g.has_liked(v, p)));
    }

    #[test]
    fn max_likes_samples_the_newest_but_excludes_every_like() {
        // Only p0 (V@0h) is sampled: w_A = 1/12 / 3 = 1/36, w_B = 1/24 / 4 = 1/96.
        //   p2 = 1/36, p3 = 1/144 + 1/96 * 1/2 = 7/576, p4 = 1/192;
        //   p1 (B@0h) is still excluded though V's like of it was not sampled.
        let g = fixture::graph();
        let p = WalkParams {
            max_likes: 1,
            ..params()
        };
        assert_scores(
            &run(&g, &p),
            &[(2, 1.0 / 36.0), (3, 7.0 / 576.0), (4, 1.0 / 192.0)],
        );
    }

    #[test]
    fn max_likers_per_post_counts_the_viewer_place() {
        // p0's newest liker is V itself (skipped): nothing from p0.
        // p1's newest is B@0h: w_B = 1/12 / 4 = 1/48; p3 = p4 = 1/48 * 1/2 = 1/96,
        // tied, so lower id first.
        let g = fixture::graph();
        let p = WalkParams {
            max_likers_per_post: 1,
            ..params()
        };
        assert_scores(&run(&g, &p), &[(3, 1.0 / 96.0), (4, 1.0 / 96.0)]);
    }

    #[test]
    fn max_colikers_keeps_the_first_found() {
        let g = fixture::graph();
        // Found in order A, B (from p0, newest first; V is not a co-liker), C.
        // Cap 1: only A (w_A = 1/36): p2 = 1/36, p3 = 1/144.
        let p = WalkParams {
            max_colikers: 1,
            ..params()
        };
        assert_scores(&run(&g, &p), &[(2, 1.0 / 36.0), (3, 1.0 / 144.0)]);
        // Cap 2: C is ignored, B still gains its p1 weight: defaults without p5.
        let p = WalkParams {
            max_colikers: 2,
            ..params()
        };
        assert_scores(&run(&g, &p), &DEFAULT[..3]);
    }

    #[test]
    fn max_likes_per_coliker_reads_the_newest() {
        // Newest like each: A p2@0h (1/36), B p1@0h (the viewer's: nothing),
        // C p5@0h (1/96).
        let g = fixture::graph();
        let p = WalkParams {
            max_likes_per_coliker: 1,
            ..params()
        };
        assert_scores(&run(&g, &p), &[(2, 1.0 / 36.0), (5, 1.0 / 96.0)]);
    }

    #[test]
    fn half_life_changes_the_ranking() {
        // Half-life 2h: decay(1h) = r = 2^-1/2, decay(2h) = 1/2.
        //   p0: to_j = 1/6;      A += r/6,  B += 1/12
        //   p1: to_j = r/6;      B += r/6,  C += r/12
        //   w_A = r/18, w_B = (1/12 + r/6) / 4 = 1/48 + r/24, w_C = r/24
        //   p2 = w_A = r/18
        //   p3 = w_A/2 + w_B r = r/36 + r/48 + 1/48   (r^2 = 1/2)
        //   p4 = w_B r = r/48 + 1/48,  p5 = w_C = r/24
        let r = 0.5f64.sqrt();
        let g = fixture::graph();
        let p = WalkParams {
            half_life_secs: 2 * HOUR,
            ..params()
        };
        assert_scores(
            &run(&g, &p),
            &[
                (3, r / 36.0 + r / 48.0 + 1.0 / 48.0),
                (2, r / 18.0),
                (4, r / 48.0 + 1.0 / 48.0),
                (5, r / 24.0),
            ],
        );
    }

    #[test]
    fn zero_half_life_means_no_decay() {
        // Every decay is 1: w_A = 1/6 / 3 = 1/18, w_B = (1/6 + 1/6) / 4 = 1/12,
        // w_C = 1/6 / 2 = 1/12. p3 = 1/18 + 1/12 = 5/36, p4 = p5 = 1/12 (tie:
        // lower id first), p2 = 1/18.
        let g = fixture::graph();
        let p = WalkParams {
            half_life_secs: 0,
            ..params()
        };
        assert_scores(
            &run(&g, &p),
            &[
                (3, 5.0 / 36.0),
                (4, 1.0 / 12.0),
                (5, 1.0 / 12.0),
                (2, 1.0 / 18.0),
            ],
        );
    }

    #[test]
    fn specificity_and_popularity_powers() {
        // Popularity 0 (to_j = 1/2 * decay), specificity 2 (1/deg(s)^2):
        //   p0: to_j = 1/2:  A += 1/4, B += 1/8
        //   p1: to_j = 1/4:  B += 1/4, C += 1/16
        //   w_A = 1/4 / 9 = 1/36, w_B = 3/8 / 16 = 3/128, w_C = 1/16 / 4 = 1/64
        //   p2 = 1/36, p3 = 1/144 + 3/256, p5 = 1/64, p4 = 3/256
        let g = fixture::graph();
        let p = WalkParams {
            specificity_power: 2.0,
            popularity_power: 0.0,
            ..params()
        };
        assert_scores(
            &run(&g, &p),
            &[
                (2, 1.0 / 36.0),
                (3, 1.0 / 144.0 + 3.0 / 256.0),
                (5, 1.0 / 64.0),
                (4, 3.0 / 256.0),
            ],
        );

        // Fractional powers go through powf: popularity 1.5, specificity 0.5.
        //   to_p0 = to_p1 / (1/2) = 1/2 * 3^-1.5
        //   w_A = to_p0/2 * 3^-.5,  w_B = (to_p0/4 + to_p1) * 4^-.5,  w_C = to_p1/4 * 2^-.5
        let p = WalkParams {
            specificity_power: 0.5,
            popularity_power: 1.5,
            ..params()
        };
        let to_p0 = 0.5 * 3f64.powf(-1.5);
        let to_p1 = to_p0 / 2.0;
        let w_a = to_p0 / 2.0 / 3f64.sqrt();
        let w_b = (to_p0 / 4.0 + to_p1) / 2.0;
        let w_c = to_p1 / 4.0 / 2f64.sqrt();
        let mut expected = [
            (2, w_a),
            (3, w_a / 4.0 + w_b / 2.0),
            (4, w_b / 2.0),
            (5, w_c),
        ];
        expected.sort_by(|a, b| b.1.total_cmp(&a.1));
        assert_scores(&run(&g, &p), &expected);
    }

    #[test]
    fn num_paths_power_boosts_posts_reached_twice() {
        // p3 is reached by A and B: 13/576 * 2^1; the rest by one co-liker.
        let g = fixture::graph();
        let p = WalkParams {
            num_paths_power: 1.0,
            ..params()
        };
        assert_scores(
            &run(&g, &p),
            &[
                (3, 26.0 / 576.0),
                (2, 1.0 / 36.0),
                (4, 1.0 / 64.0),
                (5, 1.0 / 96.0),
            ],
        );
        let p = WalkParams {
            num_paths_power: 0.5,
            ..params()
        };
        assert_scores(
            &run(&g, &p),
            &[
                (3, 13.0 / 576.0 * 2f64.sqrt()),
                (2, 1.0 / 36.0),
                (4, 1.0 / 64.0),
                (5, 1.0 / 96.0),
            ],
        );
    }

    #[test]
    fn max_results_truncates_in_order() {
        let g = fixture::graph();
        let p = WalkParams {
            max_results: 2,
            ..params()
        };
        assert_scores(&run(&g, &p), &DEFAULT[..2]);
        let p = WalkParams {
            max_results: 0,
            ..params()
        };
        assert!(run(&g, &p).is_empty());
    }

    #[test]
    fn ties_go_to_the_lower_post_id() {
        // D likes q0 first so q0 gets the lower id; A then likes p, q1 and
        // q0 all at the same time, so A's list reaches q1 before q0.
        let mut b = GraphBuilder::new(0);
        let q = |n: usize| fixture::uri(10 + n);
        assert!(b.add_like(&fixture::did("d"), &q(0), NOW));
        assert!(b.add_like(&fixture::did("v"), &q(9), NOW));
        for n in [9, 1, 0] {
            assert!(b.add_like(&fixture::did("a"), &q(n), NOW));
        }
        let g = b.build();
        let got = run(&g, &params());
        let ids: Vec<PostId> = got.iter().map(|&(p, _)| p).collect();
        let (q0, q1) = (g.post_id(&q(0)).unwrap(), g.post_id(&q(1)).unwrap());
        assert!(q0 < q1);
        assert_eq!(ids, [q0, q1]);
        assert_eq!(got[0].1, got[1].1);
    }

    #[test]
    fn viewers_without_likes_get_nothing() {
        let g = fixture::graph();
        let author = g.user_id(fixture::AUTHOR).unwrap();
        let mut scratch = WalkScratch::new();
        assert!(walk(&g, author, &params(), NOW, &mut scratch).is_empty());
        let outside = g.num_users() as UserId;
        assert!(walk(&g, outside, &params(), NOW, &mut scratch).is_empty());
        let empty = GraphBuilder::new(0).build();
        assert!(walk(&empty, 0, &params(), NOW, &mut scratch).is_empty());
    }

    #[test]
    fn zero_weight_coliker_still_takes_its_place() {
        // With a 1 s half-life, A's like of p0 two hours back decays to 0
        // in f32: A is found (and counts against the cap) but adds nothing.
        let g = fixture::graph();
        let p = WalkParams {
            half_life_secs: 1,
            max_colikers: 1,
            ..params()
        };
        assert!(run(&g, &p).is_empty());
    }

    /// A bigger, denser graph than the fixture: 40 users, 30 posts.
    fn bigger_graph() -> LikeGraph {
        let mut b = GraphBuilder::new(0);
        for u in 0..40u32 {
            for k in 0..(3 + u % 11) {
                let p = (u * 7 + k * k * 3) % 30;
                let ts = NOW - (u * 131 + k * 977) % (20 * HOUR);
                b.add_like(
                    &fixture::did(&format!("u{u}")),
                    &fixture::uri(p as usize),
                    ts,
                );
            }
        }
        b.build()
    }

    #[test]
    fn the_edges_bound_grows_with_the_caps_and_covers_what_the_walk_found() {
        let g = bigger_graph();
        let small = WalkParams {
            max_likes: 2,
            max_likers_per_post: 2,
            max_colikers: 3,
            max_likes_per_coliker: 2,
            ..params()
        };
        for u in 0..g.num_users() as UserId {
            let (low, high) = (
                walk_edges_bound(&g, u, &small),
                walk_edges_bound(&g, u, &params()),
            );
            assert!(low <= high, "user {u}: {low} > {high}");
            let found = walk(&g, u, &params(), NOW, &mut WalkScratch::new()).len();
            assert!(
                found <= high,
                "user {u}: {found} posts from at most {high} edges"
            );
        }
        assert_eq!(walk_edges_bound(&g, g.num_users() as UserId, &params()), 0);
    }

    #[test]
    fn scratch_reuse_matches_a_fresh_scratch() {
        let small = fixture::graph();
        let big = bigger_graph();
        assert!(big.num_posts() > small.num_posts() && big.num_users() > small.num_users());
        let presets = [
            params(),
            WalkParams::fast(),
            WalkParams::discovery(),
            WalkParams::stable(),
            WalkParams {
                num_paths_power: 0.7,
                ..params()
            },
        ];
        let mut reused = WalkScratch::new();
        for round in 0..2 {
            for g in [&small, &big] {
                for p in &presets {
                    for viewer in 0..g.num_users() as UserId {
                        let fresh = walk(g, viewer, p, NOW, &mut WalkScratch::new());
                        let again = walk(g, viewer, p, NOW, &mut reused);
                        assert_eq!(fresh, again, "round {round} viewer {viewer} {p:?}");
                    }
                }
            }
        }
        assert!(reused.memory_bytes() > 0);
    }

    #[test]
    fn epoch_wraparound_clears_stale_slots() {
        let g = fixture::graph();
        let mut scratch = WalkScratch::new();
        let first = walk(&g, user(&g, "v"), &params(), NOW, &mut scratch);
        scratch.epoch = u32::MAX;
        assert_eq!(walk(&g, user(&g, "v"), &params(), NOW, &mut scratch), first);
        assert_eq!(scratch.epoch, 1);
        assert_eq!(walk(&g, user(&g, "v"), &params(), NOW, &mut scratch), first);
    }

    #[test]
    fn a_post_id_lookup_matches_the_fixture() {
        let g = fixture::graph();
        for p in 0..6 {
            post(&g, p);
        }
    }
}
