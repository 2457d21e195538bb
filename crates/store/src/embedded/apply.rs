//! Applying repository events inside one redb write transaction.
//!
//! The rules are the crate's (see the crate docs): per `(did, rkey)` of a
//! collection the newest `time_us` wins and a deletion wins a tie, and an
//! event stamped before the prune horizon is stale. Likes and posts follow
//! the same rules, likes in their index and log ([`Likes`]), posts in the
//! [`Records`] tables; an account deletion covers both. For that, a live
//! key keeps two times: `logged_us`, where its record sits in the log (its
//! first create), and `newest_us`, the newest create of the key seen,
//! which is what deletions are compared with.
//!
//! Every event reads and writes only state of its own DID (its keys,
//! tombstones and account deletion). So a batch is applied DID by DID,
//! each DID's events in their original order: the outcome is the same as
//! applying in batch order, and a DID's account deletion is read once per
//! batch.

use redb::{ReadableTable, StorageError, Table, TableDefinition, WriteTransaction};

use super::likes::{self, Account, Likes};
use super::schema::{
    ACCOUNT_AGES, ACCOUNT_STATUS_AGES, ACCOUNT_STATUSES, CHANGES_FROM_KEY, DELETED_ACCOUNTS,
    LIKES_VERSION_KEY, LogKey, META, POST_CHANGES, POST_KEYS, POST_LOG, POST_TOMBSTONE_AGES,
    POST_TOMBSTONES, PRUNED_BEFORE_KEY, PostChangeRow, RecordKey, read_horizon, read_seq,
};
use crate::{ApplyStats, RepoEvent, StoreError, post_codec};

/// Applies `events` into `txn`; the caller commits.
pub(super) fn apply(
    txn: &WriteTransaction,
    events: &[RepoEvent],
    changes_kept: u64,
) -> Result<ApplyStats, StoreError> {
    let mut tables = Tables::open(txn)?;
    let horizon = tables.horizon()?;
    let first_seq = tables.seq;
    let mut stats = ApplyStats::default();
    let mut by_did: Vec<&RepoEvent> = events.iter().collect();
    // Stable: each DID's events keep their order.
    by_did.sort_by(|a, b| a.did().cmp(b.did()));
    for run in by_did.chunk_by(|a, b| a.did() == b.did()) {
        tables.apply_did(run, horizon, &mut stats)?;
    }
    if tables.seq != first_seq {
        tables.finish_changes(changes_kept)?;
    }
    tables.likes.finish(&mut tables.meta)?;
    Ok(stats)
}

/// The tables of the posts: the log in time order, the live keys, and the
/// tombstones with their age index. The value is the post's stored form.
pub(super) struct Records<'txn> {
    pub(super) log: Table<'txn, LogKey<'static>, &'static str>,
    pub(super) keys: Table<'txn, RecordKey<'static>, (u64, u64)>,
    pub(super) tombstones: Table<'txn, RecordKey<'static>, u64>,
    pub(super) tombstone_ages: Table<'txn, LogKey<'static>, ()>,
}

/// Table definitions of the posts.
pub(super) struct RecordTables {
    pub(super) log: TableDefinition<'static, LogKey<'static>, &'static str>,
    pub(super) keys: TableDefinition<'static, RecordKey<'static>, (u64, u64)>,
    pub(super) tombstones: TableDefinition<'static, RecordKey<'static>, u64>,
    pub(super) tombstone_ages: TableDefinition<'static, LogKey<'static>, ()>,
}

pub(super) const POST_TABLES: RecordTables = RecordTables {
    log: POST_LOG,
    keys: POST_KEYS,
    tombstones: POST_TOMBSTONES,
    tombstone_ages: POST_TOMBSTONE_AGES,
};

/// What a create did.
enum Created {
    New,
    Duplicate,
    Stale,
}

/// What a delete did.
enum Deleted {
    /// The live record went.
    Removed,
    /// The key was never seen; its tombstone is recorded all the same.
    Missing,
    Stale,
}

impl<'txn> Records<'txn> {
    pub(super) fn open(
        txn: &'txn WriteTransaction,
        defs: &RecordTables,
    ) -> Result<Self, StoreError> {
        Ok(Records {
            log: txn.open_table(defs.log)?,
            keys: txn.open_table(defs.keys)?,
            tombstones: txn.open_table(defs.tombstones)?,
            tombstone_ages: txn.open_table(defs.tombstone_ages)?,
        })
    }

    /// Records the tombstone of `(did, rkey)` at `time_us`, and indexes it
    /// by its time.
    pub(super) fn set_tombstone(
        &mut self,
        did: &str,
        rkey: &str,
        time_us: u64,
    ) -> Result<(), StorageError> {
        let old = self
            .tombstones
            .insert((did, rkey), time_us)?
            .map(|at| at.value());
        if let Some(old) = old {
            self.tombstone_ages.remove((old, did, rkey))?;
        }
        self.tombstone_ages.insert((time_us, did, rkey), ())?;
        Ok(())
    }

    fn create(
        &mut self,
        account: &Account<'_>,
        rkey: &str,
        value: &str,
        time_us: u64,
    ) -> Result<Created, StorageError> {
        let did = account.did;
        if self.deleted_since(account, rkey, time_us)? {
            return Ok(Created::Stale);
        }
        // Insert first and undo on a duplicate: new records, by far the
        // common case, then cost one B-tree descent instead of two.
        let previous = self
            .keys
            .insert((did, rkey), (time_us, time_us))?
            .map(|times| times.value());
        Ok(match previous {
            Some((logged_us, newest_us)) => {
                self.keys
                    .insert((did, rkey), (logged_us, newest_us.max(time_us)))?;
                Created::Duplicate
            }
            None => {
                self.log.insert((time_us, did, rkey), value)?;
                Created::New
            }
        })
    }

    fn delete(
        &mut self,
        account: &Account<'_>,
        rkey: &str,
        time_us: u64,
    ) -> Result<Deleted, StorageError> {
        let did = account.did;
        let existing = self.keys.get((did, rkey))?.map(|times| times.value());
        Ok(match existing {
            Some((logged_us, newest_us)) if newest_us <= time_us => {
                self.keys.remove((did, rkey))?;
                self.log.remove((logged_us, did, rkey))?;
                self.set_tombstone(did, rkey, time_us)?;
                Deleted::Removed
            }
            // The key was created again after this delete: the delete is a
            // replay from before that.
            Some(_) => Deleted::Stale,
            None if self.deleted_since(account, rkey, time_us)? => Deleted::Stale,
            None => {
                self.set_tombstone(did, rkey, time_us)?;
                Deleted::Missing
            }
        })
    }

    /// Removes every record of `account` not created again after
    /// `time_us`; returns how many went.
    fn remove_account(&mut self, did: &str, time_us: u64) -> Result<u64, StorageError> {
        // (did, "") sorts before every key of the DID: the DID's records
        // are the run of keys from there that still start with it.
        let mut doomed = Vec::new();
        for entry in self.keys.range((did, "")..)? {
            let (key, times) = entry?;
            let (key_did, rkey) = key.value();
            if key_did != did {
                break;
            }
            let (logged_us, newest_us) = times.value();
            if newest_us <= time_us {
                doomed.push((rkey.to_owned(), logged_us));
            }
        }
        for (rkey, logged_us) in &doomed {
            self.keys.remove((did, rkey.as_str()))?;
            self.log.remove((*logged_us, did, rkey.as_str()))?;
        }
        Ok(doomed.len() as u64)
    }

    /// True when a delete of the key or of the whole account at or after
    /// `time_us` is recorded, which makes an event at `time_us` stale.
    fn deleted_since(
        &self,
        account: &Account<'_>,
        rkey: &str,
        time_us: u64,
    ) -> Result<bool, StorageError> {
        Ok(account.deleted_since(time_us)
            || self
                .tombstones
                .get((account.did, rkey))?
                .is_some_and(|at| at.value() >= time_us))
    }
}

pub(super) struct Tables<'txn> {
    pub(super) likes: Likes<'txn>,
    pub(super) posts: Records<'txn>,
    pub(super) accounts: Table<'txn, &'static str, u64>,
    pub(super) account_ages: Table<'txn, (u64, &'static str), ()>,
    /// `did → (time_us, hidden)`: see [`Tables::set_status`].
    pub(super) statuses: Table<'txn, &'static str, (u64, bool)>,
    pub(super) status_ages: Table<'txn, (u64, &'static str), ()>,
    post_changes: Table<'txn, u64, PostChangeRow<'static>>,
    pub(super) meta: Table<'txn, &'static str, &'static [u8]>,
    /// The newest change's number.
    seq: u64,
}

/// The kinds of post change (`PostChangeRow`'s fourth field).
pub(super) mod post_change {
    /// The post entered the index; the row carries its stored form.
    pub(crate) const ADDED: u8 = 1;
    /// The post was deleted (live or not: a delete of a post the index
    /// never held still hides it).
    pub(crate) const REMOVED: u8 = 2;
    /// The account was deleted: every post of the DID goes (`rkey` empty).
    pub(crate) const ACCOUNT_DELETED: u8 = 3;
    /// The account became inactive (`rkey` empty).
    pub(crate) const ACCOUNT_HIDDEN: u8 = 4;
    /// The inactive account is active again (`rkey` empty).
    pub(crate) const ACCOUNT_REVEALED: u8 = 5;
}

impl<'txn> Tables<'txn> {
    pub(super) fn open(txn: &'txn WriteTransaction) -> Result<Self, StoreError> {
        let meta = txn.open_table(META)?;
        let seq = read_seq(meta.get(LIKES_VERSION_KEY)?.map(|v| v.value().to_vec()))?;
        Ok(Tables {
            likes: Likes::open(txn, &meta)?,
            posts: Records::open(txn, &POST_TABLES)?,
            accounts: txn.open_table(DELETED_ACCOUNTS)?,
            account_ages: txn.open_table(ACCOUNT_AGES)?,
            statuses: txn.open_table(ACCOUNT_STATUSES)?,
            status_ages: txn.open_table(ACCOUNT_STATUS_AGES)?,
            post_changes: txn.open_table(POST_CHANGES)?,
            meta,
            seq,
        })
    }

    /// The prune horizon: events stamped before it are stale (0 before
    /// the first prune).
    pub(super) fn horizon(&self) -> Result<u64, StoreError> {
        read_horizon(
            self.meta
                .get(PRUNED_BEFORE_KEY)?
                .map(|v| v.value().to_vec()),
        )
    }

    /// Numbers a change to the posts.
    fn record_post(
        &mut self,
        did: &str,
        rkey: &str,
        time_us: u64,
        kind: u8,
        stored: &str,
    ) -> Result<(), StorageError> {
        self.seq += 1;
        self.post_changes
            .insert(self.seq, (did, rkey, time_us, kind, stored))?;
        Ok(())
    }

    /// Stores the newest change's number and drops post changes past the
    /// kept tail (the like records stay in the log: `changes_from` says
    /// where the changes served start).
    fn finish_changes(&mut self, kept: u64) -> Result<(), StoreError> {
        self.meta
            .insert(LIKES_VERSION_KEY, self.seq.to_le_bytes().as_slice())?;
        if let Some(cutoff) = self.seq.checked_sub(kept) {
            self.post_changes.retain_in(..=cutoff, |_, _| false)?;
            let from = super::schema::read_u64(
                "changes start",
                self.meta.get(CHANGES_FROM_KEY)?.map(|v| v.value().to_vec()),
            )?;
            if from <= cutoff {
                self.meta
                    .insert(CHANGES_FROM_KEY, (cutoff + 1).to_le_bytes().as_slice())?;
            }
        }
        Ok(())
    }

    /// Records the deletion of account `did` at `time_us`, and indexes it
    /// by its time.
    fn set_account_deleted(&mut self, did: &str, time_us: u64) -> Result<(), StorageError> {
        let old = self.accounts.insert(did, time_us)?.map(|at| at.value());
        if let Some(old) = old {
            self.account_ages.remove((old, did))?;
        }
        self.account_ages.insert((time_us, did), ())?;
        Ok(())
    }

    /// Applies the events of one DID, in order; those stamped before
    /// `horizon` are stale.
    fn apply_did(
        &mut self,
        events: &[&RepoEvent],
        horizon: u64,
        stats: &mut ApplyStats,
    ) -> Result<(), StoreError> {
        let did = events[0].did();
        let mut account = Account {
            did,
            packed: feedmixer_atproto::DidRef::parse(did),
            deleted_at: self.accounts.get(did)?.map(|at| at.value()),
        };
        for event in events {
            if event.time_us() < horizon {
                stats.stale += 1;
                continue;
            }
            match event {
                RepoEvent::LikeCreate {
                    rkey,
                    subject,
                    time_us,
                    ..
                } => match self
                    .likes
                    .create(&account, rkey, subject, *time_us, &mut self.seq)?
                {
                    likes::Created::New => stats.created += 1,
                    likes::Created::Duplicate => stats.duplicates += 1,
                    likes::Created::Stale => stats.stale += 1,
                },
                RepoEvent::LikeDelete { rkey, time_us, .. } => {
                    match self.likes.delete(&account, rkey, *time_us, &mut self.seq)? {
                        likes::Deleted::Removed => stats.deleted += 1,
                        likes::Deleted::Missing => stats.missing_deletes += 1,
                        likes::Deleted::Stale => stats.stale += 1,
                    }
                }
                RepoEvent::PostCreate {
                    rkey,
                    time_us,
                    post,
                    ..
                } => {
                    let stored = post_codec::encode(post);
                    match self.posts.create(&account, rkey, &stored, *time_us)? {
                        Created::New => {
                            self.record_post(did, rkey, *time_us, post_change::ADDED, &stored)?;
                            stats.posts_created += 1;
                        }
                        Created::Duplicate => stats.duplicates += 1,
                        Created::Stale => stats.stale += 1,
                    }
                }
                RepoEvent::PostDelete { rkey, time_us, .. } => {
                    match self.posts.delete(&account, rkey, *time_us)? {
                        Deleted::Removed => {
                            self.record_post(did, rkey, *time_us, post_change::REMOVED, "")?;
                            stats.posts_deleted += 1;
                        }
                        Deleted::Missing => {
                            self.record_post(did, rkey, *time_us, post_change::REMOVED, "")?;
                            stats.missing_deletes += 1;
                        }
                        Deleted::Stale => stats.stale += 1,
                    }
                }
                RepoEvent::AccountDeleted { time_us, .. } => {
                    self.delete_account(&mut account, *time_us, stats)?
                }
                RepoEvent::AccountStatus {
                    time_us, active, ..
                } => self.set_status(&account, *time_us, !active, stats)?,
            }
        }
        Ok(())
    }

    fn delete_account(
        &mut self,
        account: &mut Account<'_>,
        time_us: u64,
        stats: &mut ApplyStats,
    ) -> Result<(), StoreError> {
        let did = account.did;
        if account.deleted_since(time_us) {
            stats.stale += 1;
            return Ok(());
        }
        account.deleted_at = Some(time_us);
        self.set_account_deleted(did, time_us)?;
        let removed = self.likes.remove_account(did, time_us, &mut self.seq)?;
        let posts = self.posts.remove_account(did, time_us)?;
        // Its status from before goes with it (a status event from before
        // the deletion is stale by the deletion's time).
        let status = self.statuses.get(did)?.map(|v| v.value());
        if let Some((at, _)) = status.filter(|(at, _)| *at <= time_us) {
            self.statuses.remove(did)?;
            self.status_ages.remove((at, did))?;
        }
        self.record_post(did, "", time_us, post_change::ACCOUNT_DELETED, "")?;
        stats.accounts_deleted += 1;
        stats.likes_removed_by_account += removed;
        stats.posts_removed_by_account += posts;
        Ok(())
    }

    /// Applies a status event of `account` at `time_us` (see the crate
    /// docs): the newest wins, inactive wins a tie.
    fn set_status(
        &mut self,
        account: &Account<'_>,
        time_us: u64,
        hidden: bool,
        stats: &mut ApplyStats,
    ) -> Result<(), StorageError> {
        let did = account.did;
        let recorded = self.statuses.get(did)?.map(|v| v.value());
        let newer = match recorded {
            _ if account.deleted_since(time_us) => false,
            None => true,
            Some((at, was_hidden)) => time_us > at || (time_us == at && hidden && !was_hidden),
        };
        if !newer {
            stats.stale += 1;
            return Ok(());
        }
        if let Some((at, _)) = recorded {
            self.status_ages.remove((at, did))?;
        }
        self.statuses.insert(did, (time_us, hidden))?;
        self.status_ages.insert((time_us, did), ())?;
        let was_hidden = recorded.is_some_and(|(_, was_hidden)| was_hidden);
        match (was_hidden, hidden) {
            (false, true) => {
                self.record_post(did, "", time_us, post_change::ACCOUNT_HIDDEN, "")?;
                stats.accounts_hidden += 1;
            }
            (true, false) => {
                self.record_post(did, "", time_us, post_change::ACCOUNT_REVEALED, "")?;
                stats.accounts_revealed += 1;
            }
            // The same status as before (an account with no status is
            // active): only its time moves.
            _ => stats.stale += 1,
        }
        Ok(())
    }
}
