//! Features: the per-request data components read (the feed's pool, its
//! special posts, the viewer's feedback), each under a typed key in the
//! request's [`FeatureMap`]. product-mixer's query features, in our terms.
//!
//! A component never fetches: its kind declares the features it reads
//! ([`crate::registry::Kind::reads`]), one [hydrator](crate::hydrator)
//! provides each feature, and the executor runs the hydrators a flow needs
//! before its stages. A feature that is absent (nothing to load, or its
//! hydrator failed or ran out of budget) reads as `None`: every component
//! has a meaning for that, usually "no restriction".

use std::any::{Any, TypeId};
use std::fmt;
use std::sync::Arc;

/// A feature's key type: names the feature and the type of its value.
pub trait Feature: 'static {
    type Value: Send + Sync + 'static;
    /// Names the feature in flow errors, explain traces and docs.
    const NAME: &'static str;
}

/// A feature key as a value, for declarations: what a kind reads, what a
/// hydrator provides.
#[derive(Clone, Copy)]
pub struct FeatureKey {
    pub name: &'static str,
    type_id: fn() -> TypeId,
}

impl FeatureKey {
    pub const fn of<F: Feature>() -> FeatureKey {
        FeatureKey {
            name: F::NAME,
            type_id: TypeId::of::<F>,
        }
    }

    fn id(&self) -> TypeId {
        (self.type_id)()
    }
}

impl PartialEq for FeatureKey {
    fn eq(&self, other: &Self) -> bool {
        self.id() == other.id()
    }
}

impl Eq for FeatureKey {}

impl fmt::Debug for FeatureKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

type Value = Arc<dyn Any + Send + Sync>;

/// A request's features by key. A handful per request, so a list: a scan
/// beats hashing.
#[derive(Clone, Default)]
pub struct FeatureMap {
    entries: Vec<(FeatureKey, Value)>,
}

impl FeatureMap {
    pub fn new() -> Self {
        FeatureMap::default()
    }

    /// Sets feature `F` (replacing an earlier value).
    pub fn insert<F: Feature>(&mut self, value: Arc<F::Value>) {
        self.set(FeatureKey::of::<F>(), value);
    }

    /// Feature `F`, when it was hydrated.
    pub fn get<F: Feature>(&self) -> Option<&F::Value> {
        let key = FeatureKey::of::<F>();
        self.entries
            .iter()
            .find(|(k, _)| *k == key)
            .and_then(|(_, v)| v.downcast_ref::<F::Value>())
    }

    /// Whether feature `key` was hydrated.
    pub fn contains(&self, key: FeatureKey) -> bool {
        self.entries.iter().any(|(k, _)| *k == key)
    }

    /// The keys present, in insertion order.
    pub fn keys(&self) -> impl Iterator<Item = FeatureKey> + '_ {
        self.entries.iter().map(|(k, _)| *k)
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Moves `other`'s features whose key is in `allowed` into this map;
    /// returns the keys of those it dropped (a hydrator filling features it
    /// does not declare is a bug the caller reports).
    pub fn merge(&mut self, other: FeatureMap, allowed: &[FeatureKey]) -> Vec<FeatureKey> {
        let mut dropped = Vec::new();
        for (key, value) in other.entries {
            if allowed.contains(&key) {
                self.set(key, value);
            } else {
                dropped.push(key);
            }
        }
        dropped
    }

    fn set(&mut self, key: FeatureKey, value: Value) {
        match self.entries.iter_mut().find(|(k, _)| *k == key) {
            Some(entry) => entry.1 = value,
            None => self.entries.push((key, value)),
        }
    }
}

impl fmt::Debug for FeatureMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.keys()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Count;
    impl Feature for Count {
        type Value = u32;
        const NAME: &'static str = "count";
    }

    struct Label;
    impl Feature for Label {
        type Value = String;
        const NAME: &'static str = "label";
    }

    #[test]
    fn values_are_typed_by_key() {
        let mut map = FeatureMap::new();
        assert!(map.get::<Count>().is_none());
        map.insert::<Count>(Arc::new(3));
        map.insert::<Label>(Arc::new("x".into()));
        map.insert::<Count>(Arc::new(4));
        assert_eq!(map.get::<Count>(), Some(&4));
        assert_eq!(map.get::<Label>().map(String::as_str), Some("x"));
        assert_eq!(map.keys().count(), 2);
        assert_eq!(FeatureKey::of::<Count>(), FeatureKey::of::<Count>());
        assert_ne!(FeatureKey::of::<Count>(), FeatureKey::of::<Label>());
    }

    #[test]
    fn merge_keeps_only_declared_features() {
        let mut filled = FeatureMap::new();
        filled.insert::<Count>(Arc::new(1));
        filled.insert::<Label>(Arc::new("stray".into()));
        let mut map = FeatureMap::new();
        let dropped = map.merge(filled, &[FeatureKey::of::<Count>()]);
        assert_eq!(dropped, vec![FeatureKey::of::<Label>()]);
        assert!(map.contains(FeatureKey::of::<Count>()));
        assert!(map.get::<Label>().is_none());
    }
}
