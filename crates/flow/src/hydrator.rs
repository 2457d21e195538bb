//! Hydrators: how each [feature](crate::feature) is loaded for a request,
//! and what that costs. product-mixer's query feature hydrators.
//!
//! A hydrator kind registers itself beside its code (name, the features it
//! provides, its cost and budget, and how to build it from the process's
//! [`Resources`]). The runtime builds every registered hydrator once, at
//! start-up ([`Hydrators::build`]); each flow knows which ones its
//! components need, and the executor runs those concurrently before the
//! sources, each timed, budgeted and failing open like a source, under the
//! same per-stage metrics and explain entries (stage `hydrator`).

use std::any::{Any, TypeId, type_name};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::feature::{FeatureKey, FeatureMap};
use crate::{ComponentError, RequestContext};

/// Loads features for one request.
#[async_trait]
pub trait Hydrator: Send + Sync {
    /// Fills the features this hydrator provides for `ctx`; leaving one out
    /// means there is nothing to load (no pool, no history). An error
    /// leaves them all absent, and components read their defaults.
    async fn hydrate(&self, ctx: &RequestContext) -> Result<FeatureMap, ComponentError>;

    /// Hydrators that keep a process-wide copy of what operators set
    /// (pools, special posts) reload it here: at start, after a change
    /// through any replica, and when the configured feeds change. The
    /// others keep nothing and do nothing.
    async fn reload(&self, _scope: Reload<'_>) -> Result<(), ComponentError> {
        Ok(())
    }
}

/// What to reload.
#[derive(Debug, Clone, Copy)]
pub enum Reload<'a> {
    /// Everything, for these configured feeds.
    All { feeds: &'a [String] },
    /// One feed's data, after an operator changed it here.
    Feed(&'a str),
}

/// What loading a feature costs a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cost {
    /// Read from the graph snapshot or an in-process copy: no I/O.
    InProcess,
    /// One bounded store round trip (skipped while the store is down).
    StoreRead,
}

impl Cost {
    pub fn as_str(self) -> &'static str {
        match self {
            Cost::InProcess => "in process",
            Cost::StoreRead => "one store read",
        }
    }
}

/// Builds a hydrator from what the process provides.
pub type BuildHydrator = fn(&Resources) -> Result<Arc<dyn Hydrator>, BuildError>;

/// A hydrator that could not be built: the runtime did not provide what
/// it needs. A wiring mistake, reported at start-up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BuildError(pub String);

/// One registered hydrator kind.
#[derive(Clone, Copy)]
pub struct HydratorKind {
    pub name: &'static str,
    pub description: &'static str,
    /// The features it fills; each feature has exactly one hydrator.
    pub provides: &'static [FeatureKey],
    pub cost: Cost,
    /// Past this (or the request's deadline) it contributes nothing.
    pub budget: Duration,
    pub build: BuildHydrator,
}

/// What the runtime hands hydrators when it builds them: the store, its
/// health, configuration. Keyed by type; a hydrator asks for what it
/// needs, and a missing piece stops start-up with a clear error.
#[derive(Default)]
pub struct Resources {
    entries: BTreeMap<TypeId, Box<dyn Any + Send + Sync>>,
}

impl Resources {
    pub fn new() -> Self {
        Resources::default()
    }

    /// Provides `value` to every hydrator that asks for a `T` (`T` may be
    /// a trait object: `Resources::with::<dyn Store>(store)`).
    pub fn with<T: ?Sized + Send + Sync + 'static>(mut self, value: Arc<T>) -> Self {
        self.entries.insert(TypeId::of::<T>(), Box::new(value));
        self
    }

    /// The `T` provided, or an error naming it.
    pub fn get<T: ?Sized + Send + Sync + 'static>(&self) -> Result<Arc<T>, BuildError> {
        self.entries
            .get(&TypeId::of::<T>())
            .and_then(|value| value.downcast_ref::<Arc<T>>())
            .cloned()
            .ok_or_else(|| {
                BuildError(format!(
                    "needs a {} the runtime did not provide",
                    type_name::<T>()
                ))
            })
    }
}

/// Every registered hydrator, built once for the process.
#[derive(Default)]
pub struct Hydrators {
    built: BTreeMap<&'static str, Arc<dyn Hydrator>>,
}

impl Hydrators {
    /// None at all: for runs whose flows read no features (tools, tests).
    pub fn none() -> Self {
        Hydrators::default()
    }

    /// Builds every hydrator `registry` knows; the error names each one
    /// that could not be built and why.
    pub fn build(registry: &crate::Registry, resources: &Resources) -> Result<Self, BuildError> {
        let mut built = BTreeMap::new();
        let mut errors = Vec::new();
        for kind in registry.hydrators() {
            match (kind.build)(resources) {
                Ok(hydrator) => {
                    built.insert(kind.name, hydrator);
                }
                Err(e) => errors.push(format!("hydrator {:?}: {e}", kind.name)),
            }
        }
        if errors.is_empty() {
            Ok(Hydrators { built })
        } else {
            Err(BuildError(errors.join("; ")))
        }
    }

    pub fn get(&self, name: &str) -> Option<&Arc<dyn Hydrator>> {
        self.built.get(name)
    }

    /// Reloads what every hydrator mirrors; the error names each that
    /// failed (the others reloaded).
    pub async fn reload(&self, scope: Reload<'_>) -> Result<(), ComponentError> {
        let mut errors = Vec::new();
        for (name, hydrator) in &self.built {
            if let Err(e) = hydrator.reload(scope).await {
                errors.push(format!("hydrator {name:?}: {e}"));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ComponentError(errors.join("; ")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    trait Greeter: Send + Sync {
        fn hello(&self) -> &'static str;
    }
    struct En;
    impl Greeter for En {
        fn hello(&self) -> &'static str {
            "hello"
        }
    }

    #[test]
    fn resources_are_found_by_type_including_trait_objects() {
        let greeter: Arc<dyn Greeter> = Arc::new(En);
        let resources = Resources::new()
            .with::<dyn Greeter>(greeter)
            .with(Arc::new(7u32));
        assert_eq!(resources.get::<dyn Greeter>().unwrap().hello(), "hello");
        assert_eq!(*resources.get::<u32>().unwrap(), 7);
        let missing = resources.get::<String>().err().unwrap();
        assert!(missing.0.contains("String"), "{missing}");
    }
}
