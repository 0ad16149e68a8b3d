//! Template output formats: a backend's queries written into the files its users deploy
//! (`savedsearches.conf`, a detection YAML...), by minijinja templates under `templates/`.
//!
//! A backend lists its templates as data ([`Template`]); this module knows nothing of any
//! target. It gives every template the same context:
//!
//! - `rule` (per-rule templates) or `rules` (one-file templates, in input order): `title`, `id`,
//!   `name` (the rule's name under the target's naming), `status`, `level`, `description`,
//!   `author`, `date`, `modified`, `references`, `falsepositives`, `tags` (lists), `logsource`
//!   (`category`, `product`, `service`, `definition`), `meta` (every top-level key of the rule
//!   as written, custom ones included), `path` (the rule file), `query` (the rule in the
//!   template's query format), `state` (pipeline state), `settings` (pipeline state overlaid
//!   with `--set`), and `target` (what the backend derives for this template, see
//!   [`super::Backend::template_values`]);
//! - `set`: the `--set KEY=VALUE` pairs alone.
//!
//! Filters escape values for the formats the templates write, so that no rule text can break
//! out of its place: `yaml(indent)` (a YAML scalar), `json` (a JSON value), `conf` (a `.conf` setting value, lines
//! continued with `\`) and `conf_stanza` (a `.conf` stanza name). `fail(message)` refuses the
//! rule being rendered with that message (a field the format requires is missing).
//!
//! Undefined values are errors when printed or iterated (a misspelt key must not silently
//! write an empty setting); `x is defined`, `x or y` and `x | default(y)` still test them.

use indexmap::IndexMap;
use minijinja::value::Value;
use minijinja::{AutoEscape, Environment, Error, ErrorKind, UndefinedBehavior};

use crate::ir::rule::RuleIr;
use crate::yaml::{Node, NodeKind};

/// Marks the errors `fail()` raises, to tell a refused rule from a broken template.
const REFUSAL: &str = "\u{1f}sigc-refusal\u{1f}";

/// Why a rendering failed.
#[derive(Debug)]
pub(crate) enum RenderError {
    /// The template refused the rule (`fail()`, or a value a filter cannot write): the rule's
    /// problem, reported at the rule.
    Refused(String),
    /// The template itself is wrong (syntax, an undefined value, a type error).
    Template(String),
}

impl RenderError {
    fn from_minijinja(e: &Error) -> RenderError {
        match e.detail() {
            Some(d) if d.starts_with(REFUSAL) => {
                RenderError::Refused(d.trim_start_matches(REFUSAL).to_string())
            }
            _ => RenderError::Template(e.to_string()),
        }
    }
}

fn refuse(message: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::InvalidOperation, format!("{REFUSAL}{message}"))
}

/// A compiled template.
pub(crate) struct Renderer {
    env: Environment<'static>,
    name: String,
}

impl Renderer {
    /// Compile `text`; `name` (the template's file name) appears in error messages.
    pub(crate) fn new(name: &str, text: String) -> Result<Renderer, String> {
        let mut env = Environment::new();
        // The formats written are not HTML: values are escaped by the filters below, for the
        // format each one is written into.
        env.set_auto_escape_callback(|_| AutoEscape::None);
        env.set_undefined_behavior(UndefinedBehavior::SemiStrict);
        let syntax = minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .keep_trailing_newline(true)
            .build()
            .map_err(|e| e.to_string())?;
        env.set_syntax(syntax);
        env.add_filter("yaml", yaml_filter);
        env.add_filter("json", json_filter);
        env.add_filter("conf", conf_filter);
        env.add_filter("conf_stanza", conf_stanza_filter);
        env.add_function("fail", |message: String| -> Result<Value, Error> {
            Err(refuse(message))
        });
        env.add_template_owned(name.to_string(), text)
            .map_err(|e| format!("template {name}: {e}"))?;
        Ok(Renderer {
            env,
            name: name.to_string(),
        })
    }

    /// Render with `ctx` (see the module documentation for what it holds).
    pub(crate) fn render(&self, ctx: Value) -> Result<String, RenderError> {
        let t = self
            .env
            .get_template(&self.name)
            .map_err(|e| RenderError::Template(e.to_string()))?;
        t.render(ctx).map_err(|e| RenderError::from_minijinja(&e))
    }
}

/// The context of one rule (`rule`, or one item of `rules`).
pub(crate) struct RuleContext<'a> {
    pub(crate) rule: &'a RuleIr,
    pub(crate) path: &'a str,
    pub(crate) name: &'a str,
    pub(crate) query: &'a str,
    pub(crate) settings: &'a IndexMap<String, String>,
    pub(crate) target: serde_json::Value,
}

impl RuleContext<'_> {
    pub(crate) fn value(&self) -> Value {
        let h = &self.rule.header;
        let text = |k: &str| match h.get_str(k) {
            Some(s) => Value::from(s),
            None => Value::from(()),
        };
        let list = |k: &str| -> Value {
            match h
                .fields
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| &v.kind)
            {
                Some(NodeKind::Seq(items)) => items
                    .iter()
                    .filter_map(|n| n.scalar_text().map(Value::from))
                    .collect(),
                // A single value where the spec wants a list: one item.
                Some(_) => h.get_str(k).map(Value::from).into_iter().collect(),
                None => Vec::<Value>::new().into_iter().collect(),
            }
        };
        let opt = |v: &Option<String>| match v {
            Some(s) => Value::from(s.as_str()),
            None => Value::from(()),
        };
        let l = &self.rule.logsource;
        let logsource = Value::from_pairs([
            ("category", opt(&l.category)),
            ("product", opt(&l.product)),
            ("service", opt(&l.service)),
            ("definition", opt(&l.definition)),
        ]);
        let meta = Value::from_pairs(
            h.fields
                .iter()
                .map(|(k, v)| (k.clone(), node_value(v)))
                .collect::<Vec<_>>(),
        );
        let string_map = |m: &IndexMap<String, String>| {
            Value::from_pairs(
                m.iter()
                    .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
                    .collect::<Vec<_>>(),
            )
        };
        Value::from_pairs([
            ("title", Value::from(h.title.as_str())),
            ("id", opt(&h.id)),
            ("name", Value::from(self.name)),
            ("status", opt(&h.status)),
            ("level", opt(&h.level)),
            ("description", text("description")),
            ("author", text("author")),
            ("date", text("date")),
            ("modified", text("modified")),
            ("references", list("references")),
            ("falsepositives", list("falsepositives")),
            (
                "tags",
                h.tags.iter().map(|t| Value::from(t.as_str())).collect(),
            ),
            ("logsource", logsource),
            ("meta", meta),
            ("path", Value::from(self.path)),
            ("query", Value::from(self.query)),
            ("state", string_map(&self.rule.state)),
            ("settings", string_map(self.settings)),
            ("target", json_value(&self.target)),
        ])
    }
}

/// The context of a one-file template.
pub(crate) fn all_context(rules: Vec<Value>, set: &IndexMap<String, String>) -> Value {
    Value::from_pairs([
        ("rules", rules.into_iter().collect::<Value>()),
        ("set", set_value(set)),
    ])
}

/// The context of a per-rule template.
pub(crate) fn rule_context(rule: Value, set: &IndexMap<String, String>) -> Value {
    Value::from_pairs([("rule", rule), ("set", set_value(set))])
}

fn set_value(set: &IndexMap<String, String>) -> Value {
    Value::from_pairs(
        set.iter()
            .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
            .collect::<Vec<_>>(),
    )
}

fn node_value(n: &Node) -> Value {
    match &n.kind {
        NodeKind::Null => Value::from(()),
        NodeKind::Bool(b) => Value::from(*b),
        NodeKind::Int(i, _) => Value::from(*i),
        NodeKind::Float(f, _) => Value::from(*f),
        NodeKind::Str(s, _) => Value::from(s.as_str()),
        NodeKind::Seq(items) => items.iter().map(node_value).collect(),
        NodeKind::Map(entries) => Value::from_pairs(
            entries
                .iter()
                .map(|(k, v)| (node_value(k), node_value(v)))
                .collect::<Vec<_>>(),
        ),
    }
}

fn json_value(v: &serde_json::Value) -> Value {
    use serde_json::Value as J;
    match v {
        J::Null => Value::from(()),
        J::Bool(b) => Value::from(*b),
        J::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Value::from(i),
            (None, Some(f)) => Value::from(f),
            (None, None) => Value::from(n.to_string()),
        },
        J::String(s) => Value::from(s.as_str()),
        J::Array(items) => items.iter().map(json_value).collect(),
        J::Object(m) => Value::from_pairs(
            m.iter()
                .map(|(k, v)| (k.clone(), json_value(v)))
                .collect::<Vec<_>>(),
        ),
    }
}

/// `value | yaml(indent)`: a YAML scalar that reads back as exactly `value`, for a key (or
/// list item) at column `indent`. Plain when nothing in it can mean something else to YAML
/// 1.1 or 1.2 readers, single-quoted when it is one printable line, a literal block (`|-`)
/// for printable multi-line text, double-quoted with escapes otherwise. Numbers and booleans
/// are written as such; none/undefined as `null`.
fn yaml_filter(value: &Value, indent: Option<usize>) -> Result<String, Error> {
    if value.is_undefined() {
        return Err(Error::new(
            ErrorKind::UndefinedError,
            "`yaml` of an undefined value",
        ));
    }
    if value.is_none() {
        return Ok("null".into());
    }
    match value.kind() {
        minijinja::value::ValueKind::Bool | minijinja::value::ValueKind::Number => {
            return Ok(value.to_string());
        }
        minijinja::value::ValueKind::String => {}
        other => {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("`yaml` writes scalars, not a {other}"),
            ));
        }
    }
    let s = value.as_str().unwrap_or_default();
    Ok(yaml_scalar(s, indent.unwrap_or(0)))
}

fn yaml_scalar(s: &str, indent: usize) -> String {
    if is_plain_safe(s) {
        return s.to_string();
    }
    let printable = |c: char| c == '\t' || (!c.is_control() && !is_yaml_special(c));
    if !s.contains('\n') && s.chars().all(printable) {
        return format!("'{}'", s.replace('\'', "''"));
    }
    // A literal block keeps every line as written, but cannot start with a space (it would
    // read as indentation), end with a newline under `|-`, or hold carriage returns.
    if !s.starts_with([' ', '\t', '\n'])
        && !s.ends_with('\n')
        && s.chars().all(|c| c == '\n' || printable(c))
        && !s
            .lines()
            .any(|l| l.ends_with([' ', '\t']) && l.trim().is_empty())
    {
        let pad = " ".repeat(indent + 2);
        let mut out = String::from("|-");
        for line in s.split('\n') {
            out.push('\n');
            if !line.is_empty() {
                out.push_str(&pad);
                out.push_str(line);
            }
        }
        return out;
    }
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() || is_yaml_special(c) => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Characters YAML treats as line breaks or byte-order marks, which no quoted form but the
/// escaped one keeps.
fn is_yaml_special(c: char) -> bool {
    matches!(c, '\u{85}' | '\u{2028}' | '\u{2029}' | '\u{feff}')
}

/// Text a YAML reader takes as the same string when written plain: it starts with a letter,
/// holds only letters, digits, spaces and harmless punctuation (no `: `, ` #`, flow or quote
/// characters at the start), and is not a word YAML 1.1 reads as a boolean or null.
fn is_plain_safe(s: &str) -> bool {
    const WORDS: &[&str] = &["true", "false", "yes", "no", "on", "off", "null", "y", "n"];
    let Some(first) = s.chars().next() else {
        return false;
    };
    first.is_ascii_alphabetic()
        && !s.ends_with(' ')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || " _.,()/+=@-".contains(c))
        && !WORDS.contains(&s.to_ascii_lowercase().as_str())
}

/// `value | json`: a JSON value (string, number, boolean, null, list or map) that reads back
/// as exactly `value`: serde_json escapes quotes, backslashes and control characters, so no
/// rule text can end the string it is written into.
fn json_filter(value: &Value) -> Result<String, Error> {
    if value.is_undefined() {
        return Err(Error::new(
            ErrorKind::UndefinedError,
            "`json` of an undefined value",
        ));
    }
    Ok(to_json(value)?.to_string())
}

/// A template value as JSON: strings, numbers, booleans, none, lists and maps (keys as text).
fn to_json(value: &Value) -> Result<serde_json::Value, Error> {
    use minijinja::value::ValueKind as K;
    use serde_json::Value as J;
    Ok(match value.kind() {
        K::Undefined | K::None => J::Null,
        K::Bool => J::Bool(value.is_true()),
        K::Number => match (i64::try_from(value.clone()), f64::try_from(value.clone())) {
            (Ok(i), _) => J::from(i),
            (Err(_), Ok(f)) => serde_json::Number::from_f64(f).map_or(J::Null, J::Number),
            (Err(e), Err(_)) => return Err(e),
        },
        K::String => J::String(value.as_str().unwrap_or_default().to_string()),
        K::Map => {
            let mut m = serde_json::Map::new();
            for k in value.try_iter()? {
                let v = value.get_item(&k)?;
                let key = k.as_str().map_or_else(|| k.to_string(), str::to_string);
                m.insert(key, to_json(&v)?);
            }
            J::Object(m)
        }
        K::Seq | K::Iterable => J::Array(
            value
                .try_iter()?
                .map(|v| to_json(&v))
                .collect::<Result<_, _>>()?,
        ),
        other => {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("`json` cannot write a {other}"),
            ));
        }
    })
}

/// `value | conf`: a `.conf` setting value. Lines after the first are continued with ` \` at
/// the end of the previous line, as Splunk's own content tooling (contentctl) writes
/// multi-line searches: sigc's queries break lines only between pipes, never inside a quoted
/// value (control characters in values are escaped), so the added space changes nothing. A
/// value ending in a backslash cannot be written (it would continue onto the next setting):
/// the rule is refused.
fn conf_filter(value: &Value) -> Result<String, Error> {
    if value.is_undefined() {
        return Err(Error::new(
            ErrorKind::UndefinedError,
            "`conf` of an undefined value",
        ));
    }
    let s = if value.is_none() {
        String::new()
    } else {
        value.to_string()
    };
    let s = s.replace("\r\n", "\n").replace('\r', "\n");
    if s.ends_with('\\') {
        return Err(refuse(format!(
            "a .conf value cannot end in a backslash (it would continue onto the next line): {s}"
        )));
    }
    Ok(s.split('\n').collect::<Vec<_>>().join(" \\\n"))
}

/// `value | conf_stanza`: a `.conf` stanza name: brackets (which would end the name) are
/// dropped and line breaks become spaces.
fn conf_stanza_filter(value: &str) -> String {
    value
        .chars()
        .filter(|c| !matches!(c, '[' | ']'))
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_scalars_read_back() {
        assert_eq!(
            yaml_scalar("Windows Remote Shell", 0),
            "Windows Remote Shell"
        );
        assert_eq!(yaml_scalar("yes", 0), "'yes'");
        assert_eq!(yaml_scalar("2026-11-22", 0), "'2026-11-22'");
        assert_eq!(yaml_scalar("a: b", 0), "'a: b'");
        assert_eq!(yaml_scalar("it's", 0), "'it''s'");
        assert_eq!(yaml_scalar("", 0), "''");
        assert_eq!(yaml_scalar("a\nb", 2), "|-\n    a\n    b");
        assert_eq!(yaml_scalar("a\n\nb", 0), "|-\n  a\n\n  b");
        assert_eq!(yaml_scalar(" a\nb", 0), "\" a\\nb\"");
        assert_eq!(yaml_scalar("a\u{2028}b", 0), "\"a\\u2028b\"");
        assert_eq!(yaml_scalar("a\\b\"", 0), "'a\\b\"'");
        assert_eq!(yaml_scalar("a\n", 0), "\"a\\n\"");
    }

    /// The scalar read back by sigc's own YAML reader (YAML 1.2), at a key and in a list.
    fn read_back(s: &str) -> Vec<Option<String>> {
        let text = format!(
            "k: {}\nlist:\n- {}\nnested:\n  k: {}\n",
            yaml_scalar(s, 0),
            yaml_scalar(s, 0),
            yaml_scalar(s, 2)
        );
        let file = crate::source::SourceFile::new("t.yml", text);
        let Ok(docs) = crate::yaml::parse_documents(&file) else {
            return vec![None];
        };
        let Some(doc) = docs.first() else {
            return vec![None];
        };
        let text = |n: Option<&Node>| n.and_then(|n| n.as_str()).map(str::to_string);
        vec![
            text(doc.get("k")),
            text(
                doc.get("list")
                    .and_then(|l| l.as_seq())
                    .and_then(|l| l.first()),
            ),
            text(doc.get("nested").and_then(|n| n.get("k"))),
        ]
    }

    proptest::proptest! {
        /// Whatever a value holds (quotes, colons, hashes, line breaks, YAML's own words), the
        /// scalar written for it reads back as that value, as a string.
        #[test]
        fn yaml_scalars_round_trip(
            v in "\\PC{0,20}|[-:#'\"\\\\|>&*!%@`{}\\[\\], \n\t]{0,12}|(yes|no|null|true|1.5|0x1f|~)"
        ) {
            let back = read_back(&v);
            proptest::prop_assert!(back.iter().all(|b| b.as_deref() == Some(v.as_str())), "{:?} -> {:?}", v, back);
        }
    }

    #[test]
    fn conf_values_continue_lines() {
        let v = |s: &str| conf_filter(&Value::from(s));
        assert_eq!(v("a\n| b").ok().as_deref(), Some("a \\\n| b"));
        assert_eq!(v("a\\\nb").ok().as_deref(), Some("a\\ \\\nb"));
        assert_eq!(v("one line").ok().as_deref(), Some("one line"));
        assert!(matches!(
            v("ends in \\").map_err(|e| RenderError::from_minijinja(&e)),
            Err(RenderError::Refused(_))
        ));
        assert_eq!(conf_stanza_filter("[a] b\nc"), "a b c");
    }

    #[test]
    fn fail_refuses_and_errors_are_template_errors() {
        let r = Renderer::new("t.j2", "{{ fail('no date') }}".into());
        let Ok(r) = r else { panic!("compiles") };
        assert!(matches!(
            r.render(Value::from(())),
            Err(RenderError::Refused(m)) if m == "no date"
        ));
        let Ok(r) = Renderer::new("t.j2", "{{ missing }}".into()) else {
            panic!("compiles")
        };
        assert!(matches!(
            r.render(Value::from(())),
            Err(RenderError::Template(_))
        ));
        assert!(Renderer::new("t.j2", "{% if %}".into()).is_err());
    }
}
