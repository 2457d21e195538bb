//! Kinds by role. Each kind registers itself beside its code with
//! [`register!`](crate::register) (name, description, the features it
//! reads, its params, its build function); [`Registry::registered`]
//! gathers what registered. Flow files name kinds, never types.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use crate::feature::FeatureKey;
use crate::hydrator::HydratorKind;
use crate::params::ParamDoc;
use crate::{CandidateSource, ParamError, Predicate, Ranker, Transform};

/// The stage a component kind belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    Source,
    Predicate,
    Ranker,
    Transform,
}

impl Role {
    /// The `stage` metric label and the name used in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Source => "source",
            Role::Predicate => "predicate",
            Role::Ranker => "ranker",
            Role::Transform => "transform",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Builds a component from its params table.
pub type Build<T> = fn(toml::Table) -> Result<Arc<T>, ParamError>;

/// One component kind.
pub struct Kind<T: ?Sized> {
    pub name: &'static str,
    pub description: &'static str,
    /// The features its components read; a flow using the kind loads only
    /// when a hydrator provides each of them.
    pub reads: &'static [FeatureKey],
    /// Its params as declared (`<P as Params>::docs`).
    pub params: fn() -> Vec<ParamDoc>,
    pub build: Build<T>,
}

impl<T: ?Sized> Kind<T> {
    fn info(&self, role: Role) -> KindInfo {
        KindInfo {
            role,
            name: self.name,
            description: self.description,
            reads: self.reads,
            params: self.params,
        }
    }
}

impl<T: ?Sized> Clone for Kind<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: ?Sized> Copy for Kind<T> {}

/// What a kind's file registers: a component kind of one role, or a
/// hydrator.
pub enum Registration {
    Source(Kind<dyn CandidateSource>),
    Predicate(Kind<dyn Predicate>),
    Ranker(Kind<dyn Ranker>),
    Transform(Kind<dyn Transform>),
    Hydrator(HydratorKind),
}

/// Everything that registered, across the crates linked into the process.
#[linkme::distributed_slice]
pub static REGISTERED: [Registration];

/// Registers a kind from its own file:
/// `register!(Registration::Source(Kind { .. }));` (one per module).
#[macro_export]
macro_rules! register {
    ($registration:expr) => {
        #[$crate::linkme::distributed_slice($crate::registry::REGISTERED)]
        #[linkme(crate = $crate::linkme)]
        static REGISTRATION: $crate::registry::Registration = $registration;
    };
}

/// The kinds of one role, by name.
pub struct Kinds<T: ?Sized> {
    role: Role,
    kinds: BTreeMap<&'static str, Kind<T>>,
}

impl<T: ?Sized> Kinds<T> {
    fn new(role: Role) -> Self {
        Kinds {
            role,
            kinds: BTreeMap::new(),
        }
    }

    /// Adds a kind. Panics on a duplicate name: that is a programming
    /// error caught by the first test that builds the registry.
    pub fn add(&mut self, kind: Kind<T>) {
        let name = kind.name;
        assert!(
            self.kinds.insert(name, kind).is_none(),
            "{} kind {name:?} registered twice",
            self.role
        );
    }

    /// Looks a kind up; the error lists the valid kinds.
    pub fn get(&self, name: &str) -> Result<&Kind<T>, String> {
        self.kinds.get(name).ok_or_else(|| {
            let valid: Vec<&str> = self.kinds.keys().copied().collect();
            format!(
                "unknown {} kind {name:?} (valid kinds: {})",
                self.role,
                valid.join(", ")
            )
        })
    }

    pub fn iter(&self) -> impl Iterator<Item = &Kind<T>> {
        self.kinds.values()
    }
}

/// What any kind, of whatever role, says about itself.
#[derive(Debug, Clone, Copy)]
pub struct KindInfo {
    pub role: Role,
    pub name: &'static str,
    pub description: &'static str,
    pub reads: &'static [FeatureKey],
    pub params: fn() -> Vec<ParamDoc>,
}

/// Every component kind and hydrator the process knows.
pub struct Registry {
    pub sources: Kinds<dyn CandidateSource>,
    pub predicates: Kinds<dyn Predicate>,
    pub rankers: Kinds<dyn Ranker>,
    pub transforms: Kinds<dyn Transform>,
    hydrators: BTreeMap<&'static str, HydratorKind>,
}

impl Default for Registry {
    fn default() -> Self {
        Registry {
            sources: Kinds::new(Role::Source),
            predicates: Kinds::new(Role::Predicate),
            rankers: Kinds::new(Role::Ranker),
            transforms: Kinds::new(Role::Transform),
            hydrators: BTreeMap::new(),
        }
    }
}

impl Registry {
    /// Every kind and hydrator registered by the crates linked into this
    /// process.
    pub fn registered() -> Registry {
        let mut registry = Registry::default();
        for registration in REGISTERED.iter() {
            registry.add(registration);
        }
        registry
    }

    /// Adds one registration. Panics on a duplicate kind name within a
    /// role, or a feature two hydrators provide.
    pub fn add(&mut self, registration: &Registration) {
        match registration {
            Registration::Source(kind) => self.sources.add(*kind),
            Registration::Predicate(kind) => self.predicates.add(*kind),
            Registration::Ranker(kind) => self.rankers.add(*kind),
            Registration::Transform(kind) => self.transforms.add(*kind),
            Registration::Hydrator(kind) => self.add_hydrator(*kind),
        }
    }

    fn add_hydrator(&mut self, kind: HydratorKind) {
        for feature in kind.provides {
            if let Some(other) = self.provider(*feature) {
                panic!(
                    "feature {:?} provided by both hydrators {:?} and {:?}",
                    feature.name, other.name, kind.name
                );
            }
        }
        assert!(
            self.hydrators.insert(kind.name, kind).is_none(),
            "hydrator {:?} registered twice",
            kind.name
        );
    }

    /// The hydrator that provides `feature`, if any.
    pub fn provider(&self, feature: FeatureKey) -> Option<&HydratorKind> {
        self.hydrators
            .values()
            .find(|h| h.provides.contains(&feature))
    }

    /// Every hydrator kind, by name.
    pub fn hydrators(&self) -> impl Iterator<Item = &HydratorKind> {
        self.hydrators.values()
    }

    /// What kind `name` of `role` says about itself; the error lists the
    /// valid kinds of the role.
    pub fn info(&self, role: Role, name: &str) -> Result<KindInfo, String> {
        Ok(match role {
            Role::Source => self.sources.get(name)?.info(role),
            Role::Predicate => self.predicates.get(name)?.info(role),
            Role::Ranker => self.rankers.get(name)?.info(role),
            Role::Transform => self.transforms.get(name)?.info(role),
        })
    }

    /// Every component kind, by role then name, for listings and for
    /// checking the docs against the code.
    pub fn kinds(&self) -> Vec<KindInfo> {
        fn list<T: ?Sized>(role: Role, kinds: &Kinds<T>) -> impl Iterator<Item = KindInfo> + '_ {
            kinds.iter().map(move |k| k.info(role))
        }
        list(Role::Source, &self.sources)
            .chain(list(Role::Predicate, &self.predicates))
            .chain(list(Role::Ranker, &self.rankers))
            .chain(list(Role::Transform, &self.transforms))
            .collect()
    }

    /// `(role, kind, description)` of every component kind.
    pub fn describe(&self) -> Vec<(Role, &'static str, &'static str)> {
        self.kinds()
            .into_iter()
            .map(|k| (k.role, k.name, k.description))
            .collect()
    }
}
