//! The syntax tree: faithful to what the author wrote, with spans. Nothing is resolved or
//! simplified here; modifiers are still a list, search identifiers still names. The IR
//! (`crate::ir`) is where meaning is decided.

use std::sync::Arc;

use crate::source::{SourceFile, Span, Spanned};
use crate::yaml::Node;

#[derive(Debug, Clone)]
pub struct Document {
    pub file: Arc<SourceFile>,
    /// Position of the document in its file (0-based, after collection actions are applied).
    pub index: usize,
    pub span: Span,
    pub meta: Meta,
    pub body: Body,
}

#[derive(Debug, Clone)]
pub enum Body {
    Rule(Rule),
    Correlation(Correlation),
    Filter(Filter),
}

impl Document {
    pub fn kind(&self) -> &'static str {
        match self.body {
            Body::Rule(_) => "rule",
            Body::Correlation(_) => "correlation",
            Body::Filter(_) => "filter",
        }
    }
}

/// Every top-level key that is not structural (`logsource`, `detection`, `correlation`,
/// `filter`), in source order, custom fields included. The well-known ones are also parsed out.
#[derive(Debug, Clone, Default)]
pub struct Meta {
    pub title: Option<Spanned<String>>,
    pub id: Option<Spanned<String>>,
    pub name: Option<Spanned<String>>,
    pub status: Option<Spanned<String>>,
    pub level: Option<Spanned<String>>,
    pub tags: Vec<Spanned<String>>,
    pub fields: Vec<(Spanned<String>, Node)>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct LogSource {
    pub category: Option<String>,
    pub product: Option<String>,
    pub service: Option<String>,
    pub definition: Option<String>,
    /// Any further keys, in source order.
    pub custom: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
pub struct Rule {
    pub logsource: LogSource,
    pub detection: Detection,
}

#[derive(Debug, Clone)]
pub struct Detection {
    pub span: Span,
    pub searches: Vec<Search>,
    /// One or more conditions; a list means OR of the queries.
    pub conditions: Vec<Spanned<Condition>>,
}

/// A named search identifier and its body.
#[derive(Debug, Clone)]
pub struct Search {
    pub name: Spanned<String>,
    pub body: SearchBody,
}

#[derive(Debug, Clone)]
pub enum SearchBody {
    /// A map: AND of its items.
    Map(Vec<FieldItem>),
    /// A list of maps: OR of ANDs.
    AnyOf(Vec<Vec<FieldItem>>),
    /// A list of plain values: keywords matched anywhere in the event.
    Keywords(FieldItem),
}

/// One `field|mod|mod: value(s)` entry (`field` is `None` for keywords).
#[derive(Debug, Clone)]
pub struct FieldItem {
    pub span: Span,
    pub field: Option<Spanned<String>>,
    pub modifiers: Vec<Spanned<Modifier>>,
    pub values: Vec<Spanned<Value>>,
    /// The values were written as a list (even of one).
    pub is_list: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64, String),
    Float(f64, String),
    Str(String),
}

macro_rules! modifiers {
    ($( $variant:ident = $name:literal $(| $alias:literal)* : $doc:literal; )*) => {
        /// A value modifier, as named after `|` in a detection key.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Modifier { $( #[doc = $doc] $variant, )* }

        impl Modifier {
            pub const ALL: &'static [Modifier] = &[$(Modifier::$variant),*];

            /// Parse a modifier name (aliases included).
            pub fn parse(name: &str) -> Option<Modifier> {
                match name {
                    $( $name $(| $alias)* => Some(Modifier::$variant), )*
                    _ => None,
                }
            }

            pub fn name(self) -> &'static str {
                match self { $(Modifier::$variant => $name,)* }
            }

            pub fn aliases(self) -> &'static [&'static str] {
                match self { $(Modifier::$variant => &[$($alias),*],)* }
            }

            pub fn doc(self) -> &'static str {
                match self { $(Modifier::$variant => $doc,)* }
            }
        }
    };
}

modifiers! {
    Contains = "contains": "value occurs anywhere in the field (`*value*`)";
    StartsWith = "startswith": "field starts with the value (`value*`)";
    EndsWith = "endswith": "field ends with the value (`*value`)";
    All = "all": "all values of the list must match (AND instead of OR)";
    Exists = "exists": "`true`: the field is present; `false`: it is absent";
    Cased = "cased": "match case-sensitively";
    Neq = "neq": "the field differs from every value";
    Windash = "windash": "also match `-` `/` `–` `—` `―` in place of a dash or slash starting a flag";
    Re = "re": "the value is a regular expression (PCRE subset), case-sensitive";
    I = "i" | "ignorecase": "regex flag: ignore case";
    M = "m" | "multiline": "regex flag: `^` and `$` match at line breaks";
    S = "s" | "dotall": "regex flag: `.` matches newlines";
    Base64 = "base64": "match the base64 encoding of the value";
    Base64Offset = "base64offset": "match the value base64-encoded at any of the three byte offsets";
    Utf16le = "utf16le" | "wide": "encode the value as UTF-16LE (before base64)";
    Utf16be = "utf16be": "encode the value as UTF-16BE (before base64)";
    Utf16 = "utf16": "encode the value as UTF-16LE with a byte-order mark (before base64)";
    Cidr = "cidr": "the field is an IP address inside the given IPv4/IPv6 network";
    Lt = "lt": "numerically less than";
    Lte = "lte": "numerically less than or equal";
    Gt = "gt": "numerically greater than";
    Gte = "gte": "numerically greater than or equal";
    Minute = "minute": "the minute (0-59) of the timestamp field";
    Hour = "hour": "the hour (0-23) of the timestamp field";
    Day = "day": "the day of the month (1-31) of the timestamp field";
    Week = "week": "the ISO week (1-53) of the timestamp field";
    Month = "month": "the month (1-12) of the timestamp field";
    Year = "year": "the year of the timestamp field";
    Expand = "expand": "resolve `%placeholder%` names through the processing pipeline";
    FieldRef = "fieldref": "compare with the value of another field of the same event";
}

/// The condition language, one node per written construct.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    Ident(Spanned<String>),
    /// `1 of x`, `any of x`, `all of x`; `x` may be `them` or a `*` pattern.
    Of {
        quantifier: Quantifier,
        pattern: Spanned<String>,
    },
    Not(Box<Spanned<Condition>>),
    /// `a and b and c`: one node per chain, so long chains do not nest deeply.
    And(Vec<Spanned<Condition>>),
    Or(Vec<Spanned<Condition>>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quantifier {
    One,
    Any,
    All,
}

#[derive(Debug, Clone)]
pub struct Correlation {
    pub kind: Spanned<CorrelationKind>,
    pub rules: Vec<Spanned<String>>,
    pub group_by: Vec<Spanned<String>>,
    pub timespan: Option<Spanned<String>>,
    pub aliases: Vec<AliasAst>,
    pub condition: Option<CorrelationCondition>,
    pub generate: bool,
}

/// `aliases: {name: {rule: field, ...}}`.
#[derive(Debug, Clone)]
pub struct AliasAst {
    pub name: Spanned<String>,
    /// `(rule, field)` pairs.
    pub fields: Vec<(Spanned<String>, Spanned<String>)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CorrelationKind {
    EventCount,
    ValueCount,
    Temporal,
    TemporalOrdered,
    ValueSum,
    ValueAvg,
    ValuePercentile,
}

impl CorrelationKind {
    pub const ALL: &'static [CorrelationKind] = &[
        CorrelationKind::EventCount,
        CorrelationKind::ValueCount,
        CorrelationKind::Temporal,
        CorrelationKind::TemporalOrdered,
        CorrelationKind::ValueSum,
        CorrelationKind::ValueAvg,
        CorrelationKind::ValuePercentile,
    ];

    pub fn name(self) -> &'static str {
        match self {
            CorrelationKind::EventCount => "event_count",
            CorrelationKind::ValueCount => "value_count",
            CorrelationKind::Temporal => "temporal",
            CorrelationKind::TemporalOrdered => "temporal_ordered",
            CorrelationKind::ValueSum => "value_sum",
            CorrelationKind::ValueAvg => "value_avg",
            CorrelationKind::ValuePercentile => "value_percentile",
        }
    }

    pub fn parse(s: &str) -> Option<CorrelationKind> {
        Self::ALL.iter().copied().find(|k| k.name() == s)
    }

    /// Types that aggregate a field's values and so need `condition.field`.
    pub fn needs_field(self) -> bool {
        matches!(
            self,
            CorrelationKind::ValueCount
                | CorrelationKind::ValueSum
                | CorrelationKind::ValueAvg
                | CorrelationKind::ValuePercentile
        )
    }

    pub fn is_temporal(self) -> bool {
        matches!(
            self,
            CorrelationKind::Temporal | CorrelationKind::TemporalOrdered
        )
    }
}

#[derive(Debug, Clone)]
pub enum CorrelationCondition {
    /// `{gt: 10, lte: 100, field: x}`.
    Compare {
        span: Span,
        bounds: Vec<(Spanned<CompareOp>, Spanned<Value>)>,
        fields: Vec<Spanned<String>>,
        percentile: Option<Spanned<Value>>,
    },
    /// The v2.2 boolean condition over rule names (temporal types only).
    Expr(Spanned<Condition>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompareOp {
    Gt,
    Gte,
    Lt,
    Lte,
    Eq,
    Neq,
}

impl CompareOp {
    pub fn parse(s: &str) -> Option<CompareOp> {
        Some(match s {
            "gt" => CompareOp::Gt,
            "gte" => CompareOp::Gte,
            "lt" => CompareOp::Lt,
            "lte" => CompareOp::Lte,
            "eq" => CompareOp::Eq,
            "neq" => CompareOp::Neq,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            CompareOp::Gt => "gt",
            CompareOp::Gte => "gte",
            CompareOp::Lt => "lt",
            CompareOp::Lte => "lte",
            CompareOp::Eq => "eq",
            CompareOp::Neq => "neq",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Filter {
    pub logsource: LogSource,
    pub rules: FilterRules,
    pub detection: Detection,
}

#[derive(Debug, Clone)]
pub enum FilterRules {
    /// `rules: any` (or an empty list): every rule whose log source matches.
    Any,
    List(Vec<Spanned<String>>),
}
