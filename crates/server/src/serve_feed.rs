//! The path every feed page takes, shared by getFeedSkeleton and
//! /v1/personalize: resolve the feed, run its flow (or continue a session),
//! cut the page, mint the next cursor. A chronological flow pages by
//! position instead: no session, the cursor is the last post's place.

use std::sync::Arc;

use feedmixer_atproto::clock::now_secs;
use feedmixer_flow::placement::{ListItem, place};
use feedmixer_flow::{Flow, FlowOutput, Overrides, Position, RequestContext};
use feedmixer_graph::LikeGraph;

use crate::AppState;
use crate::http::error::XrpcError;
use crate::metrics::session_lookup;
use crate::pager::{Cursor, CursorScope, Decoded, Served, Session, position, served_hash};
use rustc_hash::FxHashSet;

/// `limit` when the request gives none, and its bounds.
pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 100;

/// What a caller asks for.
pub struct PageRequest<'a> {
    /// The feed's rkey.
    pub feed: &'a str,
    /// A verified viewer DID, or `None` for the anonymous path.
    pub viewer: Option<&'a str>,
    pub limit: usize,
    pub cursor: Option<&'a str>,
    /// A preset other than the feed's (internal routes only).
    pub preset: Option<&'a str>,
    /// Param overrides (internal routes only).
    pub overrides: &'a Overrides,
    /// Return a trace of the run (internal routes only).
    pub explain: bool,
    /// Start over instead of refusing a cursor minted for someone else:
    /// set when a viewer's token could not be checked, so a paging that
    /// began personalized goes on anonymously rather than failing.
    pub restart_on_foreign_cursor: bool,
    /// The request's `Accept-Language`, primary subtags, best first.
    pub accept_languages: Arc<[String]>,
}

/// One page: post AT-URIs and the cursor of the next page, if any.
#[derive(Debug)]
pub struct Page {
    pub posts: Vec<ListItem>,
    /// 16 hex digits naming this answer (the lexicon allows 100 chars).
    pub req_id: String,
    pub cursor: Option<String>,
    /// The explain trace, when asked for.
    pub explain: Option<serde_json::Value>,
    /// The languages the feed keeps (its `Content-Language`); empty for a
    /// feed of any language.
    pub languages: Vec<String>,
}

/// What ends an item's feedContext when the viewer is in an experiment's
/// arm: `;arm=FEED/ARM`, echoed back with interactions.
pub const ARM_MARK: &str = ";arm=";

/// Marks `page` of `feed` as served by the arm of the feed's experiment
/// that `viewer` is in: each item's feedContext ends with the arm, and
/// the arm's pages are counted. Returns the arm's name.
pub fn mark_arm(
    state: &AppState,
    feed: &str,
    viewer: Option<&str>,
    page: &mut Page,
) -> Option<String> {
    let catalog = state.catalog.load();
    let arm = catalog.feed(feed)?.arm_for(viewer)?;
    for item in &mut page.posts {
        item.context = format!("{}{ARM_MARK}{feed}/{}", item.context, arm.name);
    }
    metrics::counter!(
        crate::metrics::EXPERIMENT_PAGES,
        "feed" => feed.to_string(),
        "arm" => arm.name.clone()
    )
    .increment(1);
    Some(arm.name.clone())
}

/// The feed and arm a feedContext names, if it carries an arm mark.
pub fn arm_of(context: &str) -> Option<(&str, &str)> {
    let (_, mark) = context.rsplit_once(ARM_MARK)?;
    mark.split_once('/')
}

/// Parses a `limit` query value: an integer in 1..=100.
pub fn parse_limit(limit: Option<&str>) -> Result<usize, XrpcError> {
    let Some(text) = limit else {
        return Ok(DEFAULT_LIMIT);
    };
    match text.parse::<usize>() {
        Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        _ => Err(XrpcError::invalid_request(format!(
            "limit must be an integer from 1 to {MAX_LIMIT}, got {text:?}"
        ))),
    }
}

pub async fn page(state: &AppState, request: PageRequest<'_>) -> Result<Page, XrpcError> {
    let catalog = state.catalog.load();
    let feed = catalog
        .feed(request.feed)
        .ok_or_else(|| XrpcError::unknown_feed(request.feed))?
        .clone();
    if !state.is_ready() {
        return Err(XrpcError::not_ready());
    }
    // A viewer in an experiment's arm gets the arm's flow, preset and
    // params throughout.
    let arm = feed.arm_for(request.viewer);
    let own_flow = feed.arm_flow(arm);
    let preset = request
        .preset
        .unwrap_or(arm.map_or(&feed.preset, |arm| &arm.preset));
    let build_flow = || {
        feed.flow_in(arm, &state.registry, request.preset, request.overrides)
            .map_err(XrpcError::invalid_request)
    };
    // Overrides change params, never which kinds a flow has.
    if own_flow.is_chronological() {
        return chronological_page(state, &request, &build_flow()?, preset).await;
    }
    let scope = CursorScope {
        feed: request.feed,
        viewer: request.viewer,
    };
    let cursor = match request
        .cursor
        .map(|text| state.sessions.decode(text, scope))
        .transpose()
    {
        Ok(Some(Decoded::Valid(cursor))) => Some(cursor),
        Ok(Some(Decoded::UnknownKey)) => {
            crate::metrics::cursor_restarted();
            None
        }
        Ok(None) => None,
        Err(_) if request.restart_on_foreign_cursor => None,
        Err(e) => return Err(e),
    };

    // Continue a session when its list is still cached. The cursor's MAC
    // already tied it to this feed and viewer.
    let cached = match cursor {
        Some(cursor) => state.sessions.get(cursor.session).await,
        None => None,
    };
    if let Some(cursor) = cursor
        && let Some(session) = cached
    {
        session_lookup("hit");
        let mut page = cut(
            state,
            scope,
            cursor.session,
            &session,
            (cursor.offset as usize, request.limit),
            session.posts.len(),
            Remember::Served,
        )
        .await;
        if request.explain {
            page.explain = Some(crate::explain::from_session());
        }
        page.languages = own_flow.languages().to_vec();
        return Ok(page);
    }

    // The list is gone: continue without what was served when that is
    // remembered, else (a cursor older than the served set) at the offset.
    let (earlier, offset): (Served, usize) = match cursor {
        None => (Served::default(), 0),
        Some(c) => match state.sessions.served(c.session).await {
            Some(served) => {
                session_lookup("continued");
                (served, 0)
            }
            None => {
                session_lookup("expired");
                (Served::default(), c.offset as usize)
            }
        },
    };

    let flow = build_flow()?;
    let graph = state.graph.load_full();
    let ctx = context(&graph, &request);
    let output = flow.run(&ctx, &state.hydrators).await;
    // A first page keeps no list (below), so only its own items are made
    // into strings: no placement can push a ranked post further down than
    // the number of placements.
    let first_page = cursor.is_none();
    let needed = if first_page {
        request.limit + output.placements.len()
    } else {
        usize::MAX
    };
    let mut posts = place(ranked(&graph, &flow, &output, needed), &output.placements);
    if !earlier.is_empty() {
        let served: FxHashSet<u64> = earlier.iter().copied().collect();
        posts.retain(|item| !served.contains(&served_hash(&item.post)));
    }
    let listed = if first_page {
        listed_len(&graph, &output)
    } else {
        posts.len()
    };
    let session = Arc::new(Session {
        feed: request.feed.to_string(),
        viewer: request.viewer.map(str::to_string),
        posts,
        earlier,
    });
    // A first page keeps only what it served, not its list: most pagings
    // end there (the app's `limit=1` polls always do), and a second page
    // recomputes the list without what the first served, which is as
    // gap-free. From the second page on the list is kept. A list that fits
    // the page needs no cursor at all.
    let id = if offset + request.limit >= listed {
        0
    } else if !first_page {
        state.sessions.insert(Arc::clone(&session)).await
    } else {
        state.sessions.new_id()
    };
    // The app polls every open feed with `limit=1` to see whether its top
    // changed, and never pages on: a poll keeps nothing. Should its cursor
    // come back, the paging continues at its offset.
    let remember = if first_page && request.limit == 1 {
        Remember::Nothing
    } else {
        Remember::Served
    };
    let window = (offset, request.limit);
    let mut page = cut(state, scope, id, &session, window, listed, remember).await;
    if request.explain {
        page.explain = Some(crate::explain::trace(
            &graph,
            &flow,
            preset,
            &output,
            &page.posts,
        ));
    }
    page.languages = flow.languages().to_vec();
    Ok(page)
}

/// A page of a chronological flow: the posts after the cursor's position,
/// and a cursor at the last one when the page is full. Placed posts show
/// on the first page only (later pages would repeat them).
async fn chronological_page(
    state: &AppState,
    request: &PageRequest<'_>,
    flow: &Flow,
    preset: &str,
) -> Result<Page, XrpcError> {
    let after = request.cursor.map(position::decode).transpose()?;
    let graph = state.graph.load_full();
    let mut ctx = context(&graph, request);
    let first_page = after.is_none();
    ctx.after = after;
    let output = flow.run(&ctx, &state.hydrators).await;
    let placements = if first_page {
        &output.placements[..]
    } else {
        &[]
    };
    let mut posts = place(ranked(&graph, flow, &output, usize::MAX), placements);
    posts.truncate(request.limit);
    let last_ranked = posts
        .iter()
        .rev()
        .find(|item| item.placed.is_none())
        .and_then(|item| graph.post_id(&item.post).map(|p| (p, &item.post)));
    let cursor = match last_ranked {
        Some((post, uri)) if posts.len() == request.limit => Some(position::encode(&Position {
            indexed_us: graph.post_info(post).indexed_us(),
            uri: uri.clone(),
        })),
        _ => None,
    };
    let explain = request
        .explain
        .then(|| crate::explain::trace(&graph, flow, preset, &output, &posts));
    Ok(Page {
        req_id: format!("{:016x}", rand::random::<u64>()),
        posts,
        cursor,
        explain,
        languages: flow.languages().to_vec(),
    })
}

/// The context a request's flow runs in.
fn context(graph: &Arc<LikeGraph>, request: &PageRequest<'_>) -> RequestContext {
    let viewer = request.viewer.and_then(|did| graph.user_id(did));
    let mut ctx = RequestContext::new(Arc::clone(graph), viewer, now_secs())
        .for_feed(request.feed)
        .with_viewer_did(request.viewer);
    ctx.explain = request.explain;
    ctx.accept_languages = Arc::clone(&request.accept_languages);
    ctx.page_size = request.limit;
    ctx
}

/// The flow's first `take` ranked posts as list items: each URI with the
/// ids of the sources that proposed it.
fn ranked(
    graph: &LikeGraph,
    flow: &Flow,
    output: &FlowOutput,
    take: usize,
) -> Vec<(String, String)> {
    output
        .posts
        .iter()
        .take(take)
        .map(|p| (graph.post_uri(p.post), flow.proposed_by(p.sources)))
        .collect()
}

/// The length of the whole list [`place`] makes of the flow's output:
/// each placed post once, and the ranked posts that are not also placed.
fn listed_len(graph: &LikeGraph, output: &FlowOutput) -> usize {
    let placed: FxHashSet<&str> = output.placements.iter().map(|p| p.post.as_str()).collect();
    let placed_ids: FxHashSet<_> = placed.iter().filter_map(|uri| graph.post_id(uri)).collect();
    let ranked_and_placed = if placed_ids.is_empty() {
        0
    } else {
        output
            .posts
            .iter()
            .filter(|p| placed_ids.contains(&p.post))
            .count()
    };
    placed.len() + output.posts.len() - ranked_and_placed
}

/// What a page with a next page keeps for its cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Remember {
    /// What the paging served, so the next page has no repeats or gaps.
    Served,
    /// Nothing (polls).
    Nothing,
}

/// The page at `offset` and the cursor after it (none at the end of the
/// `listed` items; `session` holds at least the page's).
async fn cut(
    state: &AppState,
    scope: CursorScope<'_>,
    id: u64,
    session: &Session,
    (offset, limit): (usize, usize),
    listed: usize,
    remember: Remember,
) -> Page {
    let start = offset.min(session.posts.len());
    let end = (start + limit).min(session.posts.len());
    let cursor = if end < listed {
        if remember == Remember::Served {
            state.sessions.record_served(id, session, end).await;
        }
        let next = Cursor {
            session: id,
            offset: end as u32,
        };
        Some(state.sessions.cursor(next, scope))
    } else {
        None
    };
    Page {
        req_id: format!("{:016x}", rand::random::<u64>()),
        posts: session.posts[start..end].to_vec(),
        cursor,
        explain: None,
        languages: Vec::new(),
    }
}
