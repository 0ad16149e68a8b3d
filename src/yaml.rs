//! The only module that touches a YAML library. It turns text into [`Node`] trees that carry
//! byte spans, so every later stage can point at the exact key or value it complains about.
//! Swapping the YAML crate is a change to this file alone.
//!
//! Scalars are typed here with the YAML 1.2 core schema, as Sigma documents are written:
//! `null`/`~`/empty is null; `true`/`false` (any of the three casings) are booleans; decimal,
//! `0x` and `0o` integers and decimal floats are numbers (their source text is kept, so `0123`
//! can still be compared as the string `0123`); everything else, and every quoted scalar, is a
//! string. YAML 1.1's `yes`/`no`/`on`/`off` stay strings: a rule author writing `yes` means the
//! text. Duplicate keys are an error (pyyaml silently keeps the last one, which quietly drops a
//! condition from a detection).
//!
//! Limits keep hostile input bounded: nesting deeper than [`MAX_DEPTH`] and alias expansion
//! beyond [`MAX_ALIAS_NODES`] nodes ("billion laughs") are errors, not crashes.

use std::collections::HashMap;
use std::sync::Arc;

use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use crate::diagnostic::{Code, Diagnostic, Result};
use crate::source::{SourceFile, Span};

/// Deepest nesting of maps and sequences accepted. Sigma documents need fewer than ten levels.
pub const MAX_DEPTH: usize = 64;
/// Most nodes that alias references may copy into one file.
pub const MAX_ALIAS_NODES: usize = 20_000;

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub span: Span,
    pub kind: NodeKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    Null,
    Bool(bool),
    /// An integer with its source text.
    Int(i64, String),
    /// A float with its source text.
    Float(f64, String),
    Str(String, Style),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

/// How a string scalar was written; quoted scalars start one byte after their span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Plain,
    Quoted,
    Block,
}

impl Node {
    /// The text of a scalar (strings, numbers, booleans); `None` for null and collections.
    pub fn scalar_text(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Str(s, _) | NodeKind::Int(_, s) | NodeKind::Float(_, s) => Some(s),
            NodeKind::Bool(true) => Some("true"),
            NodeKind::Bool(false) => Some("false"),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Str(s, _) => Some(s),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.kind {
            NodeKind::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.kind {
            NodeKind::Seq(s) => Some(s),
            _ => None,
        }
    }

    /// Value of `key` in a map node.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entry(key).map(|(_, v)| v)
    }

    /// Key node and value of `key` in a map node.
    pub fn entry(&self, key: &str) -> Option<(&Node, &Node)> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.scalar_text() == Some(key))
            .map(|(k, v)| (k, v))
    }

    /// Offset from the span start to the first byte of the scalar's content.
    pub fn content_offset(&self) -> usize {
        match self.kind {
            NodeKind::Str(_, Style::Quoted) => 1,
            _ => 0,
        }
    }

    /// A short name for the node's type, for "expected X, found Y" messages.
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            NodeKind::Null => "null",
            NodeKind::Bool(_) => "a boolean",
            NodeKind::Int(..) | NodeKind::Float(..) => "a number",
            NodeKind::Str(..) => "a string",
            NodeKind::Seq(_) => "a list",
            NodeKind::Map(_) => "a map",
        }
    }

    /// Total nodes in this tree, counting itself.
    fn size(&self) -> usize {
        match &self.kind {
            NodeKind::Seq(items) => 1 + items.iter().map(Node::size).sum::<usize>(),
            NodeKind::Map(entries) => {
                1 + entries
                    .iter()
                    .map(|(k, v)| k.size() + v.size())
                    .sum::<usize>()
            }
            _ => 1,
        }
    }
}

/// Parse every document of a YAML stream. Empty documents are skipped. Spans are in bytes.
pub fn parse_documents(file: &Arc<SourceFile>) -> Result<Vec<Node>> {
    match Builder::new(file).run() {
        Ok(nodes) => Ok(chars_to_bytes(file, nodes)),
        Err(d) => Err(char_span_to_bytes(file, d)),
    }
}

/// The YAML scanner counts its positions in characters, not bytes: past the first non-ASCII
/// character every span would point too early. Convert them (a no-op on ASCII text).
fn chars_to_bytes(file: &SourceFile, mut nodes: Vec<Node>) -> Vec<Node> {
    if file.text.is_ascii() {
        return nodes;
    }
    let table = char_offsets(&file.text);
    for n in &mut nodes {
        remap(n, &table);
    }
    nodes
}

fn char_span_to_bytes(file: &SourceFile, mut d: Diagnostic) -> Diagnostic {
    if !file.text.is_ascii()
        && let Some(loc) = &mut d.location
    {
        let table = char_offsets(&file.text);
        loc.span = remap_span(loc.span, &table);
    }
    d
}

/// Byte offset of every character index (plus one past the end).
fn char_offsets(text: &str) -> Vec<u32> {
    let mut t: Vec<u32> = text.char_indices().map(|(b, _)| b as u32).collect();
    t.push(text.len() as u32);
    t
}

fn remap_span(span: Span, table: &[u32]) -> Span {
    let at = |i: u32| {
        table
            .get(i as usize)
            .copied()
            .unwrap_or_else(|| table.last().copied().unwrap_or(0))
    };
    Span {
        start: at(span.start),
        end: at(span.end),
    }
}

fn remap(node: &mut Node, table: &[u32]) {
    let collection = matches!(node.kind, NodeKind::Seq(_) | NodeKind::Map(_));
    let mapped = remap_span(node.span, table);
    // A scalar's span length is already its length in bytes; a collection's end is a
    // scanner position like its start.
    node.span = if collection {
        mapped
    } else {
        Span {
            start: mapped.start,
            end: mapped.start + (node.span.end - node.span.start),
        }
    };
    match &mut node.kind {
        NodeKind::Seq(items) => items.iter_mut().for_each(|i| remap(i, table)),
        NodeKind::Map(entries) => {
            for (k, v) in entries {
                remap(k, table);
                remap(v, table);
            }
        }
        _ => {}
    }
}

/// A collection being built: its start, anchor, and the items so far.
struct Open {
    start: Marker,
    anchor: usize,
    is_map: bool,
    items: Vec<Node>,
}

struct Builder<'a> {
    file: &'a Arc<SourceFile>,
    anchors: HashMap<usize, Node>,
    alias_budget: usize,
}

impl<'a> Builder<'a> {
    fn new(file: &'a Arc<SourceFile>) -> Self {
        Builder {
            file,
            anchors: HashMap::new(),
            alias_budget: MAX_ALIAS_NODES,
        }
    }

    fn err_at(&self, code: Code, msg: impl Into<String>, mark: Marker) -> Diagnostic {
        let at = mark.index().min(self.file.text.len());
        Diagnostic::error(code, msg).at(self.file, Span::new(at, at + 1))
    }

    fn run(mut self) -> Result<Vec<Node>> {
        let mut parser = Parser::new_from_str(&self.file.text);
        let mut docs = Vec::new();
        let mut stack: Vec<Open> = Vec::new();
        let mut root: Option<Node> = None;
        loop {
            let (event, mark) = parser.next_token().map_err(|e| {
                // The scanner has its own flow-nesting limit, which it can reach (scanning
                // ahead) before our depth check sees the events: that is a limit, not a typo.
                if e.info() == "recursion limit exceeded" {
                    return self.err_at(
                        Code::YamlLimit,
                        format!("YAML nests deeper than {MAX_DEPTH} levels"),
                        *e.marker(),
                    );
                }
                // The scanner reports a string whose closing quote is missing as bad
                // indentation (or the end of the file) inside the quoted scalar it began.
                if e.info().contains("quoted scalar") {
                    return self
                        .err_at(
                            Code::YamlSyntax,
                            "a quoted string is not closed",
                            *e.marker(),
                        )
                        .with_help(
                            "end it with the quote it starts with; inside '...' write '' for a quote, inside \"...\" write \\\"",
                        );
                }
                self.err_at(
                    Code::YamlSyntax,
                    format!("invalid YAML: {}", e.info()),
                    *e.marker(),
                )
                .with_help("check the indentation and quoting around this position")
            })?;
            let node = match event {
                Event::StreamEnd => break,
                Event::StreamStart | Event::Nothing => continue,
                Event::DocumentStart => {
                    root = None;
                    continue;
                }
                Event::DocumentEnd => {
                    if let Some(doc) = root.take()
                        && doc.kind != NodeKind::Null
                    {
                        docs.push(doc);
                    }
                    continue;
                }
                Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                    if stack.len() >= MAX_DEPTH {
                        return Err(self.err_at(
                            Code::YamlLimit,
                            format!("YAML nests deeper than {MAX_DEPTH} levels"),
                            mark,
                        ));
                    }
                    let is_map = matches!(event, Event::MappingStart(..));
                    stack.push(Open {
                        start: mark,
                        anchor,
                        is_map,
                        items: Vec::new(),
                    });
                    continue;
                }
                Event::SequenceEnd | Event::MappingEnd => {
                    let Some(open) = stack.pop() else { continue };
                    self.close(open, mark)?
                }
                Event::Scalar(text, style, anchor, tag) => {
                    let node =
                        self.scalar(text, style, tag.as_ref().map(|t| t.suffix.as_str()), mark);
                    self.remember(anchor, &node);
                    node
                }
                Event::Alias(id) => {
                    let Some(target) = self.anchors.get(&id) else {
                        return Err(self.err_at(
                            Code::YamlSyntax,
                            "alias to an unknown anchor",
                            mark,
                        ));
                    };
                    let size = target.size();
                    if size > self.alias_budget {
                        return Err(self.err_at(
                            Code::YamlLimit,
                            format!(
                                "YAML aliases expand to more than {MAX_ALIAS_NODES} nodes (an alias bomb?)"
                            ),
                            mark,
                        ));
                    }
                    self.alias_budget -= size;
                    let mut copy = target.clone();
                    copy.span = span_at(mark, 1);
                    copy
                }
            };
            match stack.last_mut() {
                Some(parent) => parent.items.push(node),
                None => root = Some(node),
            }
        }
        Ok(docs)
    }

    fn close(&mut self, open: Open, end: Marker) -> Result<Node> {
        // A block map's start event comes after its first key; start at that key instead.
        let first = open
            .items
            .first()
            .map_or(open.start.index(), |n| n.span.start as usize);
        let start = first.min(open.start.index());
        let span = Span::new(start, end.index().max(start + 1));
        let kind = if open.is_map {
            let mut entries: Vec<(Node, Node)> = Vec::with_capacity(open.items.len() / 2);
            let mut items = open.items.into_iter();
            while let (Some(k), Some(v)) = (items.next(), items.next()) {
                if let Some(text) = k.scalar_text()
                    && let Some((first, _)) =
                        entries.iter().find(|(e, _)| e.scalar_text() == Some(text))
                {
                    let (line, _) = self.file.line_col(first.span.start);
                    return Err(Diagnostic::error(
                        Code::DuplicateKey,
                        format!("duplicate key `{text}` (first defined on line {line})"),
                    )
                    .with_help(
                        "YAML keeps only one of them; merge the values into one key or rename one",
                    )
                    .at(self.file, k.span));
                }
                entries.push((k, v));
            }
            NodeKind::Map(entries)
        } else {
            NodeKind::Seq(open.items)
        };
        let node = Node { span, kind };
        self.remember(open.anchor, &node);
        Ok(node)
    }

    fn remember(&mut self, anchor: usize, node: &Node) {
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
    }

    fn scalar(&self, text: String, style: TScalarStyle, tag: Option<&str>, mark: Marker) -> Node {
        let (kind, len) = match style {
            TScalarStyle::Plain if tag != Some("str") => {
                let len = text.len();
                (plain_scalar(text), len)
            }
            TScalarStyle::Plain => {
                let len = text.len();
                (NodeKind::Str(text, Style::Plain), len)
            }
            TScalarStyle::SingleQuoted | TScalarStyle::DoubleQuoted => {
                let len = text.len() + 2;
                (NodeKind::Str(text, Style::Quoted), len)
            }
            TScalarStyle::Literal | TScalarStyle::Folded => (NodeKind::Str(text, Style::Block), 1),
        };
        Node {
            span: span_at(mark, len),
            kind,
        }
    }
}

fn span_at(mark: Marker, len: usize) -> Span {
    Span::new(mark.index(), mark.index() + len)
}

/// Resolve a plain scalar with the YAML 1.2 core schema.
fn plain_scalar(text: String) -> NodeKind {
    match text.as_str() {
        "" | "~" | "null" | "Null" | "NULL" => return NodeKind::Null,
        "true" | "True" | "TRUE" => return NodeKind::Bool(true),
        "false" | "False" | "FALSE" => return NodeKind::Bool(false),
        _ => {}
    }
    if let Some(n) = parse_int(&text) {
        return NodeKind::Int(n, text);
    }
    if is_float(&text)
        && let Ok(f) = text.parse::<f64>()
    {
        return NodeKind::Float(f, text);
    }
    NodeKind::Str(text, Style::Plain)
}

fn parse_int(text: &str) -> Option<i64> {
    let (neg, digits) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let value = if let Some(hex) = digits.strip_prefix("0x") {
        i64::from_str_radix(hex, 16).ok()?
    } else if let Some(oct) = digits.strip_prefix("0o") {
        i64::from_str_radix(oct, 8).ok()?
    } else if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        digits.parse().ok()?
    } else {
        return None;
    };
    Some(if neg { -value } else { value })
}

fn is_float(text: &str) -> bool {
    let t = text.trim_start_matches(['-', '+']);
    let (mantissa, exp) = match t.find(['e', 'E']) {
        Some(i) => (&t[..i], Some(&t[i + 1..])),
        None => (t, None),
    };
    let mut parts = mantissa.splitn(2, '.');
    let int = parts.next().unwrap_or("");
    let frac = parts.next();
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = digits(int)
        && frac.is_none_or(digits)
        && (!int.is_empty() || frac.is_some_and(|f| !f.is_empty()))
        && (frac.is_some() || exp.is_some());
    let exp_ok = exp.is_none_or(|e| {
        let e = e.trim_start_matches(['-', '+']);
        !e.is_empty() && digits(e)
    });
    mantissa_ok && exp_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<Node>> {
        parse_documents(&SourceFile::new("t.yml", text.to_string()))
    }

    #[test]
    fn types_follow_the_core_schema() {
        let docs = parse("a: 1\nb: '1'\nc: yes\nd: ~\ne: 0x1A\nf: 1.5\ng: true\n").unwrap();
        let m = &docs[0];
        assert!(matches!(m.get("a").unwrap().kind, NodeKind::Int(1, _)));
        assert!(matches!(
            m.get("b").unwrap().kind,
            NodeKind::Str(_, Style::Quoted)
        ));
        assert!(matches!(
            m.get("c").unwrap().kind,
            NodeKind::Str(_, Style::Plain)
        ));
        assert_eq!(m.get("d").unwrap().kind, NodeKind::Null);
        assert!(matches!(m.get("e").unwrap().kind, NodeKind::Int(26, _)));
        assert!(matches!(m.get("f").unwrap().kind, NodeKind::Float(..)));
        assert_eq!(m.get("g").unwrap().kind, NodeKind::Bool(true));
    }

    #[test]
    fn spans_point_at_keys_and_values() {
        let text = "title: x\ndetection:\n  sel: 'abc'\n";
        let file = SourceFile::new("t.yml", text.to_string());
        let docs = parse_documents(&file).unwrap();
        let (k, v) = docs[0].get("detection").unwrap().entry("sel").unwrap();
        assert_eq!(file.line_col(k.span.start), (3, 3));
        assert_eq!(file.line_col(v.span.start), (3, 8));
        assert_eq!(&text[v.span.start as usize..v.span.end as usize], "'abc'");
    }

    #[test]
    fn duplicate_keys_are_errors() {
        let err = parse("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!(err.code, Code::DuplicateKey);
        assert_eq!(err.line_col(), Some((3, 1)));
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let prev = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"
            ));
        }
        assert_eq!(parse(&text).unwrap_err().code, Code::YamlLimit);
    }

    #[test]
    fn deep_nesting_is_refused() {
        let text = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert_eq!(parse(&text).unwrap_err().code, Code::YamlLimit);
    }
}
