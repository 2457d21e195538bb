//! What every backend refuses before touching its storage: one definition,
//! so all backends refuse the same calls with the same errors.

use crate::{Interaction, StoreError};

/// A pool call: a feed name, and no empty post URI.
pub fn pool_update(feed: &str, add: &[String], remove: &[String]) -> Result<(), StoreError> {
    if feed.is_empty() {
        return Err(StoreError::EmptyFeedName);
    }
    if add.iter().chain(remove).any(|uri| uri.is_empty()) {
        return Err(StoreError::EmptyPostUri);
    }
    Ok(())
}

/// Interactions: a viewer, and items that are neither empty nor too long
/// to encode (the embedded codec's limit holds everywhere).
pub fn interactions(viewer: &str, items: &[Interaction]) -> Result<(), StoreError> {
    if viewer.is_empty() {
        return Err(StoreError::InvalidInteraction("empty viewer DID".into()));
    }
    for item in items {
        if item.item.is_empty() {
            return Err(StoreError::InvalidInteraction("empty item URI".into()));
        }
        if item.item.len() > usize::from(u16::MAX) {
            return Err(StoreError::InvalidInteraction(format!(
                "item URI of {} bytes",
                item.item.len()
            )));
        }
    }
    Ok(())
}

/// A lease call: a name and a holder.
pub fn lease(name: &str, holder: &str) -> Result<(), StoreError> {
    if name.is_empty() {
        return Err(StoreError::InvalidLease("empty lease name".into()));
    }
    if holder.is_empty() {
        return Err(StoreError::InvalidLease("empty lease holder".into()));
    }
    Ok(())
}

/// Counters: a group, and fields that are not empty (and a group or
/// field without braces, which Redis keys use as hash tags).
pub fn counts(group: &str, counts: &[(String, u64)]) -> Result<(), StoreError> {
    if group.is_empty() || group.contains(['{', '}']) {
        return Err(StoreError::InvalidCounter(format!("group {group:?}")));
    }
    if let Some((field, _)) = counts.iter().find(|(field, _)| field.is_empty()) {
        return Err(StoreError::InvalidCounter(format!("field {field:?}")));
    }
    Ok(())
}
