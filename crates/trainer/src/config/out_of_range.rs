//! Numbers a config writes that TOML cannot hold (integers beyond `i64`, floats that round
//! to infinity): found by their literal where the parser stopped, or in the parsed document
//! where it silently read `-inf`, and named by their dotted key and line.

/// Which of TOML's number types a literal overflows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NumberKind {
    Integer,
    Float,
}

impl NumberKind {
    /// What a config can hold instead.
    pub(super) fn allowed(self) -> String {
        match self {
            Self::Integer => format!(
                "out of range: TOML integers are 64-bit signed, from {} to {}",
                i64::MIN,
                i64::MAX
            ),
            Self::Float => format!(
                "out of range: TOML floats are 64-bit, at most {:e} in magnitude",
                f64::MAX
            ),
        }
    }

    /// The kind a well-formed number literal overflows, if it does: an integer (decimal, or
    /// `0x`/`0o`/`0b`) beyond `i64`, or a float that rounds to infinity.
    fn overflowed_by(literal: &str) -> Option<Self> {
        let (negative, body) = match literal.as_bytes().first()? {
            b'-' => (true, &literal[1..]),
            b'+' => (false, &literal[1..]),
            _ => (false, literal),
        };
        let (radix, digits) = [("0x", 16), ("0o", 8), ("0b", 2)]
            .into_iter()
            .find_map(|(prefix, radix)| body.strip_prefix(prefix).map(|d| (radix, d)))
            .unwrap_or((10, body));
        let digits: String = digits.chars().filter(|&c| c != '_').collect();
        if !digits.is_empty() && digits.chars().all(|c| c.is_digit(radix)) {
            let signed = if negative {
                format!("-{digits}")
            } else {
                digits
            };
            return i64::from_str_radix(&signed, radix)
                .is_err()
                .then_some(Self::Integer);
        }
        // `inf` and `nan` are TOML floats; only digit-led literals can overflow.
        if radix != 10 || !body.starts_with(|c: char| c.is_ascii_digit()) {
            return None;
        }
        let value: f64 = literal.replace('_', "").parse().ok()?;
        value.is_infinite().then_some(Self::Float)
    }
}

/// A number literal in TOML text that TOML cannot hold, where a parse error points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct OutOfRange {
    /// Its dotted key (`train.max_iterations`, `model.hidden[1]`), when the rest of the
    /// text parses without it.
    pub(super) key: Option<String>,
    /// The literal as written.
    pub(super) value: String,
    /// Its line, from 1.
    pub(super) line: usize,
    /// The number type it overflows.
    pub(super) kind: NumberKind,
}

/// Stands in for an out-of-range literal to find its key (a control character, which a
/// config's own strings cannot hold unescaped).
const MARK: &str = "\u{1}out of range\u{1}";
const MARK_TOML: &str = r#""\u0001out of range\u0001""#;

impl OutOfRange {
    /// The out-of-range number `err` points at in `text`, if that is what it points at.
    pub(super) fn find(text: &str, err: &toml::de::Error) -> Option<Self> {
        let start = err.span()?.start;
        let rest = text.get(start..)?;
        let len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.' | '_')))
            .unwrap_or(rest.len());
        let value = &rest[..len];
        let kind = NumberKind::overflowed_by(value)?;
        let marked = format!("{}{MARK_TOML}{}", &text[..start], &rest[len..]);
        let key = toml::from_str::<toml::Table>(&marked)
            .ok()
            .and_then(|t| key_of_mark(&toml::Value::Table(t), ""));
        Some(Self {
            key,
            value: value.to_owned(),
            line: text[..start].matches('\n').count() + 1,
            kind,
        })
    }

    /// A float literal in `text` that rounds to infinity, if there is one: `toml` reads a
    /// positive one as an error (see [`OutOfRange::find`]) but a negative one such as `-1e400`
    /// as `-inf`, silently.
    pub(super) fn find_overflowed_float(text: &str) -> Option<Self> {
        use toml_edit::{Item, Value};
        fn value(v: &Value, at: &str, text: &str) -> Option<OutOfRange> {
            match v {
                Value::Float(f) if f.value().is_infinite() => {
                    let span = f.span()?;
                    let literal = text.get(span.clone())?.trim();
                    let kind = NumberKind::overflowed_by(literal)?;
                    Some(OutOfRange {
                        key: Some(at.to_owned()),
                        value: literal.to_owned(),
                        line: text[..span.start].matches('\n').count() + 1,
                        kind,
                    })
                }
                Value::Array(a) => a
                    .iter()
                    .enumerate()
                    .find_map(|(i, v)| value(v, &format!("{at}[{i}]"), text)),
                Value::InlineTable(t) => t.iter().find_map(|(k, v)| value(v, &join(at, k), text)),
                _ => None,
            }
        }
        fn table(t: &toml_edit::Table, at: &str, text: &str) -> Option<OutOfRange> {
            t.iter().find_map(|(k, i)| item(i, &join(at, k), text))
        }
        fn item(i: &Item, at: &str, text: &str) -> Option<OutOfRange> {
            match i {
                Item::Value(v) => value(v, at, text),
                Item::Table(t) => table(t, at, text),
                Item::ArrayOfTables(a) => a
                    .iter()
                    .enumerate()
                    .find_map(|(i, t)| table(t, &format!("{at}[{i}]"), text)),
                Item::None => None,
            }
        }
        let doc = toml_edit::ImDocument::parse(text).ok()?;
        table(doc.as_table(), "", text)
    }
}

/// `at.key`, or `key` at the top.
fn join(at: &str, key: &str) -> String {
    if at.is_empty() {
        key.to_owned()
    } else {
        format!("{at}.{key}")
    }
}

/// The path of the value [`MARK`] below `value` (at path `at`).
fn key_of_mark(value: &toml::Value, at: &str) -> Option<String> {
    match value {
        toml::Value::String(s) if s == MARK => Some(at.to_owned()),
        toml::Value::Table(t) => t.iter().find_map(|(k, v)| key_of_mark(v, &join(at, k))),
        toml::Value::Array(a) => a
            .iter()
            .enumerate()
            .find_map(|(i, v)| key_of_mark(v, &format!("{at}[{i}]"))),
        _ => None,
    }
}
