//! Typed component params, deserialized from their TOML table with unknown
//! fields denied, then checked against their bounds.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;

/// Param overrides by component id: `{"walk": {"max_likes": 200}}`. Feed
/// config and internal requests use this shape; keys are the component's
/// params (and its envelope's `weight`/`budget_ms`).
pub type Overrides = BTreeMap<String, toml::Table>;

/// A param that failed to parse or is out of bounds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", field.as_ref().map(|f| format!("{f}: ")).unwrap_or_default())]
pub struct ParamError {
    /// The offending key, when one can be named.
    pub field: Option<String>,
    pub message: String,
}

impl ParamError {
    pub fn new(field: &str, message: impl Into<String>) -> Self {
        ParamError {
            field: Some(field.to_string()),
            message: message.into(),
        }
    }
}

/// A component's params: serde defaults plus bounds checked after parsing.
pub trait Params: DeserializeOwned {
    /// Checks bounds that types cannot express.
    fn validate(&self) -> Result<(), ParamError> {
        Ok(())
    }

    /// Parses and validates a component's table.
    fn from_table(table: toml::Table) -> Result<Self, ParamError> {
        let params: Self =
            serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
                let path = e.path().to_string();
                let message = e.into_inner().message().to_string();
                let field = match unknown_field(&message) {
                    Some(name) => Some(name),
                    None if path != "." && !path.is_empty() => Some(path),
                    None => None,
                };
                ParamError { field, message }
            })?;
        params.validate()?;
        Ok(params)
    }
}

/// serde names an unknown field only in its message: pull the name out so
/// the error can point at its line.
fn unknown_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    Some(rest[..rest.find('`')?].to_string())
}

/// Bounds check for numeric params: `name` must lie in `range`.
pub fn check_range<T: PartialOrd + std::fmt::Display>(
    name: &str,
    value: T,
    range: std::ops::RangeInclusive<T>,
) -> Result<(), ParamError> {
    if range.contains(&value) {
        Ok(())
    } else {
        Err(ParamError::new(
            name,
            format!(
                "{value} is out of bounds ({}..={})",
                range.start(),
                range.end()
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Example {
        #[serde(default = "ten")]
        count: u32,
    }
    fn ten() -> u32 {
        10
    }
    impl Params for Example {
        fn validate(&self) -> Result<(), ParamError> {
            check_range("count", self.count, 1..=100)
        }
    }

    fn table(text: &str) -> toml::Table {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn defaults_apply() {
        assert_eq!(
            Example::from_table(table("")).unwrap(),
            Example { count: 10 }
        );
    }

    #[test]
    fn errors_name_the_field() {
        let err = Example::from_table(table("count = \"x\"")).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("count"));
        let err = Example::from_table(table("cuont = 3")).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("cuont"));
        assert!(err.message.contains("unknown field"), "{err}");
        let err = Example::from_table(table("count = 0")).unwrap_err();
        assert_eq!(err.to_string(), "count: 0 is out of bounds (1..=100)");
    }
}
