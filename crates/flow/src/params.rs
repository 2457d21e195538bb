//! Typed component params, declared once with [`params!`]: each param's
//! doc, default and bounds are written in one place, and the struct, its
//! `Default`, its validation and its row in the docs' reference tables all
//! come from that declaration. Tables are deserialized with unknown fields
//! denied, then checked against their bounds.

use std::collections::BTreeMap;

use serde::Serialize;
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

/// One declared param, as docs and listings show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamDoc {
    pub name: &'static str,
    /// The default, written as a flow file would write it (TOML).
    pub default: String,
    /// The values accepted beyond the type, e.g. `1..=10000`; empty when
    /// every value of the type is.
    pub bounds: String,
    /// The param's doc comment.
    pub doc: String,
}

/// A component's params: serde defaults plus bounds checked after parsing.
/// Implemented by [`params!`]; kinds without params use [`NoParams`].
pub trait Params: DeserializeOwned {
    /// Checks bounds that types cannot express.
    fn validate(&self) -> Result<(), ParamError> {
        Ok(())
    }

    /// Every param with its default, bounds and doc, in declaration order.
    fn docs() -> Vec<ParamDoc> {
        Vec::new()
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

/// Declares a params struct: per field its doc comment, type, default and
/// either a numeric range (`in LO..=HI`, checked by `validate`) or a
/// description of its bounds (`bounds "..."`, checked by the `check`
/// block, which runs after the ranges and sees the parsed params).
///
/// ```
/// feedmixer_flow::params! {
///     /// How a sampler samples.
///     pub struct SamplerParams {
///         /// Posts sampled.
///         samples: usize = 100, in 1..=10_000;
///         /// Most samples per author.
///         per_author: usize = 3, bounds "1..=samples";
///         /// Sample replies too.
///         replies: bool = false;
///     }
///     check(p) {
///         feedmixer_flow::params::check_range("per_author", p.per_author, 1..=p.samples)
///     }
/// }
/// use feedmixer_flow::Params;
/// assert_eq!(SamplerParams::default().samples, 100);
/// assert_eq!(SamplerParams::docs()[0].bounds, "1..=10000");
/// let table: toml::Table = toml::from_str("per_author = 200").unwrap();
/// assert!(SamplerParams::from_table(table).is_err());
/// ```
#[macro_export]
macro_rules! params {
    (
        $(#[doc = $struct_doc:literal])*
        $vis:vis struct $name:ident {
            $(
                $(#[doc = $doc:literal])*
                $field:ident : $ty:ty = $default:expr
                $(, in $lo:literal ..= $hi:literal)?
                $(, bounds $bounds:literal)?
                ;
            )*
        }
        $(check($this:ident) $check:block)?
    ) => {
        $(#[doc = $struct_doc])*
        #[derive(Debug, Clone, PartialEq, ::serde::Deserialize, ::serde::Serialize)]
        #[serde(deny_unknown_fields, default)]
        $vis struct $name {
            $( $(#[doc = $doc])* pub $field: $ty, )*
        }

        impl ::std::default::Default for $name {
            fn default() -> Self {
                $name { $( $field: $default, )* }
            }
        }

        impl $crate::params::Params for $name {
            fn validate(&self) -> ::std::result::Result<(), $crate::params::ParamError> {
                $($(
                    $crate::params::check_range(stringify!($field), self.$field, $lo..=$hi)?;
                )?)*
                $(
                    let $this = self;
                    let checked: ::std::result::Result<(), $crate::params::ParamError> = $check;
                    checked?;
                )?
                Ok(())
            }

            fn docs() -> ::std::vec::Vec<$crate::params::ParamDoc> {
                #[allow(unused_variables)]
                let defaults = <$name as ::std::default::Default>::default();
                vec![$(
                    $crate::params::ParamDoc {
                        name: stringify!($field),
                        default: $crate::params::toml_text(&defaults.$field),
                        bounds: [
                            $( format!("{}..={}", $lo, $hi), )?
                            $( ::std::string::String::from($bounds), )?
                        ]
                        .into_iter()
                        .next()
                        .unwrap_or_default(),
                        doc: $crate::params::doc_text(&[$($doc),*]),
                    }
                ),*]
            }
        }
    };
}

params! {
    /// The params of a kind that takes none: its table must be empty.
    pub struct NoParams {}
}

/// A value as a flow file writes it.
pub fn toml_text<T: Serialize>(value: &T) -> String {
    match toml::Value::try_from(value) {
        Ok(toml::Value::Float(f)) => float_text(f),
        Ok(value) => value.to_string(),
        Err(e) => format!("<{e}>"),
    }
}

/// The shortest text that reads back as `f`, with a decimal point (TOML's
/// float syntax). An `f32` param arrives widened: print it as the `f32`
/// it was (`0.05`, not `0.05000000074505806`).
fn float_text(f: f64) -> String {
    let narrow = f as f32;
    let text = if f64::from(narrow) == f {
        narrow.to_string()
    } else {
        f.to_string()
    };
    if text.contains(['.', 'e', 'i', 'N']) {
        text
    } else {
        format!("{text}.0")
    }
}

/// Doc comment lines as one paragraph.
pub fn doc_text(lines: &[&str]) -> String {
    lines
        .iter()
        .map(|line| line.trim())
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The reference table of `docs/flows.md` for a kind's params (empty for a
/// kind without params); the docs are tested against it.
pub fn reference_table(params: &[ParamDoc]) -> String {
    if params.is_empty() {
        return String::new();
    }
    let mut table = String::from("| param | default | bounds | meaning |\n|---|---|---|---|\n");
    for p in params {
        let bounds = if p.bounds.is_empty() {
            "—"
        } else {
            &p.bounds
        };
        table.push_str(&format!(
            "| `{}` | {} | {bounds} | {} |\n",
            p.name, p.default, p.doc
        ));
    }
    table
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

    params! {
        /// An example.
        struct Example {
            /// How many.
            count: u32 = 10, in 1..=100;
            /// A share of `count`,
            /// at most all of it.
            share: f64 = 0.5, bounds "0..=count";
            /// On or off.
            on: bool = true;
        }
        check(p) {
            check_range("share", p.share, 0.0..=f64::from(p.count))
        }
    }

    fn table(text: &str) -> toml::Table {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn defaults_apply() {
        assert_eq!(
            Example::from_table(table("")).unwrap(),
            Example {
                count: 10,
                share: 0.5,
                on: true
            }
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
        let err = Example::from_table(table("count = 2\nshare = 3.0")).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("share"), "the check block runs");
    }

    #[test]
    fn docs_come_from_the_declaration() {
        let docs = Example::docs();
        assert_eq!(
            docs[0],
            ParamDoc {
                name: "count",
                default: "10".into(),
                bounds: "1..=100".into(),
                doc: "How many.".into(),
            }
        );
        assert_eq!(docs[1].doc, "A share of `count`, at most all of it.");
        assert_eq!(
            (docs[1].default.as_str(), docs[1].bounds.as_str()),
            ("0.5", "0..=count")
        );
        assert_eq!(
            (docs[2].default.as_str(), docs[2].bounds.as_str()),
            ("true", "")
        );
        assert_eq!(
            reference_table(&docs).lines().nth(4),
            Some("| `on` | true | — | On or off. |")
        );
        assert!(NoParams::docs().is_empty());
        assert_eq!(toml_text(&0.05f32), "0.05");
        assert_eq!(
            (toml_text(&24.0f64), toml_text(&0.1f64)),
            ("24.0".into(), "0.1".into())
        );
        assert!(NoParams::from_table(table("x = 1")).is_err());
    }
}
