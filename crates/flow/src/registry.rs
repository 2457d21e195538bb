//! Kinds by role: the only place that knows which component kinds exist.
//! Each kind registers itself (name, description, build function) from its
//! own module; flow files name kinds, never types.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

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

/// One registered kind.
pub struct Kind<T: ?Sized> {
    pub name: &'static str,
    pub description: &'static str,
    pub build: Build<T>,
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

    /// Registers a kind. Panics on a duplicate name: that is a programming
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

/// Every component kind the process knows.
pub struct Registry {
    pub sources: Kinds<dyn CandidateSource>,
    pub predicates: Kinds<dyn Predicate>,
    pub rankers: Kinds<dyn Ranker>,
    pub transforms: Kinds<dyn Transform>,
}

impl Default for Registry {
    fn default() -> Self {
        Registry {
            sources: Kinds::new(Role::Source),
            predicates: Kinds::new(Role::Predicate),
            rankers: Kinds::new(Role::Ranker),
            transforms: Kinds::new(Role::Transform),
        }
    }
}

impl Registry {
    /// `(role, kind, description)` of every registered kind, for listings
    /// and for checking the docs against the code.
    pub fn describe(&self) -> Vec<(Role, &'static str, &'static str)> {
        fn list<T: ?Sized>(
            role: Role,
            kinds: &Kinds<T>,
        ) -> impl Iterator<Item = (Role, &'static str, &'static str)> + '_ {
            kinds.iter().map(move |k| (role, k.name, k.description))
        }
        list(Role::Source, &self.sources)
            .chain(list(Role::Predicate, &self.predicates))
            .chain(list(Role::Ranker, &self.rankers))
            .chain(list(Role::Transform, &self.transforms))
            .collect()
    }
}
