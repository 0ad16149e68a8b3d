//! Processing pipelines (pySigma's YAML format) on sigc's IR.
//!
//! - every transformation and every condition type, each with a case where it applies and one
//!   where it must not;
//! - merging by priority, errors at the pipeline file's line:col, purity of `apply`;
//! - `sigc debug ir -p` on the fixture pairs in `tests/fixtures/pipelines/`;
//! - the built-in pipelines over the whole SigmaHQ corpus (`../shared`, as `tests/corpus.rs`).

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;

use sigc::diagnostic::{Code, Diagnostic};
use sigc::ir::display;
use sigc::ir::rule::{CorrelationCondition, RuleIr};
use sigc::load::{self, Input, Item};
use sigc::pipeline::{self, Pipelines};
use sigc::yaml::NodeKind;

const FIXTURES: &str = "tests/fixtures/pipelines";
const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/corpus/sigma/rules");

/// A Windows process creation rule most tests transform.
const PROC: &str = r#"
title: Office spawns a shell
logsource:
  category: process_creation
  product: windows
level: high
status: test
date: 2024-03-01
tags:
  - attack.execution
detection:
  selection:
    ParentImage|endswith:
      - '\winword.exe'
      - '\excel.exe'
    Image|endswith: '\cmd.exe'
    User: '%Admins%'
  filter:
    CommandLine|contains: '\Temp\'
  condition: selection and not filter
fields:
  - Image
  - CommandLine
"#;

fn rule(text: &str) -> Arc<RuleIr> {
    let set = load::load_text("rule.yml", text);
    for d in &set.docs {
        assert!(
            !d.failed(),
            "the test rule does not load: {:?}",
            d.diagnostics
        );
    }
    set.rules().next().cloned().expect("the text holds a rule")
}

fn pipelines(texts: &[&str]) -> Pipelines {
    Pipelines::new(
        texts
            .iter()
            .enumerate()
            .map(|(i, t)| {
                pipeline::load_text(&format!("p{i}.yml"), t).unwrap_or_else(|d| panic!("{d}"))
            })
            .collect(),
    )
}

fn try_apply(p: &str, r: &str) -> Result<RuleIr, Diagnostic> {
    pipelines(&[p]).apply(&rule(r))
}

/// The transformed rule in `sigc debug ir` form.
fn apply(p: &str, r: &str) -> String {
    match try_apply(p, r) {
        Ok(out) => display::rule(&out),
        Err(d) => panic!("{d}"),
    }
}

fn load_err(p: &str) -> Diagnostic {
    pipeline::load_text("p.yml", p).expect_err("the pipeline should not load")
}

/// `sigc` from the crate root, so paths in its output are the fixture paths as written.
fn sigc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sigc"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .output()
        .expect("run sigc")
}

fn fixture(name: &str) -> String {
    format!("{FIXTURES}/{name}")
}

// ---------------------------------------------------------------------------------------------
// Field names

#[test]
fn field_name_mapping_renames_and_splits() {
    let out = apply(
        r#"
transformations:
  - type: field_name_mapping
    mapping:
      Image: process.executable
      CommandLine: [process.command_line, process.args]
"#,
        PROC,
    );
    assert!(
        out.contains(r#"process.executable endswith "\cmd.exe""#),
        "{out}"
    );
    // One-to-many: an OR of the same test on each field.
    assert!(
        out.contains(
            "      not\n        or\n          process.command_line contains \"\\Temp\\\"\n          process.args contains \"\\Temp\\\"\n"
        ),
        "{out}"
    );
    // Fields the mapping does not name stay.
    assert!(
        out.contains(r#"ParentImage endswith "\winword.exe""#),
        "{out}"
    );
    assert!(!out.contains("Image endswith \"\\cmd.exe\""), "{out}");
}

#[test]
fn field_name_mapping_of_an_all_list_keeps_the_values_together() {
    // pySigma maps the detection item: each field gets the whole AND of values.
    let out = apply(
        r#"
transformations:
  - type: field_name_mapping
    mapping:
      CommandLine: [a, b]
"#,
        r#"
title: t
logsource: {product: windows}
detection:
  sel:
    CommandLine|contains|all: [x, y]
  condition: sel
"#,
    );
    let want = "    or\n      and\n        a contains \"x\"\n        a contains \"y\"\n      and\n        b contains \"x\"\n        b contains \"y\"\n";
    assert!(out.ends_with(want), "{out}");
}

#[test]
fn field_name_mapping_respects_field_name_conditions() {
    let p = r#"
transformations:
  - type: field_name_mapping
    mapping:
      Image: new.image
      CommandLine: new.cmd
    field_name_conditions:
      - type: include_fields
        fields: [Image]
"#;
    let out = apply(p, PROC);
    assert!(out.contains("new.image endswith"), "{out}");
    assert!(out.contains("CommandLine contains"), "{out}");
    assert!(!out.contains("new.cmd"), "{out}");
}

#[test]
fn field_name_mapping_maps_field_references_and_the_fields_list() {
    let p = r#"
transformations:
  - id: m
    type: field_name_mapping
    mapping:
      Image: process.executable
      TargetImage: process.target
"#;
    let out = try_apply(
        p,
        r#"
title: t
logsource: {product: windows}
detection:
  sel:
    Image|fieldref: TargetImage
  condition: sel
fields: [Image, Other]
"#,
    )
    .unwrap();
    let text = display::rule(&out);
    assert!(
        text.contains("process.executable == field process.target"),
        "{text}"
    );
    let fields: Vec<String> = match out.header.fields.iter().find(|(k, _)| k == "fields") {
        Some((_, n)) => match &n.kind {
            NodeKind::Seq(items) => items
                .iter()
                .filter_map(|i| i.scalar_text().map(str::to_string))
                .collect(),
            _ => Vec::new(),
        },
        None => Vec::new(),
    };
    assert_eq!(fields, vec!["process.executable", "Other"]);
}

#[test]
fn keywords_map_to_a_field_with_a_null_key() {
    let p = r#"
transformations:
  - type: field_name_mapping
    mapping:
      null: Message
"#;
    let r = r#"
title: t
logsource: {product: windows}
detection:
  keywords: [evil]
  condition: keywords
"#;
    assert!(apply(p, r).contains(r#"Message contains "evil""#));
    let without = apply(p.replace("null", "Other").as_str(), r);
    assert!(
        without.contains(r#"<keyword> contains "evil""#),
        "{without}"
    );
}

#[test]
fn field_name_prefix_mapping_uses_the_first_matching_prefix() {
    let out = apply(
        r#"
transformations:
  - type: field_name_prefix_mapping
    mapping:
      Parent: parent.
      Par: nope.
"#,
        PROC,
    );
    assert!(
        out.contains(r#"parent.Image endswith "\winword.exe""#),
        "{out}"
    );
    assert!(!out.contains("nope."), "{out}");
    assert!(out.contains(r#"  Image endswith "\cmd.exe""#), "{out}");
}

#[test]
fn field_name_prefix_and_suffix() {
    let p = r#"
transformations:
  - type: field_name_prefix
    prefix: 'winlog.'
    field_name_conditions:
      - type: exclude_fields
        fields: ['^Parent']
        mode: re
  - type: field_name_suffix
    suffix: '.keyword'
    field_name_conditions:
      - type: include_fields
        fields: [winlog.Image]
"#;
    let out = apply(p, PROC);
    assert!(
        out.contains(r#"winlog.Image.keyword endswith "\cmd.exe""#),
        "{out}"
    );
    assert!(out.contains(r#"winlog.CommandLine contains"#), "{out}");
    assert!(!out.contains("winlog.CommandLine.keyword"), "{out}");
    assert!(out.contains(r#"  ParentImage endswith"#), "{out}");
}

// ---------------------------------------------------------------------------------------------
// Rule structure

const CHANNEL: &str = r#"
transformations:
  - id: security_channel
    type: add_condition
    conditions:
      Channel: Security
      EventID|gte: 4000
    rule_conditions:
      - type: logsource
        product: windows
        service: security
"#;

const TWO_CONDITIONS: &str = r#"
title: t
logsource:
  product: windows
  service: security
detection:
  a:
    EventID: 4624
  b:
    EventID: 4625
  condition:
    - a
    - b
"#;

#[test]
fn add_condition_is_anded_into_every_condition() {
    let out = apply(CHANNEL, TWO_CONDITIONS);
    let want = "  condition 1:\n    and\n      Channel == \"Security\"\n      EventID >= 4000\n      EventID == 4624\n  condition 2:\n    and\n      Channel == \"Security\"\n      EventID >= 4000\n      EventID == 4625\n";
    assert!(out.ends_with(want), "{out}");
    // Another service: not applied.
    let other = apply(CHANNEL, &TWO_CONDITIONS.replace("security", "system"));
    assert!(!other.contains("Channel"), "{other}");
}

#[test]
fn add_condition_negated_and_templated() {
    let p = r#"
transformations:
  - type: add_condition
    negated: true
    template: true
    conditions:
      source: '$product:${service}'
"#;
    let out = apply(p, TWO_CONDITIONS);
    assert!(
        out.contains(
            "    and\n      not\n        source == \"windows:security\"\n      EventID == 4624\n"
        ),
        "{out}"
    );
}

#[test]
fn change_logsource() {
    let p = r#"
transformations:
  - type: change_logsource
    product: windows
    service: sysmon
    rule_conditions:
      - type: logsource
        category: process_creation
"#;
    assert!(apply(p, PROC).contains("logsource: product=windows service=sysmon\n"));
    let untouched = apply(p, TWO_CONDITIONS);
    assert!(untouched.contains("logsource: product=windows service=security\n"));
}

#[test]
fn drop_detection_item_removes_the_item_from_its_group() {
    let p = r#"
transformations:
  - type: drop_detection_item
    field_name_conditions:
      - type: include_fields
        fields: [ParentImage, CommandLine]
"#;
    let out = apply(p, PROC);
    assert!(!out.contains("ParentImage"), "{out}");
    // `not filter` goes with its only item, instead of turning into `not true`.
    assert!(!out.contains("not"), "{out}");
    assert!(out.contains(r#"Image endswith "\cmd.exe""#), "{out}");
    assert!(out.contains(r#"User == "%Admins%""#), "{out}");
    // With a condition that matches nothing, nothing is dropped.
    let none = apply(&p.replace("ParentImage, CommandLine", "Nothing"), PROC);
    assert_eq!(none, display::rule(&rule(PROC)));
}

#[test]
fn dropping_every_item_of_a_condition_is_an_error() {
    let d = try_apply("transformations:\n  - type: drop_detection_item\n", PROC).unwrap_err();
    assert_eq!(d.code, Code::Pipeline);
    assert!(
        d.message.contains("dropped every detection item"),
        "{}",
        d.message
    );
}

#[test]
fn fields_list_transformations() {
    let fields = |p: &str| -> Vec<String> {
        let out = try_apply(p, PROC).unwrap();
        match out.header.fields.iter().find(|(k, _)| k == "fields") {
            Some((_, n)) => match &n.kind {
                NodeKind::Seq(items) => items
                    .iter()
                    .filter_map(|i| i.scalar_text().map(str::to_string))
                    .collect(),
                _ => panic!("fields is not a list"),
            },
            None => Vec::new(),
        }
    };
    assert_eq!(
        fields("transformations:\n  - type: add_field\n    field: [User, Host]\n"),
        vec!["Image", "CommandLine", "User", "Host"]
    );
    assert_eq!(
        fields("transformations:\n  - type: remove_field\n    field: Image\n"),
        vec!["CommandLine"]
    );
    assert_eq!(
        fields("transformations:\n  - type: remove_field\n    field: Nope\n"),
        vec!["Image", "CommandLine"]
    );
    assert_eq!(
        fields("transformations:\n  - type: set_field\n    fields: [a]\n"),
        vec!["a"]
    );
}

#[test]
fn set_custom_attribute_is_seen_by_rule_attribute() {
    let p = r#"
transformations:
  - type: set_custom_attribute
    attribute: backend_index
    value: edr
    rule_conditions:
      - type: logsource
        category: process_creation
  - type: set_state
    key: hit
    val: 1
    rule_conditions:
      - type: rule_attribute
        attribute: backend_index
        value: edr
"#;
    let out = try_apply(p, PROC).unwrap();
    assert!(out.header.get_str("backend_index") == Some("edr"));
    assert!(display::rule(&out).contains("state: hit=1"));
    let other = try_apply(p, TWO_CONDITIONS).unwrap();
    assert!(other.header.get_str("backend_index").is_none());
    assert!(!display::rule(&other).contains("state: hit=1"));
}

// ---------------------------------------------------------------------------------------------
// Values

#[test]
fn replace_string_keeps_wildcards_and_backslashes() {
    let p = r#"
transformations:
  - type: replace_string
    regex: '^\*\\'
    replacement: '*/'
    field_name_conditions:
      - type: include_fields
        fields: [Image, CommandLine]
"#;
    let out = apply(p, PROC);
    // `endswith: \cmd.exe` is `*\cmd.exe` to pySigma: the regex sees and replaces that.
    assert!(out.contains(r#"Image endswith "/cmd.exe""#), "{out}");
    // `contains: \Temp\`: the trailing backslash before the wildcard survives (pySigma's
    // re-parse would make it a literal `*`).
    assert!(out.contains(r#"CommandLine contains "/Temp\""#), "{out}");
    // Not selected by the field condition.
    assert!(
        out.contains(r#"ParentImage endswith "\winword.exe""#),
        "{out}"
    );
}

#[test]
fn replace_string_with_groups_and_skip_special() {
    let p = r#"
transformations:
  - type: replace_string
    regex: '(\w+)\.exe$'
    replacement: '\1.EXE'
"#;
    let out = apply(p, PROC);
    assert!(out.contains(r#"Image endswith "\cmd.EXE""#), "{out}");
    let p2 = r#"
transformations:
  - type: replace_string
    regex: '^'
    replacement: 'C:'
    skip_special: true
"#;
    // Only the literal parts are replaced; the leading wildcard stays a wildcard.
    assert!(apply(p2, PROC).contains(r#"Image endswith "C:\cmd.exe""#));
}

#[test]
fn replace_string_reads_numbers_as_strings() {
    let p = "transformations:\n  - type: replace_string\n    regex: '^46'\n    replacement: '99'\n";
    let out = apply(p, TWO_CONDITIONS);
    assert!(out.contains(r#"EventID == "9924""#), "{out}");
}

#[test]
fn map_string() {
    let p = r#"
transformations:
  - type: map_string
    mapping:
      '*\cmd.exe': ['*\cmd.exe', '*\pwsh.exe']
      '\excel.exe': never
"#;
    let out = apply(p, PROC);
    assert!(
        out.contains(
            "    or\n        Image endswith \"\\cmd.exe\"\n        Image endswith \"\\pwsh.exe\"\n"
        ),
        "{out}"
    );
    // The key is the plain form `*\excel.exe`, so `\excel.exe` maps nothing.
    assert!(
        out.contains(r#"ParentImage endswith "\excel.exe""#),
        "{out}"
    );
    assert!(!out.contains("never"), "{out}");
}

const PLACEHOLDER_RULE: &str = r#"
title: t
logsource: {product: windows, service: security}
detection:
  sel:
    User|expand: '%Admins%'
    Host|expand: 'srv-%Site%-*'
  condition: sel
"#;

#[test]
fn value_placeholders_expand_from_vars() {
    let p = r#"
vars:
  Admins: [alice, 'bob*']
  Site: 7
transformations:
  - id: values
    type: value_placeholders
    include: [Admins]
"#;
    let out = apply(p, PLACEHOLDER_RULE);
    assert!(
        out.contains("    or\n        User == \"alice\"\n        User startswith \"bob\"\n"),
        "{out}"
    );
    // `Site` is not included: still a placeholder.
    assert!(out.contains("Host glob \"srv-\" %Site% \"-\" *"), "{out}");
    let all = apply(&p.replace("    include: [Admins]\n", ""), PLACEHOLDER_RULE);
    assert!(all.contains(r#"Host startswith "srv-7-""#), "{all}");
}

#[test]
fn value_placeholders_without_a_value_are_errors() {
    let d = try_apply(
        "transformations:\n  - type: value_placeholders\n",
        PLACEHOLDER_RULE,
    )
    .unwrap_err();
    assert_eq!(d.code, Code::UnresolvedPlaceholder);
    assert!(d.message.contains("%Admins%"), "{}", d.message);
}

#[test]
fn placeholder_expansion_is_bounded() {
    let values: Vec<String> = (0..100).map(|i| format!("v{i}")).collect();
    let p = format!(
        "vars:\n  A: [{}]\ntransformations:\n  - type: value_placeholders\n",
        values.join(", ")
    );
    let r = PLACEHOLDER_RULE
        .replace("'%Admins%'", "'%A%-%A%'")
        .replace("%Site%", "x");
    let d = try_apply(&p, &r).unwrap_err();
    assert_eq!(d.code, Code::Pipeline);
    assert!(d.message.contains("more than"), "{}", d.message);
    // One placeholder with 100 values is fine.
    let one = r.replace("'%A%-%A%'", "'%A%'");
    assert!(try_apply(&p, &one).is_ok());
}

#[test]
fn wildcard_placeholders() {
    let p = "transformations:\n  - type: wildcard_placeholders\n    exclude: [Site]\n";
    let out = apply(p, PLACEHOLDER_RULE);
    // `%Admins%` alone becomes `*`: any value (the IR's normal form of `*`).
    assert!(out.contains(r#"User contains """#), "{out}");
    assert!(out.contains("%Site%"), "{out}");
}

#[test]
fn query_expression_placeholders() {
    let p = r#"
transformations:
  - type: query_expression_placeholders
    expression: '{field} IN (lookup {id}) {{x}}'
    mapping:
      Admins: admin_list
    include: [Admins]
"#;
    let only_user = PLACEHOLDER_RULE.replace("    Host|expand: 'srv-%Site%-*'\n", "");
    let out = apply(p, &only_user);
    assert!(
        out.contains(r#"User expression "{field} IN (lookup admin_list) {x}""#),
        "{out}"
    );
    let other = apply(&p.replace("include", "exclude"), &only_user);
    assert!(other.contains("User glob %Admins%"), "{other}");
    // `srv-%Site%-*` is not placeholder-only; pySigma refuses it even when not included.
    let d = try_apply(p, PLACEHOLDER_RULE).unwrap_err();
    assert_eq!(d.code, Code::UnresolvedPlaceholder);
}

// ---------------------------------------------------------------------------------------------
// State and failures

#[test]
fn set_state_and_processing_state() {
    let p = r#"
transformations:
  - type: set_state
    key: index
    val: 5
  - type: set_state
    key: matched
    val: yes
    rule_conditions:
      - type: processing_state
        key: index
        val: 4
        op: gt
  - type: set_state
    key: not_matched
    val: yes
    rule_conditions:
      - type: processing_state
        key: index
        val: 5
        op: ne
"#;
    let out = apply(p, PROC);
    assert!(
        out.contains("  state: index=5\n  state: matched=yes\n"),
        "{out}"
    );
    assert!(!out.contains("not_matched"), "{out}");
}

#[test]
fn rule_failure_points_at_the_rule() {
    let p = r#"
transformations:
  - id: no_security
    type: rule_failure
    message: security logs are not collected
    rule_conditions:
      - type: logsource
        service: security
"#;
    let d = try_apply(p, TWO_CONDITIONS).unwrap_err();
    assert_eq!(d.code, Code::PipelineFailure);
    assert_eq!(d.message, "security logs are not collected");
    assert_eq!(
        d.location.as_ref().map(|l| l.file.path.as_str()),
        Some("rule.yml")
    );
    assert!(
        d.help
            .as_deref()
            .unwrap_or("")
            .contains("`no_security` at p0.yml:3:5"),
        "{:?}",
        d.help
    );
    assert!(try_apply(p, PROC).is_ok());
}

#[test]
fn detection_item_failure() {
    let p = r#"
transformations:
  - type: detection_item_failure
    message: no wildcards in user names
    detection_item_conditions:
      - type: contains_wildcard
        cond: any
    field_name_conditions:
      - type: include_fields
        fields: [User]
"#;
    assert!(try_apply(p, PROC).is_ok());
    let d = try_apply(p, &PROC.replace("'%Admins%'", "'adm*'")).unwrap_err();
    assert_eq!(d.code, Code::PipelineFailure);
}

// ---------------------------------------------------------------------------------------------
// Rule conditions

fn tagged(cond: &str, r: &str) -> bool {
    let p = format!(
        "transformations:\n  - type: set_state\n    key: hit\n    val: 1\n    rule_conditions:\n{cond}"
    );
    apply(&p, r).contains("state: hit=1")
}

#[test]
fn rule_condition_logsource() {
    let c =
        "      - type: logsource\n        category: process_creation\n        product: windows\n";
    assert!(tagged(c, PROC));
    assert!(!tagged(c, TWO_CONDITIONS));
    let case = "      - type: logsource\n        product: Windows\n";
    assert!(!tagged(case, PROC), "log sources compare exactly");
}

#[test]
fn rule_condition_contains_detection_item() {
    let c = |field: &str, value: &str| {
        format!(
            "      - type: contains_detection_item\n        field: {field}\n        value: {value}\n"
        )
    };
    assert!(tagged(&c("Image", r"'*\cmd.exe'"), PROC));
    assert!(!tagged(&c("Image", r"'\cmd.exe'"), PROC));
    assert!(tagged(&c("EventID", "4625"), TWO_CONDITIONS));
    assert!(
        !tagged(&c("EventID", "'4625'"), TWO_CONDITIONS),
        "types must agree"
    );
}

#[test]
fn rule_condition_contains_field() {
    let c = |f: &str| format!("      - type: contains_field\n        field: {f}\n");
    assert!(tagged(&c("CommandLine"), PROC));
    assert!(!tagged(&c("TargetFilename"), PROC));
}

#[test]
fn rule_condition_processing_item_applied() {
    let p = |id: &str| {
        format!(
            "{CHANNEL}  - type: set_state\n    key: hit\n    val: 1\n    rule_conditions:\n      - type: processing_item_applied\n        processing_item_id: {id}\n"
        )
    };
    let out = try_apply(&p("security_channel"), TWO_CONDITIONS).unwrap();
    assert_eq!(out.applied, vec!["security_channel".to_string()]);
    assert!(display::rule(&out).contains("state: hit=1"));
    assert!(!apply(&p("security_channel"), PROC).contains("state: hit=1"));
    assert!(!apply(&p("other"), TWO_CONDITIONS).contains("state: hit=1"));
}

#[test]
fn rule_condition_is_sigma_rule_and_correlation_rule() {
    assert!(tagged("      - type: is_sigma_rule\n", PROC));
    assert!(!tagged("      - type: is_sigma_correlation_rule\n", PROC));
}

#[test]
fn rule_condition_rule_attribute() {
    let c = |attr: &str, value: &str, op: &str| {
        format!(
            "      - type: rule_attribute\n        attribute: {attr}\n        value: {value}\n        op: {op}\n"
        )
    };
    assert!(tagged(&c("level", "medium", "gte"), PROC));
    assert!(!tagged(&c("level", "critical", "gte"), PROC));
    assert!(tagged(&c("status", "experimental", "gt"), PROC));
    assert!(tagged(&c("date", "'2024-01-01'", "gt"), PROC));
    assert!(!tagged(&c("date", "'2024-06-01'", "gt"), PROC));
    assert!(tagged(&c("title", "'Office spawns a shell'", "eq"), PROC));
    assert!(tagged(&c("tags", "attack.execution", "in"), PROC));
    assert!(!tagged(&c("tags", "attack.persistence", "in"), PROC));
    // Strings have no order: an error at the condition, as in pySigma.
    let p = format!(
        "transformations:\n  - type: set_state\n    key: hit\n    val: 1\n    rule_conditions:\n{}",
        c("title", "x", "gt")
    );
    let d = try_apply(&p, PROC).unwrap_err();
    assert_eq!(d.line_col(), Some((6, 9)));
}

#[test]
fn rule_condition_tag() {
    assert!(tagged(
        "      - type: tag\n        tag: attack.execution\n",
        PROC
    ));
    assert!(!tagged(
        "      - type: tag\n        tag: attack.t1059\n",
        PROC
    ));
}

#[test]
fn rule_condition_linking() {
    let two = "      - type: tag\n        tag: attack.execution\n      - type: logsource\n        service: security\n";
    assert!(!tagged(two, PROC), "and by default");
    assert!(tagged(&format!("{two}    rule_cond_op: or\n"), PROC));
    assert!(tagged(&format!("{two}    rule_cond_not: true\n"), PROC));
    let named = r#"
transformations:
  - type: set_state
    key: hit
    val: 1
    rule_conditions:
      exec:
        type: tag
        tag: attack.execution
      sec:
        type: logsource
        service: security
    rule_cond_expr: exec and not sec
"#;
    assert!(apply(named, PROC).contains("state: hit=1"));
    assert!(!apply(named, TWO_CONDITIONS).contains("state: hit=1"));
    // With no rule conditions, `rule_cond_not` changes nothing (pySigma).
    assert!(tagged("    rule_cond_not: true\n", PROC));
}

// ---------------------------------------------------------------------------------------------
// Detection item and field name conditions

/// Prefix the fields of the detection items the conditions select with `hit.`.
fn selected(conds: &str, r: &str) -> String {
    apply(
        &format!(
            "transformations:\n  - id: hit\n    type: field_name_prefix\n    prefix: hit.\n{conds}"
        ),
        r,
    )
}

#[test]
fn detection_item_match_string_any_and_all() {
    let any = "    detection_item_conditions:\n      - type: match_string\n        cond: any\n        pattern: '.*winword'\n";
    let out = selected(any, PROC);
    // One detection item (`ParentImage|endswith: [a, b]`): both values go with it.
    assert!(
        out.contains(r#"hit.ParentImage endswith "\excel.exe""#),
        "{out}"
    );
    assert!(out.contains(r#"  Image endswith "\cmd.exe""#), "{out}");
    let all = selected(&any.replace("any", "all"), PROC);
    assert!(!all.contains("hit."), "{all}");
    let negated = selected(&format!("{any}        negate: true\n"), PROC);
    assert!(negated.contains("hit.Image"), "{negated}");
    assert!(negated.contains("hit.ParentImage"), "{negated}");
}

#[test]
fn detection_item_contains_wildcard_and_is_null() {
    let r = r#"
title: t
logsource: {product: windows}
detection:
  sel:
    A: exact
    B: 'wild*'
    C: null
  condition: sel
"#;
    let wild = selected(
        "    detection_item_conditions:\n      - type: contains_wildcard\n        cond: any\n",
        r,
    );
    assert!(
        wild.contains("hit.B") && !wild.contains("hit.A") && !wild.contains("hit.C"),
        "{wild}"
    );
    let null = selected(
        "    detection_item_conditions:\n      - type: is_null\n        cond: all\n",
        r,
    );
    assert!(
        null.contains("hit.C") && !null.contains("hit.A") && !null.contains("hit.B"),
        "{null}"
    );
    let not_null = selected(
        "    detection_item_conditions:\n      - type: is_null\n        cond: all\n    detection_item_cond_not: true\n",
        r,
    );
    assert!(
        not_null.contains("hit.A") && !not_null.contains("hit.C"),
        "{not_null}"
    );
}

#[test]
fn detection_item_match_value() {
    let out = selected(
        "    detection_item_conditions:\n      - type: match_value\n        cond: any\n        value: 4625\n",
        TWO_CONDITIONS,
    );
    assert!(out.contains("hit.EventID == 4625"), "{out}");
    assert!(out.contains("  EventID == 4624"), "{out}");
}

#[test]
fn detection_item_processing_item_applied() {
    let p = r#"
transformations:
  - id: mapped
    type: field_name_mapping
    mapping:
      Image: process.executable
  - type: field_name_prefix
    prefix: 'x.'
    detection_item_conditions:
      - type: processing_item_applied
        processing_item_id: mapped
"#;
    let out = apply(p, PROC);
    assert!(out.contains("x.process.executable"), "{out}");
    assert!(out.contains("  ParentImage endswith"), "{out}");
}

#[test]
fn field_name_include_exclude_plain_and_re() {
    let inc = selected(
        "    field_name_conditions:\n      - type: include_fields\n        fields: [Image]\n",
        PROC,
    );
    assert!(
        inc.contains("hit.Image") && !inc.contains("hit.ParentImage"),
        "{inc}"
    );
    let re = selected(
        "    field_name_conditions:\n      - type: include_fields\n        fields: ['.*Image']\n        mode: re\n",
        PROC,
    );
    assert!(
        re.contains("hit.Image") && re.contains("hit.ParentImage"),
        "{re}"
    );
    assert!(!re.contains("hit.CommandLine"), "{re}");
    // Python's re.match anchors at the start only: `Image` also matches `ImageLoaded`...
    let start = selected(
        "    field_name_conditions:\n      - type: include_fields\n        fields: ['Image']\n        mode: re\n",
        PROC,
    );
    assert!(
        start.contains("hit.Image") && !start.contains("hit.ParentImage"),
        "{start}"
    );
    let exc = selected(
        "    field_name_conditions:\n      - type: exclude_fields\n        fields: [Image, User]\n",
        PROC,
    );
    assert!(
        !exc.contains("hit.Image") && exc.contains("hit.ParentImage"),
        "{exc}"
    );
    let not = selected(
        "    field_name_conditions:\n      - type: exclude_fields\n        fields: [Image, User]\n    field_name_cond_not: true\n",
        PROC,
    );
    assert!(
        not.contains("hit.Image") && !not.contains("hit.ParentImage"),
        "{not}"
    );
}

#[test]
fn field_name_processing_item_applied() {
    let p = r#"
transformations:
  - id: mapped
    type: field_name_mapping
    mapping:
      Image: process.executable
  - type: field_name_suffix
    suffix: '.text'
    field_name_conditions:
      - type: processing_item_applied
        processing_item_id: mapped
"#;
    let out = apply(p, PROC);
    assert!(out.contains("process.executable.text"), "{out}");
    assert!(!out.contains("ParentImage.text"), "{out}");
}

#[test]
fn processing_state_at_item_levels() {
    let p = |op: &str| {
        format!(
            r#"
transformations:
  - type: set_state
    key: mode
    val: ecs
  - type: field_name_prefix
    prefix: 'hit.'
    detection_item_conditions:
      - type: processing_state
        key: mode
        val: ecs
        op: {op}
    field_name_conditions:
      - type: processing_state
        key: mode
        val: ecs
        op: {op}
"#
        )
    };
    assert!(apply(&p("eq"), PROC).contains("hit.Image"));
    assert!(!apply(&p("ne"), PROC).contains("hit."));
}

// ---------------------------------------------------------------------------------------------
// Correlations

const CORRELATION: &str = r#"
title: base
name: base
logsource:
  product: windows
  service: security
detection:
  sel:
    EventID: 4625
  condition: sel
---
title: many failures
correlation:
  type: value_count
  rules: [base]
  group-by: [TargetUserName, IpAddress]
  timespan: 5m
  condition:
    gte: 10
    field: WorkstationName
"#;

#[test]
fn correlations_get_field_name_transformations() {
    let set = load::load_text("c.yml", CORRELATION);
    let corr = set
        .docs
        .iter()
        .find_map(|d| match &d.item {
            Some(Item::Correlation(c)) => Some(c.clone()),
            _ => None,
        })
        .expect("a correlation");
    let p = pipelines(&[r#"
transformations:
  - type: field_name_mapping
    mapping:
      TargetUserName: [user.name, user.target]
      WorkstationName: host.name
    rule_conditions:
      - type: is_sigma_correlation_rule
  - type: field_name_prefix
    prefix: never.
    rule_conditions:
      - type: is_sigma_rule
"#]);
    let out = p.apply_correlation(&corr).unwrap();
    assert_eq!(out.group_by, vec!["user.name", "user.target", "IpAddress"]);
    match &out.condition {
        CorrelationCondition::Compare { fields, .. } => assert_eq!(fields, &vec!["host.name"]),
        other => panic!("{other:?}"),
    }
    // A condition field may not become two fields.
    let two = pipelines(&[
        "transformations:\n  - type: field_name_mapping\n    mapping:\n      WorkstationName: [a, b]\n",
    ]);
    assert_eq!(
        two.apply_correlation(&corr).unwrap_err().code,
        Code::Pipeline
    );
    // `logsource` conditions on a correlation look at the rules it references.
    let ls = pipelines(&[
        "transformations:\n  - type: rule_failure\n    message: no\n    rule_conditions:\n      - type: logsource\n        service: security\n",
    ]);
    assert!(ls.apply_correlation(&corr).is_ok());
    let logsource = |i: usize| match set.docs.get(i).and_then(|d| d.item.as_ref()) {
        Some(Item::Rule(r)) => vec![r.logsource.clone()],
        _ => Vec::new(),
    };
    let d = ls.apply_correlation_with(&corr, &logsource).unwrap_err();
    assert_eq!(d.code, Code::PipelineFailure);
}

// ---------------------------------------------------------------------------------------------
// Merging, purity, errors

#[test]
fn pipelines_merge_by_priority_stably() {
    let early =
        "priority: 10\ntransformations:\n  - type: field_name_mapping\n    mapping: {Image: B}\n";
    let late =
        "priority: 20\ntransformations:\n  - type: field_name_mapping\n    mapping: {B: C}\n";
    for order in [[late, early], [early, late]] {
        let out = display::rule(&pipelines(&order).apply(&rule(PROC)).unwrap());
        assert!(out.contains(r#"C endswith "\cmd.exe""#), "{out}");
    }
    // Equal priorities keep the order given.
    let a = "transformations:\n  - type: field_name_mapping\n    mapping: {Image: B}\n";
    let b = "transformations:\n  - type: field_name_mapping\n    mapping: {B: C}\n";
    let ab = display::rule(&pipelines(&[a, b]).apply(&rule(PROC)).unwrap());
    assert!(ab.contains("C endswith"), "{ab}");
    let ba = display::rule(&pipelines(&[b, a]).apply(&rule(PROC)).unwrap());
    assert!(
        ba.contains("B endswith") && !ba.contains("C endswith"),
        "{ba}"
    );
}

#[test]
fn vars_merge_later_pipelines_win() {
    let first = "priority: 10\nvars: {Admins: first}\n";
    let second = "priority: 20\nvars: {Admins: second}\ntransformations:\n  - type: value_placeholders\n    include: [Admins]\n";
    let out = display::rule(
        &pipelines(&[second, first])
            .apply(&rule(PLACEHOLDER_RULE))
            .unwrap(),
    );
    assert!(out.contains(r#"User == "second""#), "{out}");
}

#[test]
fn apply_leaves_its_input_unchanged() {
    let r = rule(PROC);
    let before = format!("{r:?}");
    let p = pipelines(&[
        CHANNEL,
        r#"
vars: {Admins: [a, b]}
transformations:
  - id: all
    type: field_name_mapping
    mapping: {Image: x, CommandLine: [y, z], ParentImage: w}
  - type: add_condition
    conditions: {Channel: Security}
  - type: replace_string
    regex: 'exe'
    replacement: 'EXE'
  - type: value_placeholders
  - type: change_logsource
    product: linux
  - type: set_state
    key: k
    val: v
  - type: add_field
    field: extra
"#,
    ]);
    let out = p.apply(&r).unwrap();
    assert_eq!(format!("{r:?}"), before, "apply changed its input");
    assert_ne!(display::rule(&out), display::rule(&r));
    assert_eq!(out.applied, vec!["all".to_string()]);
    // The same pipelines give the same result again (no state leaks between rules).
    assert_eq!(display::rule(&p.apply(&r).unwrap()), display::rule(&out));
    assert!(out.state.get("k").is_some() && r.state.is_empty());
}

#[test]
fn errors_point_at_the_pipeline_file() {
    let cases: &[(&str, &str, (usize, usize), &str)] = &[
        (
            "broken_type.pipeline.yml",
            "E070",
            (7, 11),
            "unknown transformation type `field_name_maping`",
        ),
        (
            "broken_condition.pipeline.yml",
            "E070",
            (10, 15),
            "unknown rule condition type `match_string`",
        ),
        (
            "broken_regex.pipeline.yml",
            "E070",
            (4, 12),
            "invalid regular expression",
        ),
        (
            "broken_key.pipeline.yml",
            "E030",
            (5, 15),
            "unknown modifier `contians`",
        ),
    ];
    for (file, code, (line, col), message) in cases {
        let path = fixture(file);
        let d = pipeline::load_file(Path::new(env!("CARGO_MANIFEST_DIR")).join(&path).as_path())
            .expect_err(file);
        assert_eq!(d.code.as_str(), *code, "{file}: {d}");
        assert_eq!(d.line_col(), Some((*line, *col)), "{file}: {d}");
        assert!(d.message.contains(message), "{file}: {d}");
        // The CLI reports it before loading any rule, and exits 2.
        let out = sigc(&[
            "debug",
            "ir",
            "-p",
            &path,
            &fixture("process_creation.rule.yml"),
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(&format!("{path}:{line}:{col}")), "{stderr}");
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn malformed_pipelines_are_located() {
    let cases: &[(&str, (usize, usize))] = &[
        // pySigma rejects unknown top-level keys.
        ("name: x\ndescription: y\n", (2, 1)),
        ("transformations:\n  - type: field_name_prefix\n", (2, 5)),
        (
            "transformations:\n  - type: field_name_prefix\n    prefix: x\n    prefx: y\n",
            (4, 5),
        ),
        (
            "transformations:\n  - type: set_state\n    key: k\n    val: v\n    rule_conditions:\n      - type: nope\n",
            (6, 15),
        ),
        (
            "transformations:\n  - type: set_state\n    key: k\n    val: v\n    rule_cond_op: xor\n",
            (5, 19),
        ),
        (
            "transformations:\n  - type: set_state\n    key: k\n    val: v\n    rule_conditions:\n      a: {type: is_sigma_rule}\n    rule_cond_expr: a and b\n",
            (7, 27),
        ),
        (
            "transformations:\n  - type: map_string\n    mapping: [a]\n",
            (3, 14),
        ),
        (
            "transformations:\n  - type: set_state\n    key: k\n    val: v\n    detection_item_conditions:\n      - type: match_string\n        pattern: x\n",
            (6, 9),
        ),
        ("transformations:\n  - type: regex\n", (2, 11)),
        (
            "transformations:\n  - type: query_expression_placeholders\n    expression: '{nope}'\n",
            (3, 17),
        ),
        ("priority: 1\n---\npriority: 2\n", (3, 1)),
        // Multi-byte characters before the error, on earlier lines and on its own.
        (
            "name: 'Pipéline €'\ntransformations:\n  - {id: 'é€', type: regex}\n",
            (3, 22),
        ),
    ];
    for (text, pos) in cases {
        let d = load_err(text);
        assert_eq!(d.line_col(), Some(*pos), "{text}\n{d}");
        assert!(matches!(d.code, Code::Pipeline | Code::YamlSyntax), "{d}");
    }
    assert!(
        load_err("transformations:\n  - type: regex\n")
            .message
            .contains("does not support")
    );
}

#[test]
fn unknown_pipeline_names_are_errors() {
    let d = pipeline::resolve_all(&["no_such_pipeline".to_string()]).unwrap_err();
    assert_eq!(d.code, Code::Pipeline);
    assert!(d.help.unwrap_or_default().contains("windows_logsources"));
}

// ---------------------------------------------------------------------------------------------
// The CLI

#[test]
fn debug_ir_prints_the_transformed_rule() {
    let out = sigc(&[
        "debug",
        "ir",
        "-p",
        &fixture("ecs_mapping.pipeline.yml"),
        &fixture("process_creation.rule.yml"),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let want = r#"# tests/fixtures/pipelines/process_creation.rule.yml [0]
rule "Shell spawned by an Office application"
  id: 5d4b1b54-3f0b-4c52-9b7e-1c2f3a4b5c6d
  status: test
  level: high
  tags: attack.execution
  logsource: product=windows category=process_creation
  state: index=logs-endpoint
  condition 1:
    and
      or
        process.parent.executable endswith "\winword.exe"
        process.parent.executable endswith "\excel.exe"
      process.executable endswith "\cmd.exe"
      not
        or
          process.command_line contains "\Temp\"
          process.args contains "\Temp\"

"#;
    assert_eq!(stdout, want);
}

#[test]
fn debug_ir_merges_pipeline_files_by_priority() {
    let out = sigc(&[
        "debug",
        "ir",
        "-p",
        &fixture("late.pipeline.yml"),
        "-p",
        &fixture("early.pipeline.yml"),
        &fixture("process_creation.rule.yml"),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(r#"      C endswith "\cmd.exe""#),
        "{stdout}"
    );
    let p = pipeline::resolve_all(&[fixture("late.pipeline.yml"), fixture("early.pipeline.yml")]);
    let names: Vec<Option<String>> = match p {
        Ok(p) => p.pipelines().iter().map(|p| p.name.clone()).collect(),
        Err(d) => panic!("{d}"),
    };
    assert_eq!(names, vec![Some("early".into()), Some("late".into())]);
}

#[test]
fn kept_sections_survive_loading() {
    let p = pipeline::load_file(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(fixture("ecs_mapping.pipeline.yml"))
            .as_path(),
    )
    .unwrap();
    assert_eq!(p.allowed_backends, vec!["splunk"]);
    assert_eq!(p.postprocessing.len(), 1);
    assert_eq!(p.finalizers.len(), 1);
    assert_eq!(p.priority, 20);
}

#[test]
fn list_pipelines_shows_the_builtins() {
    let out = sigc(&["list", "pipelines"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    for name in ["sysmon", "windows_logsources"] {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{name} missing:\n{stdout}"));
        assert!(line.len() > name.len() + 20, "no description: {line}");
    }
}

// ---------------------------------------------------------------------------------------------
// Built-in pipelines

#[test]
fn builtin_sysmon_maps_categories_to_event_ids() {
    let p = pipeline::resolve_all(&["sysmon".to_string()]).unwrap();
    let out = display::rule(&p.apply(&rule(PROC)).unwrap());
    assert!(
        out.contains("logsource: product=windows category=process_creation service=sysmon\n"),
        "{out}"
    );
    assert!(
        out.contains("    and\n      EventID == 1\n      Channel == \"Microsoft-Windows-Sysmon/Operational\"\n"),
        "{out}"
    );
    let registry = PROC.replace("process_creation", "registry_event");
    let out = display::rule(&p.apply(&rule(&registry)).unwrap());
    assert!(
        out.contains(
            "      or\n        EventID == 12\n        EventID == 13\n        EventID == 14\n"
        ),
        "{out}"
    );
    // Not a Windows category: untouched.
    let linux = PROC.replace("product: windows", "product: linux");
    assert_eq!(
        display::rule(&p.apply(&rule(&linux)).unwrap()),
        display::rule(&rule(&linux))
    );
}

#[test]
fn builtin_windows_logsources_maps_services_to_channels() {
    let p = pipeline::resolve_all(&["windows_logsources".to_string()]).unwrap();
    let out = p.apply(&rule(TWO_CONDITIONS)).unwrap();
    assert_eq!(out.applied, vec!["windows_logsource_security".to_string()]);
    assert!(
        display::rule(&out)
            .contains("    and\n      Channel == \"Security\"\n      EventID == 4624\n")
    );
    let ps = TWO_CONDITIONS.replace("service: security", "service: powershell");
    let out = display::rule(&p.apply(&rule(&ps)).unwrap());
    assert!(
        out.contains("      or\n        Channel == \"Microsoft-Windows-PowerShell/Operational\"\n        Channel == \"PowerShellCore/Operational\"\n"),
        "{out}"
    );
    // A category without a service has no channel of its own.
    assert!(!display::rule(&p.apply(&rule(PROC)).unwrap()).contains("Channel"));
}

/// Fail (not skip) when the corpus is missing, as `tests/corpus.rs` does.
fn corpus() -> &'static str {
    assert!(
        Path::new(CORPUS).is_dir(),
        "{CORPUS} is missing: this test needs ../shared (the SigmaHQ corpus) beside the checkout"
    );
    CORPUS
}

#[test]
fn builtins_apply_to_the_whole_corpus() {
    let set = load::load(&[Input::Path(corpus().into())]);
    let rules: Vec<&Arc<RuleIr>> = set.rules().collect();
    assert!(rules.len() > 3000, "only {} rules loaded", rules.len());
    let specs: &[&[&str]] = &[
        &["sysmon"],
        &["windows_logsources"],
        &["sysmon", "windows_logsources"],
        &["windows_logsources", "sysmon"],
    ];
    for spec in specs {
        let specs: Vec<String> = spec.iter().map(|s| s.to_string()).collect();
        let p = pipeline::resolve_all(&specs).unwrap();
        let mut errors = Vec::new();
        let mut channels = 0;
        let mut sysmon = 0;
        for r in &rules {
            match p.apply(r) {
                Ok(out) => {
                    if display::rule(&out).contains("Channel == ") {
                        channels += 1;
                    }
                    if out.logsource.service.as_deref() == Some("sysmon") {
                        sysmon += 1;
                    }
                    // Every Windows rule with a mapped category ends up on the Sysmon channel.
                    if spec.contains(&"sysmon")
                        && r.logsource.product.as_deref() == Some("windows")
                        && out.applied.iter().any(|a| a.ends_with("_logsource"))
                    {
                        assert!(
                            display::rule(&out)
                                .contains("Channel == \"Microsoft-Windows-Sysmon/Operational\""),
                            "{}",
                            display::rule(&out)
                        );
                    }
                }
                Err(d) => errors.push(format!("{}: {d}", r.origin.file.path)),
            }
        }
        assert!(
            errors.is_empty(),
            "{spec:?}: {} errors:\n{}",
            errors.len(),
            errors.join("\n")
        );
        // Sanity bounds from the corpus: ~1,870 rules in Sysmon categories, ~330 on mapped
        // Windows services.
        if spec.contains(&"sysmon") {
            assert!(
                sysmon > 1800,
                "{spec:?}: only {sysmon} rules moved to Sysmon"
            );
        }
        if *spec == ["windows_logsources"] {
            assert!(
                channels > 300,
                "{spec:?}: only {channels} rules got a channel"
            );
        }
        for doc in &set.docs {
            if let Some(Item::Correlation(c)) = &doc.item {
                p.apply_correlation(c).unwrap();
            }
        }
    }
}

#[test]
fn builtins_match_the_pysigma_tables() {
    // Spot checks against pySigma's tables (common.py and pySigma-pipeline-sysmon).
    let p =
        pipeline::resolve_all(&["sysmon".to_string(), "windows_logsources".to_string()]).unwrap();
    let cases: &[(&str, &str, &str)] = &[
        ("category: file_delete", "EventID == 23", "EventID == 26"),
        ("category: pipe_created", "EventID == 17", "EventID == 18"),
        ("category: dns_query", "EventID == 22", "service=sysmon"),
        ("category: sysmon_error", "EventID == 255", "service=sysmon"),
        (
            "service: applocker",
            "Microsoft-Windows-AppLocker/MSI and Script",
            "Packaged app-Execution",
        ),
        (
            "service: dns-client",
            "Microsoft-Windows-DNS Client Events/Operational",
            "service=dns-client",
        ),
        (
            "service: ldap_debug",
            "Microsoft-Windows-LDAP-Client/Debug",
            "product=windows",
        ),
    ];
    for (logsource, a, b) in cases {
        let text = PROC.replace("category: process_creation", logsource);
        let out = display::rule(&p.apply(&rule(&text)).unwrap());
        assert!(out.contains(a) && out.contains(b), "{logsource}:\n{out}");
    }
}
