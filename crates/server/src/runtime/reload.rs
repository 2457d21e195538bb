//! Hot reload of flows and feeds: a file watcher, a debounce, and one
//! [`Catalog::load`] per burst of edits — the same validation as start-up
//! and `feedmixer check`. A valid catalog is swapped in whole; an invalid
//! one is logged (`FILE:LINE: reason`), counted, and the running catalog
//! keeps serving. The service config file is not reloaded.
//!
//! Watched, non-recursively: the flows directory (its `*.toml` files), the
//! feeds file's directory (the feeds file only, so editors that save by
//! writing a temporary file and renaming it work) and the flows
//! directory's parent (so a flows directory that is deleted, replaced or
//! renamed into place is watched again).

use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use feedmixer_flow::{Catalog, Diagnostic};
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::AppState;

/// How long the files must stay quiet before a reload, and the longest a
/// burst of edits can put one off: an edit is live within
/// `max_wait` plus the time of one load, well under 2 s.
#[derive(Debug, Clone, Copy)]
pub struct Debounce {
    pub quiet: Duration,
    pub max_wait: Duration,
}

impl Default for Debounce {
    fn default() -> Self {
        Debounce {
            quiet: Duration::from_millis(250),
            max_wait: Duration::from_secs(1),
        }
    }
}

/// Where the catalog comes from: the paths start-up loaded it from.
#[derive(Debug, Clone)]
pub struct ConfigPaths {
    pub flows_dir: PathBuf,
    pub feeds_file: PathBuf,
}

/// A watch could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("cannot watch {}: {source}", path.display())]
pub struct WatchError {
    pub path: PathBuf,
    #[source]
    pub source: notify::Error,
}

/// The running watcher. Reloads stop when it is dropped.
pub struct ConfigWatcher {
    task: JoinHandle<()>,
}

impl Drop for ConfigWatcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts watching `paths` and reloading `state.catalog` on every burst of
/// edits. Call it after the initial load succeeded; keep the result for as
/// long as the server runs.
pub fn watch(state: Arc<AppState>, paths: ConfigPaths) -> Result<ConfigWatcher, WatchError> {
    crate::metrics::config_reloads_init();
    let load = paths.clone();
    let watcher = watch_with(&paths, Debounce::default(), move || {
        let state = Arc::clone(&state);
        let paths = load.clone();
        async move {
            reload(&state, &paths).await;
        }
    })?;
    tracing::info!(
        flows = %paths.flows_dir.display(),
        feeds = %paths.feeds_file.display(),
        "watching flows and feeds for changes"
    );
    Ok(watcher)
}

/// Loads the catalog again (on the blocking pool) and swaps it in when it
/// is valid, then reloads what operators set for the feeds it serves (a
/// feed just added gets its special posts). Returns whether it was valid.
pub async fn reload(state: &Arc<AppState>, paths: &ConfigPaths) -> bool {
    let loading = {
        let state = Arc::clone(state);
        let paths = paths.clone();
        tokio::task::spawn_blocking(move || {
            Catalog::load(&paths.flows_dir, &paths.feeds_file, &state.registry)
        })
    };
    match loading.await {
        Ok(loaded) => {
            let applied = apply(&state.catalog, loaded);
            if applied && let Err(e) = state.load_feed_data().await {
                tracing::warn!(error = %e, "cannot reload pools and special posts for the new feeds; the refresher retries when they change");
            }
            applied
        }
        Err(e) => {
            tracing::error!(error = %e, "flows and feeds reload failed; still serving the last good version");
            crate::metrics::config_reload(false);
            false
        }
    }
}

/// Swaps in a valid catalog, or keeps the running one and reports every
/// problem of an invalid one. Counts either way.
fn apply(catalog: &ArcSwap<Catalog>, loaded: Result<Catalog, Vec<Diagnostic>>) -> bool {
    match loaded {
        Ok(new) => {
            tracing::info!(
                flows = new.flows.len(),
                feeds = new.feeds.len(),
                "flows and feeds reloaded"
            );
            crate::metrics::experiments_init(&new);
            catalog.store(Arc::new(new));
            crate::metrics::config_reload(true);
            true
        }
        Err(problems) => {
            for problem in &problems {
                tracing::warn!("{problem}");
            }
            tracing::warn!(
                problems = problems.len(),
                "flows and feeds reload rejected; still serving the last good version"
            );
            crate::metrics::config_reload(false);
            false
        }
    }
}

/// What a burst of file events asks for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Change {
    /// The flows directory itself was created, removed or renamed: its
    /// watch must be set up again before loading.
    rewatch_flows: bool,
}

impl Change {
    fn merge(&mut self, other: Change) {
        self.rewatch_flows |= other.rewatch_flows;
    }
}

/// The watched paths, absolute but with symlinks kept (a symlinked flows
/// directory that is repointed is a replaced directory), as the watcher
/// reports them.
#[derive(Debug, Clone)]
struct Watched {
    flows_dir: PathBuf,
    feeds_file: PathBuf,
    presets_file: PathBuf,
}

impl Watched {
    fn new(paths: &ConfigPaths) -> io::Result<Watched> {
        let feeds_file = std::path::absolute(&paths.feeds_file)?;
        Ok(Watched {
            flows_dir: std::path::absolute(&paths.flows_dir)?,
            presets_file: feedmixer_flow::catalog::presets_file(&feeds_file),
            feeds_file,
        })
    }

    /// The directories to watch, each once: the flows directory first.
    fn dirs(&self) -> Vec<PathBuf> {
        let mut dirs = vec![self.flows_dir.clone()];
        for dir in [self.flows_dir.parent(), self.feeds_file.parent()]
            .into_iter()
            .flatten()
        {
            if !dirs.iter().any(|d| d == dir) {
                dirs.push(dir.to_path_buf());
            }
        }
        dirs
    }

    /// Whether an event can change what [`Catalog::load`] reads.
    fn classify(&self, event: &Event) -> Option<Change> {
        if event.need_rescan() {
            return Some(Change {
                rewatch_flows: true,
            });
        }
        // Opens and closes, our own loads' among them, change nothing.
        if matches!(event.kind, EventKind::Access(_)) {
            return None;
        }
        let mut change: Option<Change> = None;
        for path in &event.paths {
            let this = if *path == self.flows_dir {
                Change {
                    rewatch_flows: true,
                }
            } else if *path == self.feeds_file
                || *path == self.presets_file
                || self.is_flow_file(path)
                || self.is_volume_swap(path)
            {
                Change::default()
            } else {
                continue;
            };
            change.get_or_insert_default().merge(this);
        }
        change
    }

    /// A file [`Catalog::load`] reads as a flow: `*.toml` right in the
    /// flows directory.
    fn is_flow_file(&self, path: &Path) -> bool {
        path.parent() == Some(&self.flows_dir) && path.extension().is_some_and(|e| e == "toml")
    }

    /// Kubernetes ConfigMap and Secret volumes update by repointing the
    /// `..data` symlink the files link through; the files themselves see
    /// no event.
    fn is_volume_swap(&self, path: &Path) -> bool {
        path.file_name().is_some_and(|n| n == "..data")
            && (path.parent() == Some(&self.flows_dir) || path.parent() == self.feeds_file.parent())
    }
}

/// Watches `paths` and calls `on_change` once per debounced burst of
/// relevant edits.
fn watch_with<F, Fut>(
    paths: &ConfigPaths,
    timing: Debounce,
    on_change: F,
) -> Result<ConfigWatcher, WatchError>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let watched = Watched::new(paths).map_err(|e| WatchError {
        path: paths.flows_dir.clone(),
        source: notify::Error::io(e),
    })?;
    let (tx, rx) = unbounded_channel();
    let mut watcher = {
        let watched = watched.clone();
        notify::recommended_watcher(move |event| forward(&watched, &tx, event))
    }
    .map_err(|source| WatchError {
        path: watched.flows_dir.clone(),
        source,
    })?;
    for dir in watched.dirs() {
        watcher
            .watch(&dir, RecursiveMode::NonRecursive)
            .map_err(|source| WatchError { path: dir, source })?;
    }
    let task = tokio::spawn(run(watcher, watched.flows_dir, rx, timing, on_change));
    Ok(ConfigWatcher { task })
}

/// The watcher's callback (on its own thread): passes relevant events on.
fn forward(watched: &Watched, tx: &UnboundedSender<Change>, event: notify::Result<Event>) {
    let change = match event {
        Ok(event) => watched.classify(&event),
        Err(e) => {
            // Events may have been lost: reload to be sure.
            tracing::warn!(error = %e, "watching flows and feeds");
            Some(Change {
                rewatch_flows: true,
            })
        }
    };
    if let Some(change) = change {
        let _ = tx.send(change);
    }
}

async fn run<F, Fut>(
    mut watcher: RecommendedWatcher,
    flows_dir: PathBuf,
    mut rx: UnboundedReceiver<Change>,
    timing: Debounce,
    mut on_change: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    while let Some(change) = next_burst(&mut rx, timing).await {
        if change.rewatch_flows {
            rewatch(&mut watcher, &flows_dir);
        }
        on_change().await;
    }
}

/// Watches the flows directory again, whatever is at its path now. A
/// missing directory stays unwatched until it is created (the parent's
/// watch sees that); the load reports it.
fn rewatch(watcher: &mut RecommendedWatcher, flows_dir: &Path) {
    let _ = watcher.unwatch(flows_dir);
    if let Err(e) = watcher.watch(flows_dir, RecursiveMode::NonRecursive) {
        tracing::debug!(error = %e, dir = %flows_dir.display(), "flows directory not watched");
    }
}

/// Waits for a change, then until `quiet` passes without another or
/// `max_wait` since the first; returns the burst's changes merged, or
/// `None` once no more can come.
async fn next_burst(rx: &mut UnboundedReceiver<Change>, timing: Debounce) -> Option<Change> {
    let mut change = rx.recv().await?;
    let cap = Instant::now() + timing.max_wait;
    loop {
        let deadline = (Instant::now() + timing.quiet).min(cap);
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(more)) => change.merge(more),
            Ok(None) | Err(_) => return Some(change),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use notify::event::{AccessKind, CreateKind, ModifyKind, RemoveKind, RenameMode};

    use super::*;

    const TIMING: Debounce = Debounce {
        quiet: Duration::from_millis(250),
        max_wait: Duration::from_secs(1),
    };

    fn watched() -> Watched {
        Watched {
            flows_dir: PathBuf::from("/srv/fm/flows"),
            feeds_file: PathBuf::from("/srv/fm/config/feeds.toml"),
            presets_file: PathBuf::from("/srv/fm/config/presets.toml"),
        }
    }

    fn event(kind: EventKind, paths: &[&str]) -> Event {
        paths
            .iter()
            .fold(Event::new(kind), |e, p| e.add_path(PathBuf::from(p)))
    }

    fn modified(path: &str) -> Event {
        event(EventKind::Modify(ModifyKind::Any), &[path])
    }

    #[test]
    fn flow_files_and_the_feeds_file_count() {
        let w = watched();
        for path in [
            "/srv/fm/flows/trending.toml",
            "/srv/fm/flows/new.toml",
            "/srv/fm/config/feeds.toml",
            "/srv/fm/config/presets.toml",
            "/srv/fm/flows/..data",
            "/srv/fm/config/..data",
        ] {
            assert_eq!(
                w.classify(&modified(path)),
                Some(Change::default()),
                "{path}"
            );
        }
        let created = event(
            EventKind::Create(CreateKind::File),
            &["/srv/fm/flows/new.toml"],
        );
        assert_eq!(w.classify(&created), Some(Change::default()));
        let removed = event(
            EventKind::Remove(RemoveKind::File),
            &["/srv/fm/flows/old.toml"],
        );
        assert_eq!(w.classify(&removed), Some(Change::default()));
    }

    #[test]
    fn unrelated_files_and_reads_do_not_count() {
        let w = watched();
        for path in [
            "/srv/fm/flows/.trending.toml.swp",
            "/srv/fm/flows/trending.toml~",
            "/srv/fm/flows/4913",
            "/srv/fm/flows/sub/x.toml",
            "/srv/fm/config/feedmixer.toml",
            "/srv/fm/config/feeds.toml.tmp",
            "/srv/fm/README.md",
            "/srv/fm/feeds.toml",
        ] {
            assert_eq!(w.classify(&modified(path)), None, "{path}");
        }
        let read = event(
            EventKind::Access(AccessKind::Any),
            &["/srv/fm/flows/trending.toml"],
        );
        assert_eq!(w.classify(&read), None);
    }

    #[test]
    fn a_save_by_rename_counts_by_its_target() {
        let w = watched();
        let rename = event(
            EventKind::Modify(ModifyKind::Name(RenameMode::Both)),
            &[
                "/srv/fm/config/.feeds.toml.tmp",
                "/srv/fm/config/feeds.toml",
            ],
        );
        assert_eq!(w.classify(&rename), Some(Change::default()));
    }

    #[test]
    fn a_replaced_flows_directory_is_watched_again() {
        let w = watched();
        let rewatch = Some(Change {
            rewatch_flows: true,
        });
        let removed = event(EventKind::Remove(RemoveKind::Folder), &["/srv/fm/flows"]);
        assert_eq!(w.classify(&removed), rewatch);
        let moved_in = event(
            EventKind::Modify(ModifyKind::Name(RenameMode::Both)),
            &["/srv/fm/flows.new", "/srv/fm/flows"],
        );
        assert_eq!(w.classify(&moved_in), rewatch);
        let rescan = Event::new(EventKind::Other).set_flag(notify::event::Flag::Rescan);
        assert_eq!(w.classify(&rescan), rewatch);
    }

    #[test]
    fn dirs_are_watched_once() {
        let w = watched();
        assert_eq!(
            w.dirs(),
            ["/srv/fm/flows", "/srv/fm", "/srv/fm/config"].map(PathBuf::from)
        );
        let beside = Watched {
            flows_dir: PathBuf::from("/srv/fm/flows"),
            feeds_file: PathBuf::from("/srv/fm/feeds.toml"),
            presets_file: PathBuf::from("/srv/fm/presets.toml"),
        };
        assert_eq!(
            beside.dirs(),
            ["/srv/fm/flows", "/srv/fm"].map(PathBuf::from)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_is_one_change_after_it_goes_quiet() {
        let (tx, mut rx) = unbounded_channel();
        let started = Instant::now();
        tokio::spawn(async move {
            for i in 0..4 {
                let _ = tx.send(Change {
                    rewatch_flows: i == 1,
                });
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            tokio::time::sleep(Duration::from_secs(5)).await;
        });
        let change = next_burst(&mut rx, TIMING).await;
        assert_eq!(
            change,
            Some(Change {
                rewatch_flows: true
            })
        );
        // The last event came at 300 ms; quiet for 250 ms after it.
        assert_eq!(started.elapsed(), Duration::from_millis(550));
    }

    #[tokio::test(start_paused = true)]
    async fn an_endless_burst_still_reloads_within_max_wait() {
        let (tx, mut rx) = unbounded_channel();
        tokio::spawn(async move {
            loop {
                if tx.send(Change::default()).is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        let started = Instant::now();
        next_burst(&mut rx, TIMING).await.unwrap();
        assert_eq!(started.elapsed(), TIMING.max_wait);
        let second = Instant::now();
        next_burst(&mut rx, TIMING).await.unwrap();
        assert!(second.elapsed() <= TIMING.max_wait);
    }

    #[tokio::test(start_paused = true)]
    async fn no_watcher_no_burst() {
        let (tx, mut rx) = unbounded_channel();
        tx.send(Change::default()).unwrap();
        drop(tx);
        assert_eq!(next_burst(&mut rx, TIMING).await, Some(Change::default()));
        assert_eq!(next_burst(&mut rx, TIMING).await, None);
    }

    const FLOW: &str = "[[sources]]\nkind = \"trending\"\n\n[ranker]\nkind = \"weighted_sum\"\n";

    fn feeds(names: &[&str]) -> String {
        names
            .iter()
            .map(|n| format!("[feeds.{n}]\nflow = \"hot\"\n"))
            .collect()
    }

    fn load(dir: &Path) -> Result<Catalog, Vec<Diagnostic>> {
        Catalog::load(
            &dir.join("flows"),
            &dir.join("feeds.toml"),
            &feedmixer_components::registry(),
        )
    }

    #[test]
    fn a_valid_catalog_replaces_the_running_one_and_an_invalid_one_does_not() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("flows")).unwrap();
        std::fs::write(dir.path().join("flows/hot.toml"), FLOW).unwrap();
        std::fs::write(dir.path().join("feeds.toml"), feeds(&["a"])).unwrap();
        let catalog = ArcSwap::from_pointee(load(dir.path()).unwrap());

        std::fs::write(dir.path().join("feeds.toml"), feeds(&["a", "b"])).unwrap();
        assert!(apply(&catalog, load(dir.path())));
        assert!(catalog.load().feed("b").is_some());

        std::fs::write(dir.path().join("flows/hot.toml"), "max_results = 0\n").unwrap();
        std::fs::write(dir.path().join("feeds.toml"), feeds(&["c"])).unwrap();
        assert!(!apply(&catalog, load(dir.path())));
        let running = catalog.load();
        assert!(running.feed("a").is_some() && running.feed("b").is_some());
        assert!(running.feed("c").is_none());
    }

    /// Counts `on_change` calls of a real watcher over a temp dir.
    struct Harness {
        dir: tempfile::TempDir,
        calls: Arc<AtomicUsize>,
        _watcher: ConfigWatcher,
    }

    impl Harness {
        fn start() -> Harness {
            let dir = tempfile::tempdir().unwrap();
            std::fs::create_dir_all(dir.path().join("flows")).unwrap();
            std::fs::create_dir_all(dir.path().join("config")).unwrap();
            std::fs::write(dir.path().join("flows/hot.toml"), FLOW).unwrap();
            std::fs::write(dir.path().join("config/feeds.toml"), feeds(&["a"])).unwrap();
            let paths = ConfigPaths {
                flows_dir: dir.path().join("flows"),
                feeds_file: dir.path().join("config/feeds.toml"),
            };
            let calls = Arc::new(AtomicUsize::new(0));
            let counted = Arc::clone(&calls);
            let timing = Debounce {
                quiet: Duration::from_millis(100),
                max_wait: Duration::from_millis(500),
            };
            let load = paths.clone();
            let watcher = watch_with(&paths, timing, move || {
                let counted = Arc::clone(&counted);
                // Read what a load reads: reads must not trigger reloads.
                let paths = load.clone();
                async move {
                    let _ = Catalog::load(
                        &paths.flows_dir,
                        &paths.feeds_file,
                        &feedmixer_components::registry(),
                    );
                    counted.fetch_add(1, Ordering::SeqCst);
                }
            })
            .unwrap();
            Harness {
                dir,
                calls,
                _watcher: watcher,
            }
        }

        fn path(&self, rel: &str) -> PathBuf {
            self.dir.path().join(rel)
        }

        /// Waits until `on_change` ran `n` times in all, then a little
        /// longer to catch any extra call.
        async fn expect_calls(&self, n: usize, what: &str) {
            let deadline = Instant::now() + Duration::from_secs(2);
            while self.calls.load(Ordering::SeqCst) < n && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            tokio::time::sleep(Duration::from_millis(400)).await;
            assert_eq!(self.calls.load(Ordering::SeqCst), n, "{what}");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_watcher_reloads_once_per_relevant_edit() {
        let h = Harness::start();
        h.expect_calls(0, "nothing changed yet").await;

        std::fs::write(h.path("flows/hot.toml"), "").unwrap();
        std::fs::write(h.path("flows/hot.toml"), FLOW).unwrap();
        h.expect_calls(1, "a burst of writes to a flow").await;

        std::fs::write(h.path("flows/notes.md"), "x").unwrap();
        std::fs::write(h.path("config/feedmixer.toml"), "x").unwrap();
        h.expect_calls(1, "unrelated files").await;

        std::fs::write(h.path("config/.feeds.toml.tmp"), feeds(&["a", "b"])).unwrap();
        std::fs::rename(
            h.path("config/.feeds.toml.tmp"),
            h.path("config/feeds.toml"),
        )
        .unwrap();
        h.expect_calls(2, "the feeds file saved by rename").await;

        std::fs::write(h.path("flows/new.toml"), FLOW).unwrap();
        h.expect_calls(3, "a new flow").await;
        std::fs::remove_file(h.path("flows/new.toml")).unwrap();
        h.expect_calls(4, "a deleted flow").await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_flows_directory_that_goes_and_comes_back_is_watched_again() {
        let h = Harness::start();
        std::fs::rename(h.path("flows"), h.path("flows.old")).unwrap();
        h.expect_calls(1, "the flows directory moved away").await;
        std::fs::write(h.path("flows.old/hot.toml"), "x").unwrap();
        h.expect_calls(1, "the moved directory is no longer watched")
            .await;

        std::fs::create_dir(h.path("flows")).unwrap();
        h.expect_calls(2, "the flows directory is back").await;
        std::fs::write(h.path("flows/hot.toml"), FLOW).unwrap();
        h.expect_calls(3, "a flow in the new directory").await;

        std::fs::remove_file(h.path("flows/hot.toml")).unwrap();
        std::fs::remove_dir(h.path("flows")).unwrap();
        h.expect_calls(4, "the flows directory deleted").await;
        std::fs::rename(h.path("flows.old"), h.path("flows")).unwrap();
        h.expect_calls(5, "a flows directory renamed into place")
            .await;
        std::fs::write(h.path("flows/hot.toml"), FLOW).unwrap();
        h.expect_calls(6, "a flow in the renamed directory").await;
    }
}
