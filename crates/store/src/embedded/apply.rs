//! Applying like events inside one redb write transaction.
//!
//! The rules are the crate's (see the crate docs): per `(did, rkey)` the
//! newest `time_us` wins and a deletion wins a tie. For that, a live key
//! keeps two times: `logged_us`, where its like sits in the log (its first
//! create), and `newest_us`, the newest create of the key seen, which is
//! what deletions are compared with. Each event costs a few point lookups
//! and, when it changes something, one write per table it touches.

use redb::{ReadableTable, StorageError, Table, WriteTransaction};

use super::schema::{DELETED_ACCOUNTS, LIKE_KEYS, LIKE_LOG, LIKERS, LikeKey, TOMBSTONES};
use crate::{ApplyStats, LikeEvent, StoreError};

/// Applies `events` in order into `txn`; the caller commits.
pub(super) fn apply(txn: &WriteTransaction, events: &[LikeEvent]) -> Result<ApplyStats, StoreError> {
    let mut tables = Tables::open(txn)?;
    let mut stats = ApplyStats::default();
    for event in events {
        match event {
            LikeEvent::Create {
                did,
                rkey,
                subject,
                time_us,
            } => tables.create(did, rkey, subject, *time_us, &mut stats)?,
            LikeEvent::Delete { did, rkey, time_us } => {
                tables.delete(did, rkey, *time_us, &mut stats)?
            }
            LikeEvent::AccountDeleted { did, time_us } => {
                tables.delete_account(did, *time_us, &mut stats)?
            }
        }
    }
    Ok(stats)
}

struct Tables<'txn> {
    log: Table<'txn, (u64, &'static str, &'static str), &'static str>,
    keys: Table<'txn, LikeKey<'static>, (u64, u64)>,
    tombstones: Table<'txn, LikeKey<'static>, u64>,
    accounts: Table<'txn, &'static str, u64>,
    likers: Table<'txn, &'static str, u64>,
}

impl<'txn> Tables<'txn> {
    fn open(txn: &'txn WriteTransaction) -> Result<Self, StoreError> {
        Ok(Tables {
            log: txn.open_table(LIKE_LOG)?,
            keys: txn.open_table(LIKE_KEYS)?,
            tombstones: txn.open_table(TOMBSTONES)?,
            accounts: txn.open_table(DELETED_ACCOUNTS)?,
            likers: txn.open_table(LIKERS)?,
        })
    }

    fn create(
        &mut self,
        did: &str,
        rkey: &str,
        subject: &str,
        time_us: u64,
        stats: &mut ApplyStats,
    ) -> Result<(), StorageError> {
        if self.deleted_since(did, rkey, time_us)? {
            stats.stale += 1;
            return Ok(());
        }
        let existing = self.keys.get((did, rkey))?.map(|times| times.value());
        match existing {
            Some((logged_us, newest_us)) => {
                if time_us > newest_us {
                    self.keys.insert((did, rkey), (logged_us, time_us))?;
                }
                stats.duplicates += 1;
            }
            None => {
                self.keys.insert((did, rkey), (time_us, time_us))?;
                self.log.insert((time_us, did, rkey), subject)?;
                self.add_likes(did, 1)?;
                stats.created += 1;
            }
        }
        Ok(())
    }

    fn delete(
        &mut self,
        did: &str,
        rkey: &str,
        time_us: u64,
        stats: &mut ApplyStats,
    ) -> Result<(), StorageError> {
        let existing = self.keys.get((did, rkey))?.map(|times| times.value());
        match existing {
            Some((logged_us, newest_us)) if newest_us <= time_us => {
                self.keys.remove((did, rkey))?;
                self.log.remove((logged_us, did, rkey))?;
                self.remove_likes(did, 1)?;
                self.tombstones.insert((did, rkey), time_us)?;
                stats.deleted += 1;
            }
            // The key was created again after this delete: the delete is a
            // replay from before that.
            Some(_) => stats.stale += 1,
            None if self.deleted_since(did, rkey, time_us)? => stats.stale += 1,
            None => {
                self.tombstones.insert((did, rkey), time_us)?;
                stats.missing_deletes += 1;
            }
        }
        Ok(())
    }

    fn delete_account(
        &mut self,
        did: &str,
        time_us: u64,
        stats: &mut ApplyStats,
    ) -> Result<(), StorageError> {
        if self.accounts.get(did)?.is_some_and(|at| at.value() >= time_us) {
            stats.stale += 1;
            return Ok(());
        }
        self.accounts.insert(did, time_us)?;
        // (did, "") sorts before every key of the DID: the DID's likes are
        // the run of keys from there that still start with it.
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
        let removed = doomed.len() as u64;
        self.remove_likes(did, removed)?;
        stats.accounts_deleted += 1;
        stats.likes_removed_by_account += removed;
        Ok(())
    }

    /// True when a delete of the key or of the whole account at or after
    /// `time_us` is recorded, which makes an event at `time_us` stale.
    fn deleted_since(&self, did: &str, rkey: &str, time_us: u64) -> Result<bool, StorageError> {
        Ok(self
            .accounts
            .get(did)?
            .is_some_and(|at| at.value() >= time_us)
            || self
                .tombstones
                .get((did, rkey))?
                .is_some_and(|at| at.value() >= time_us))
    }

    fn add_likes(&mut self, did: &str, n: u64) -> Result<(), StorageError> {
        let count = self.likers.get(did)?.map_or(0, |count| count.value());
        self.likers.insert(did, count + n)?;
        Ok(())
    }

    /// Drops the DID from the likers when its last like goes.
    fn remove_likes(&mut self, did: &str, n: u64) -> Result<(), StorageError> {
        if n == 0 {
            return Ok(());
        }
        let count = self.likers.get(did)?.map_or(0, |count| count.value());
        if count <= n {
            if count < n {
                tracing::warn!(did, count, n, "liker count below the likes removed");
            }
            self.likers.remove(did)?;
        } else {
            self.likers.insert(did, count - n)?;
        }
        Ok(())
    }
}
