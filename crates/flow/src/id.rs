//! Validated identifiers: component ids name metric series and explain
//! entries, so they are checked once, at load.

use std::fmt;

/// A component's id within its flow: `[a-z0-9_-]{1,64}`, unique per flow
/// (two components with one id would merge their stats).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ComponentId(String);

impl ComponentId {
    pub fn new(id: &str) -> Result<Self, String> {
        if is_valid_name(id) {
            Ok(ComponentId(id.to_string()))
        } else {
            Err(format!(
                "invalid id {id:?}: use 1 to 64 of a-z, 0-9, '_' and '-'"
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ComponentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The shape shared by component ids, flow names and feed rkeys.
pub fn is_valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_ids() {
        assert!(ComponentId::new("walk").is_ok());
        assert!(ComponentId::new("max-per-author_2").is_ok());
        assert!(ComponentId::new("").is_err());
        assert!(ComponentId::new("Walk").is_err());
        assert!(ComponentId::new("a b").is_err());
        assert!(ComponentId::new(&"a".repeat(65)).is_err());
    }
}
