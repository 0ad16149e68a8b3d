//! The table of stable diagnostic codes. A code never changes meaning once released; add new
//! ones at the end of their group. `E` codes are errors, `W` codes warnings.

macro_rules! codes {
    ($( $(#[doc = $doc:literal])* $variant:ident = $code:literal, $name:literal; )*) => {
        /// A stable diagnostic code.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Code {
            $( $(#[doc = $doc])* $variant, )*
        }

        impl Code {
            /// All codes, in table order.
            pub const ALL: &'static [Code] = &[$(Code::$variant),*];

            /// The code as printed, e.g. `E030`.
            pub fn as_str(self) -> &'static str {
                match self { $(Code::$variant => $code,)* }
            }

            /// A short kebab-case name, e.g. `unknown-modifier`.
            pub fn name(self) -> &'static str {
                match self { $(Code::$variant => $name,)* }
            }

            /// The one-line explanation from this table.
            pub fn summary(self) -> &'static str {
                match self { $(Code::$variant => concat!($($doc),*).trim_ascii(),)* }
            }
        }
    };
}

codes! {
    /// The file could not be read.
    Io = "E001", "io";
    /// The file is not valid UTF-8.
    NotUtf8 = "E002", "not-utf8";
    /// The file is larger than sigc reads.
    TooLarge = "E003", "file-too-large";
    /// The YAML is malformed.
    YamlSyntax = "E010", "yaml-syntax";
    /// The YAML nests too deeply or its aliases expand too far.
    YamlLimit = "E011", "yaml-limit";
    /// A mapping has the same key twice.
    DuplicateKey = "E012", "duplicate-key";
    /// The YAML lost its indentation: `logsource:`/`detection:` are empty and their keys sit
    /// beside them at the top level.
    FlattenedYaml = "E013", "flattened-yaml";
    /// The document is not a Sigma rule, correlation rule or meta filter.
    UnknownDocument = "E020", "unknown-document";
    /// A required key is missing.
    MissingKey = "E021", "missing-key";
    /// A key holds a value of the wrong type.
    WrongType = "E022", "wrong-type";
    /// A legacy collection action (`action: global|reset|repeat`) is misused.
    BadAction = "E023", "bad-collection-action";
    /// The `id` is not a UUID.
    InvalidId = "E024", "invalid-id";
    /// The `status` is not one of stable, test, experimental, deprecated, unsupported.
    InvalidStatus = "E025", "invalid-status";
    /// The `level` is not one of informational, low, medium, high, critical.
    InvalidLevel = "E026", "invalid-level";
    /// A modifier name is not one Sigma defines.
    UnknownModifier = "E030", "unknown-modifier";
    /// Modifiers are combined in a way Sigma does not allow.
    ModifierCombination = "E031", "modifier-combination";
    /// A value does not fit its modifier (bad regex, bad CIDR, wildcard in base64, ...).
    InvalidValue = "E032", "invalid-value";
    /// A nested list or map stands where a value belongs.
    NestedValue = "E033", "nested-value";
    /// The condition does not parse.
    ConditionSyntax = "E040", "condition-syntax";
    /// The condition names a search identifier the detection does not define.
    UndefinedIdentifier = "E041", "undefined-identifier";
    /// An `x of pattern` matches no search identifier.
    EmptyPattern = "E042", "empty-pattern";
    /// Sigma v1 aggregation syntax (`| count() by ...`, `near`, `timeframe`).
    LegacyAggregation = "E043", "legacy-aggregation";
    /// The condition nests deeper than sigc evaluates.
    ConditionTooDeep = "E044", "condition-too-deep";
    /// Sigma v1 syntax that v2 removed (e.g. `YYYY/MM/DD` dates).
    LegacyV1 = "E045", "legacy-v1";
    /// A selection or condition can never match (contradictory values on one field, `x and
    /// not x`, an empty numeric range, `exists: false` with a value).
    NeverMatches = "E046", "never-matches";
    /// A correlation rule is malformed.
    Correlation = "E050", "correlation";
    /// A correlation or filter names a rule that is not loaded.
    UnresolvedReference = "E051", "unresolved-reference";
    /// A timespan is not `<number><s|m|h|d|w|M|y>`.
    InvalidTimespan = "E052", "invalid-timespan";
    /// Correlation rules reference each other in a cycle.
    ReferenceCycle = "E053", "reference-cycle";
    /// A meta filter is malformed.
    Filter = "E060", "filter";
    /// A processing pipeline is malformed.
    Pipeline = "E070", "pipeline";
    /// A pipeline's `rule_failure` / `detection_item_failure` rejected the rule.
    PipelineFailure = "E071", "pipeline-failure";
    /// A placeholder (`%name%` under `expand`) has no value.
    UnresolvedPlaceholder = "E072", "unresolved-placeholder";
    /// The requested target or output format does not exist.
    UnknownTarget = "E080", "unknown-target";
    /// The target cannot express this rule exactly.
    Unsupported = "E081", "unsupported";
    /// An output template (`--template`), its settings (`--set`) or its rendering is wrong.
    Template = "E082", "template";
    /// A rule repository's `sigc.yml` is malformed: an unknown key, target, format or pipeline,
    /// or a value of the wrong type.
    Config = "E090", "config";
    /// The committed output tree differs from what the rules generate (`sigc build --check`).
    StaleOutput = "E091", "stale-output";
    /// A key is not part of the Sigma specification (kept, but maybe misspelt or misplaced).
    UnknownKey = "W001", "unknown-key";
    /// Condition keywords are lowercase in Sigma.
    KeywordCase = "W002", "keyword-case";
    /// A regular expression uses syntax outside the spec's portable subset.
    NonPortableRegex = "W003", "non-portable-regex";
    /// `all` on a single value changes nothing.
    AllOnSingleValue = "W004", "all-single-value";
    /// Two documents share an id or a name; references to it are ambiguous.
    DuplicateId = "W005", "duplicate-id";
    /// A condition matches every event (e.g. `x or not x`).
    AlwaysMatches = "W006", "always-matches";
    /// A search identifier that the condition never uses.
    UnusedSearch = "W007", "unused-search";
    /// A value repeats another, or is made redundant by a broader one (`contains: foo` next to
    /// `contains: foobar` under OR).
    RedundantValue = "W008", "redundant-value";
    /// A regular expression prone to catastrophic backtracking on PCRE and Java engines.
    Backtracking = "W009", "catastrophic-backtracking";
    /// A field the rule's log source (Sigma taxonomy) does not have.
    UnknownField = "W010", "unknown-field";
    /// A value that does not fit its field (a product description where a file name belongs).
    SuspiciousValue = "W011", "suspicious-value";
    /// The rule has no `id` or no `level`.
    MissingMetadata = "W012", "missing-metadata";
    /// A tag in Sigma v1 form (underscores where v2 writes dashes).
    LegacyTag = "W013", "legacy-tag";
}
