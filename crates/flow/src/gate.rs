//! Gates: conditions that switch a component (or a whole flow) on or off
//! per request, without editing code.
//!
//! A gate is a small expression over the request context and the flow's
//! params: `viewer_likes < cold_start_likes`, `quality_factor >= 0.5`,
//! `use_trending`, `!anonymous && viewer_likes >= 5`. `&&` binds tighter
//! than `||`; there are no parentheses. Gates are parsed when the flow
//! loads, so a typo is a load error, not a silent always-off.

use std::collections::BTreeMap;
use std::fmt;

/// Values of the request context a gate may read.
pub const CONTEXT_VARS: [&str; 3] = ["viewer_likes", "quality_factor", "anonymous"];

/// A flow param's value: what `[params]` declares.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    Bool(bool),
    Number(f64),
}

impl Value {
    pub fn from_toml(value: &toml::Value) -> Option<Value> {
        match value {
            toml::Value::Boolean(b) => Some(Value::Bool(*b)),
            toml::Value::Integer(i) => Some(Value::Number(*i as f64)),
            toml::Value::Float(f) => Some(Value::Number(*f)),
            _ => None,
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Bool(b) => write!(f, "{b}"),
            Value::Number(n) => write!(f, "{n}"),
        }
    }
}

/// What a gate reads when it is evaluated.
pub struct GateInput<'a> {
    pub viewer_likes: usize,
    pub quality_factor: f64,
    pub anonymous: bool,
    pub params: &'a BTreeMap<String, Value>,
}

impl GateInput<'_> {
    fn get(&self, name: &str) -> Option<Value> {
        match name {
            "viewer_likes" => Some(Value::Number(self.viewer_likes as f64)),
            "quality_factor" => Some(Value::Number(self.quality_factor)),
            "anonymous" => Some(Value::Bool(self.anonymous)),
            _ => self.params.get(name).copied(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Operand {
    Name(String),
    Number(f64),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

#[derive(Debug, Clone, PartialEq)]
enum Term {
    /// A boolean name, possibly negated.
    Flag { name: String, negated: bool },
    Compare {
        left: Operand,
        op: Op,
        right: Operand,
    },
}

/// A parsed gate: OR of ANDs of terms.
#[derive(Debug, Clone, PartialEq)]
pub struct Gate {
    text: String,
    any_of: Vec<Vec<Term>>,
}

impl Gate {
    /// Parses `text`, checking every name against the context variables
    /// and the flow's declared params (with their types).
    pub fn parse(text: &str, params: &BTreeMap<String, Value>) -> Result<Gate, String> {
        let mut any_of = Vec::new();
        for alternative in text.split("||") {
            let mut all_of = Vec::new();
            for term in alternative.split("&&") {
                all_of.push(parse_term(term.trim(), params)?);
            }
            any_of.push(all_of);
        }
        Ok(Gate {
            text: text.trim().to_string(),
            any_of,
        })
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether the gated component runs for this request.
    pub fn is_open(&self, input: &GateInput<'_>) -> bool {
        self.any_of
            .iter()
            .any(|all| all.iter().all(|term| eval(term, input)))
    }
}

fn eval(term: &Term, input: &GateInput<'_>) -> bool {
    match term {
        Term::Flag { name, negated } => {
            let value = matches!(input.get(name), Some(Value::Bool(true)));
            value != *negated
        }
        Term::Compare { left, op, right } => {
            let number = |o: &Operand| match o {
                Operand::Number(n) => *n,
                Operand::Name(name) => match input.get(name) {
                    Some(Value::Number(n)) => n,
                    Some(Value::Bool(b)) => f64::from(u8::from(b)),
                    None => f64::NAN,
                },
            };
            let (l, r) = (number(left), number(right));
            match op {
                Op::Lt => l < r,
                Op::Le => l <= r,
                Op::Gt => l > r,
                Op::Ge => l >= r,
                Op::Eq => l == r,
                Op::Ne => l != r,
            }
        }
    }
}

/// The type a name has: context variables are fixed, params declared.
fn kind_of(name: &str, params: &BTreeMap<String, Value>) -> Result<Value, String> {
    match name {
        "viewer_likes" | "quality_factor" => Ok(Value::Number(0.0)),
        "anonymous" => Ok(Value::Bool(false)),
        _ => params.get(name).copied().ok_or_else(|| {
            let mut known: Vec<&str> = CONTEXT_VARS.to_vec();
            known.extend(params.keys().map(String::as_str));
            format!("gate: unknown name {name:?} (known: {})", known.join(", "))
        }),
    }
}

fn parse_term(text: &str, params: &BTreeMap<String, Value>) -> Result<Term, String> {
    if text.is_empty() {
        return Err("gate: empty condition".into());
    }
    for (symbol, op) in [
        ("<=", Op::Le),
        (">=", Op::Ge),
        ("==", Op::Eq),
        ("!=", Op::Ne),
        ("<", Op::Lt),
        (">", Op::Gt),
    ] {
        if let Some((l, r)) = text.split_once(symbol) {
            let left = parse_operand(l.trim(), params)?;
            let right = parse_operand(r.trim(), params)?;
            return Ok(Term::Compare { left, op, right });
        }
    }
    let (negated, name) = match text.strip_prefix('!') {
        Some(rest) => (true, rest.trim()),
        None => (false, text),
    };
    check_name(name)?;
    match kind_of(name, params)? {
        Value::Bool(_) => Ok(Term::Flag {
            name: name.to_string(),
            negated,
        }),
        Value::Number(_) => Err(format!(
            "gate: {name:?} is a number; compare it, e.g. `{name} > 0`"
        )),
    }
}

fn parse_operand(text: &str, params: &BTreeMap<String, Value>) -> Result<Operand, String> {
    if let Ok(n) = text.parse::<f64>() {
        return Ok(Operand::Number(n));
    }
    check_name(text)?;
    match kind_of(text, params)? {
        Value::Number(_) => Ok(Operand::Name(text.to_string())),
        Value::Bool(_) => Err(format!(
            "gate: {text:?} is a boolean; use it alone or with `!`"
        )),
    }
}

fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "gate: cannot read {name:?}: expected a name, a number or a comparison"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> BTreeMap<String, Value> {
        BTreeMap::from([
            ("cold_start".to_string(), Value::Number(5.0)),
            ("use_trending".to_string(), Value::Bool(true)),
        ])
    }

    fn open(text: &str, viewer_likes: usize, qf: f64, anonymous: bool) -> bool {
        let p = params();
        let gate = Gate::parse(text, &p).unwrap();
        gate.is_open(&GateInput {
            viewer_likes,
            quality_factor: qf,
            anonymous,
            params: &p,
        })
    }

    #[test]
    fn evaluates_comparisons_flags_and_connectives() {
        assert!(open("viewer_likes < cold_start", 3, 1.0, false));
        assert!(!open("viewer_likes < cold_start", 5, 1.0, false));
        assert!(open("quality_factor >= 0.5", 0, 0.5, false));
        assert!(!open("quality_factor >= 0.5", 0, 0.49, false));
        assert!(open("use_trending", 0, 1.0, false));
        assert!(!open("!use_trending", 0, 1.0, false));
        assert!(open("anonymous || viewer_likes < 2", 10, 1.0, true));
        assert!(!open("!anonymous && viewer_likes >= 2", 10, 1.0, true));
        assert!(open(
            "!anonymous && viewer_likes >= 2 || use_trending",
            0,
            1.0,
            true
        ));
        assert!(open("viewer_likes != 3", 4, 1.0, false));
        assert!(open("2 == 2", 0, 1.0, false));
    }

    #[test]
    fn refuses_what_it_cannot_read() {
        let p = params();
        for (bad, why) in [
            ("", "empty"),
            ("viewer_like < 3", "unknown name \"viewer_like\""),
            ("cold_start", "is a number"),
            ("use_trending > 1", "is a boolean"),
            ("viewer_likes < 3 &&", "empty"),
            ("Viewer", "cannot read"),
        ] {
            let err = Gate::parse(bad, &p).unwrap_err();
            assert!(err.contains(why), "{bad:?}: {err}");
        }
    }

    #[test]
    fn params_read_from_the_input_not_the_declaration() {
        let declared = params();
        let gate = Gate::parse("viewer_likes < cold_start", &declared).unwrap();
        let mut overridden = declared.clone();
        overridden.insert("cold_start".into(), Value::Number(50.0));
        let input = GateInput {
            viewer_likes: 20,
            quality_factor: 1.0,
            anonymous: false,
            params: &overridden,
        };
        assert!(gate.is_open(&input));
    }
}
