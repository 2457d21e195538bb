//! Sessions: the ranked list behind a paging, and what the paging served.

use std::sync::Arc;
use std::time::Duration;

use feedmixer_flow::placement::ListItem;
use feedmixer_store::{Store, StoreHealth};
use moka::sync::Cache;

use crate::config::SessionConfig;
use crate::http::error::XrpcError;
use crate::pager::codec;
use crate::pager::cursor::{Cursor, CursorKeys, CursorScope, Decoded};

/// A ranked list being paged through.
#[derive(Debug)]
pub struct Session {
    pub feed: String,
    pub viewer: Option<String>,
    /// The whole list: ranked posts with placed ones merged in.
    pub posts: Vec<ListItem>,
    /// Posts served before this list was computed, when it continues a
    /// paging whose earlier list is gone.
    pub earlier: Served,
}

impl Session {
    /// The bytes it holds, allocator overhead included, for the in-memory
    /// cache's bound: the bound is what the process spends on lists.
    fn weight(&self) -> u32 {
        let items: usize = self
            .posts
            .iter()
            .map(|p| heap_bytes(p.post.capacity()) + heap_bytes(p.context.capacity()))
            .sum();
        let total = size_of::<Session>()
            + ENTRY_OVERHEAD
            + heap_bytes(self.posts.capacity() * size_of::<ListItem>())
            + items
            + heap_bytes(self.earlier.len() * 8)
            + heap_bytes(self.feed.capacity())
            + self.viewer.as_ref().map_or(0, |v| heap_bytes(v.capacity()));
        total.min(u32::MAX as usize) as u32
    }
}

/// What an allocation of `len` bytes costs: malloc rounds up to 16 bytes
/// and keeps an 8-byte header; nothing when nothing is allocated.
fn heap_bytes(len: usize) -> usize {
    if len == 0 {
        0
    } else {
        (len + 8).next_multiple_of(16)
    }
}

/// What the cache spends per entry beside the value: its key, the `Arc`,
/// and moka's bookkeeping (an estimate, measured with the soak).
const ENTRY_OVERHEAD: usize = 128;

/// Hashes of the posts a paging has served, in order.
pub type Served = Arc<[u64]>;

/// A post's hash in a [`Served`] set: FNV-1a, stable across processes and
/// versions, so any replica reads another's set.
pub fn served_hash(uri: &str) -> u64 {
    uri.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Ranked lists behind live cursors and what each paging served.
///
/// Lists never change once made, so each process keeps the ones it made or
/// read in memory, decoded. With a shared store (Redis) they are also
/// written there, for the other replicas, and what pagings served lives
/// only there (it changes with every page); with a store no other process
/// sees, both stay in memory and nothing is encoded.
pub struct Sessions {
    store: Arc<dyn Store>,
    health: StoreHealth,
    list_ttl: Duration,
    served_ttl: Duration,
    keys: CursorKeys,
    lists: Cache<u64, Arc<Session>>,
    /// What pagings served, when the store is not shared.
    served: Cache<u64, Served>,
}

/// The `op`s of the store calls sessions make, as [`StoreHealth`] counts
/// their failures.
const STORE_LIST: &str = "store_list";
const STORE_SERVED: &str = "store_served";
const READ_CURSOR_STATE: &str = "read_cursor_state";

impl Sessions {
    pub fn new(
        config: &SessionConfig,
        keys: CursorKeys,
        store: Arc<dyn Store>,
        health: StoreHealth,
    ) -> Self {
        let list_ttl = Duration::from_secs(config.ttl_secs);
        let served_ttl = Duration::from_secs(config.served_ttl_secs);
        health.register_ops(&[STORE_LIST, STORE_SERVED, READ_CURSOR_STATE]);
        Sessions {
            store,
            health,
            list_ttl,
            served_ttl,
            keys,
            lists: Cache::builder()
                .max_capacity(config.max_bytes)
                .weigher(|_, s: &Arc<Session>| s.weight())
                .time_to_live(list_ttl)
                .build(),
            served: Cache::builder()
                .max_capacity(config.max_served_bytes)
                .weigher(|_, s: &Served| {
                    (heap_bytes(s.len() * 8 + 16) + ENTRY_OVERHEAD).min(u32::MAX as usize) as u32
                })
                .time_to_live(served_ttl)
                .build(),
        }
    }

    /// What this process keeps for pagings: ranked lists and their
    /// weighed bytes, and served sets (`null` when they live in the shared
    /// store).
    pub fn usage(&self) -> serde_json::Value {
        self.lists.run_pending_tasks();
        let served = (!self.store.shared()).then(|| {
            self.served.run_pending_tasks();
            serde_json::json!({
                "count": self.served.entry_count(),
                "bytes": self.served.weighted_size(),
            })
        });
        serde_json::json!({
            "lists": self.lists.entry_count(),
            "list_bytes": self.lists.weighted_size(),
            "served": served,
        })
    }

    /// An id for a paging whose list is not kept (yet).
    pub fn new_id(&self) -> u64 {
        rand::random::<u64>()
    }

    /// Keeps a list under a new id. When the shared store cannot take it,
    /// other replicas recompute the list for its cursors.
    pub async fn insert(&self, session: Arc<Session>) -> u64 {
        let id = self.new_id();
        if self.store.shared() {
            let bytes = codec::encode_session(&session);
            self.health
                .call(
                    STORE_LIST,
                    self.store.cache_set(&list_key(id), &bytes, self.list_ttl),
                )
                .await;
        }
        self.lists.insert(id, session);
        id
    }

    /// The list of session `id`, while it lives.
    pub async fn get(&self, id: u64) -> Option<Arc<Session>> {
        if let Some(session) = self.lists.get(&id) {
            return Some(session);
        }
        if !self.store.shared() {
            return None;
        }
        let bytes = self.read(&list_key(id)).await?;
        let session = codec::decode_session(&bytes)
            .inspect_err(|e| tracing::warn!(error = %e, "unreadable ranked list; recomputing"))
            .ok()?;
        let session = Arc::new(session);
        self.lists.insert(id, Arc::clone(&session));
        Some(session)
    }

    /// Records that the session's pages up to `end` were served.
    pub async fn record_served(&self, id: u64, session: &Session, end: usize) {
        let served: Served = session
            .earlier
            .iter()
            .copied()
            .chain(session.posts[..end].iter().map(|p| served_hash(&p.post)))
            .collect();
        if !self.store.shared() {
            self.served.insert(id, served);
            return;
        }
        let bytes = codec::encode_served(&served);
        self.health
            .call(
                STORE_SERVED,
                self.store
                    .cache_set(&served_key(id), &bytes, self.served_ttl),
            )
            .await;
    }

    /// What the paging of session `id` served, while it is remembered.
    pub async fn served(&self, id: u64) -> Option<Served> {
        if !self.store.shared() {
            return self.served.get(&id);
        }
        let bytes = self.read(&served_key(id)).await?;
        codec::decode_served(&bytes)
            .inspect_err(|e| tracing::warn!(error = %e, "unreadable served set"))
            .ok()
    }

    async fn read(&self, key: &str) -> Option<Vec<u8>> {
        self.health
            .call(READ_CURSOR_STATE, self.store.cache_get(key))
            .await
            .flatten()
    }

    /// The cursor text for `cursor` in `scope`.
    pub fn cursor(&self, cursor: Cursor, scope: CursorScope<'_>) -> String {
        cursor.encode(&self.keys, scope)
    }

    /// Reads a client's cursor; a malformed or forged one is refused.
    pub fn decode(&self, text: &str, scope: CursorScope<'_>) -> Result<Decoded, XrpcError> {
        Cursor::decode(text, &self.keys, scope)
    }
}

fn list_key(id: u64) -> String {
    format!("session:{id:016x}")
}

fn served_key(id: u64) -> String {
    format!("served:{id:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_weighs_at_least_what_its_items_and_strings_occupy() {
        let posts: Vec<ListItem> = (0..1000)
            .map(|i| ListItem {
                post: format!("at://did:plc:abcdefghijklmnopqrstuvwx/app.bsky.feed.post/3k{i:011}"),
                placed: None,
                context: "walk,trending".to_string(),
            })
            .collect();
        let occupied = posts.capacity() * size_of::<ListItem>()
            + posts
                .iter()
                .map(|p| p.post.capacity() + p.context.capacity())
                .sum::<usize>();
        let session = Session {
            feed: "for-you".into(),
            viewer: Some("did:plc:viewer".into()),
            posts,
            earlier: Arc::from(vec![0u64; 10]),
        };
        let weight = session.weight() as usize;
        assert!(weight >= occupied + 80, "{weight} < {occupied}");
        assert!(weight <= occupied * 2, "{weight} far above {occupied}");
        assert_eq!(heap_bytes(0), 0);
        assert_eq!(heap_bytes(1), 16);
        assert_eq!(heap_bytes(8), 16);
        assert_eq!(heap_bytes(9), 32);
    }
}
