//! The worked example of issue 7: three rules a practitioner published
//! (`../shared/seeds/000_645847c9be0279e6.txt`). `tests/fixtures/check/seed/flattened.yml` is
//! their text verbatim, indentation lost as published, the three rules joined by `---`; the
//! other three files are the same rules properly indented. Every mistake the issue lists must
//! be reported at its line:column with a help line saying what the author meant; the rendered
//! text and SARIF are snapshotted (`snapshots/check_seed@*.snap`); `--fix` re-indents the
//! flattened text into exactly the indented copies; `sigc migrate` turns Detection 3's
//! aggregation into a v2.1 correlation rule that loads and lowers cleanly.

mod convert_support;

use std::process::Output;

use serde_json::Value;

use convert_support::{manifest_dir, sigc};

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("UTF-8")
}

const SEED: &str = "tests/fixtures/check/seed";
const INDENTED: [&str; 3] = [
    "remote_schtasks_winrm.yml",
    "shadow_copy_access.yml",
    "clustered_process_creation.yml",
];

/// `(fixture, code, line, column, text the help (or message) must contain)`. Positions are
/// the first character of the key, modifier or value in the fixture.
const EXPECTED: &[(&str, &str, u64, u64, &str)] = &[
    // Detection 1.
    ("remote_schtasks_winrm.yml", "E024", 2, 5, "fresh UUID"),
    (
        "remote_schtasks_winrm.yml",
        "E045",
        6,
        7,
        "date: 2025-02-27",
    ),
    ("remote_schtasks_winrm.yml", "E030", 13, 29, "use `neq`"),
    (
        "remote_schtasks_winrm.yml",
        "W010",
        13,
        9,
        "process_creation",
    ),
    ("remote_schtasks_winrm.yml", "E046", 16, 9, "drop `|all`"),
    (
        "remote_schtasks_winrm.yml",
        "W011",
        20,
        15,
        "`Description` field",
    ),
    (
        "remote_schtasks_winrm.yml",
        "E033",
        29,
        15,
        "contains|windash",
    ),
    // Detection 2.
    ("shadow_copy_access.yml", "E024", 2, 5, "fresh UUID"),
    ("shadow_copy_access.yml", "E045", 6, 7, "date: 2025-02-27"),
    ("shadow_copy_access.yml", "E030", 13, 29, "use `neq`"),
    ("shadow_copy_access.yml", "W010", 13, 9, "process_creation"),
    ("shadow_copy_access.yml", "E046", 16, 9, "drop `|all`"),
    (
        "shadow_copy_access.yml",
        "W011",
        31,
        15,
        "`Description` field",
    ),
    // After the `®` lines: positions count characters, not bytes.
    ("shadow_copy_access.yml", "W004", 51, 9, "drop `|all`"),
    // Detection 3.
    ("clustered_process_creation.yml", "E024", 2, 5, "fresh UUID"),
    (
        "clustered_process_creation.yml",
        "E045",
        6,
        7,
        "date: 2025-02-27",
    ),
    (
        "clustered_process_creation.yml",
        "E030",
        13,
        29,
        "use `neq`",
    ),
    (
        "clustered_process_creation.yml",
        "E046",
        16,
        9,
        "drop `|all`",
    ),
    (
        "clustered_process_creation.yml",
        "W011",
        20,
        15,
        "`Description` field",
    ),
    (
        "clustered_process_creation.yml",
        "E043",
        33,
        5,
        "sigc migrate",
    ),
    (
        "clustered_process_creation.yml",
        "E043",
        40,
        80,
        "sigc migrate",
    ),
    // The flattened text: which keys belong under which parent.
    ("flattened.yml", "E013", 7, 1, "`category`, `product`"),
    (
        "flattened.yml",
        "E013",
        10,
        1,
        "`parent_filter`, `parent_exclusion`, `remote_schtasks`, `condition`",
    ),
    (
        "flattened.yml",
        "E013",
        11,
        1,
        "`ParentCodeSignature|notin`, `ParentImage|endswith|all`",
    ),
    ("flattened.yml", "E013", 47, 1, "`category`, `product`"),
    ("flattened.yml", "E013", 139, 1, "`category`, `product`"),
    (
        "flattened.yml",
        "E013",
        165,
        1,
        "`timeframe`, `group_by`, `event_threshold`, `host_threshold`",
    ),
];

fn diagnostics(path: &str) -> Vec<Value> {
    stdout(&sigc(&["check", "--format", "json", path]))
        .lines()
        .flat_map(|l| {
            let doc: Value = serde_json::from_str(l).expect("JSON line");
            doc["diagnostics"].as_array().cloned().unwrap_or_default()
        })
        .collect()
}

#[test]
fn every_mistake_is_reported_where_it_is_with_the_fix() {
    let mut problems = Vec::new();
    for &(file, code, line, col, hint) in EXPECTED {
        let diags = diagnostics(&format!("{SEED}/{file}"));
        let hit = diags.iter().find(|d| {
            d["code"] == code
                && d["line"].as_u64() == Some(line)
                && d["column"].as_u64() == Some(col)
        });
        match hit {
            None => problems.push(format!("{file}: no {code} at {line}:{col}")),
            Some(d) => {
                let text = format!("{} {}", d["message"], d["help"]);
                if !text.contains(hint) {
                    problems.push(format!(
                        "{file}:{line}:{col} {code}: `{hint}` not in {text}"
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

#[test]
fn the_flattened_fixture_is_the_published_text() {
    let seed = manifest_dir().join("../shared/seeds/000_645847c9be0279e6.txt");
    let published = std::fs::read_to_string(&seed).unwrap_or_else(|e| {
        panic!(
            "../shared must sit beside this checkout: {}: {e}",
            seed.display()
        )
    });
    let fixture =
        std::fs::read_to_string(manifest_dir().join(SEED).join("flattened.yml")).expect("fixture");
    let docs: Vec<&str> = fixture.split("\n---\n").collect();
    assert_eq!(docs.len(), 3);
    for doc in docs {
        let doc = doc.trim_end_matches('\n');
        assert!(doc.starts_with("title: "));
        assert!(published.contains(doc), "not verbatim in the seed:\n{doc}");
    }
}

#[test]
fn flattened_text_is_one_cause_not_a_stream_of_symptoms() {
    let diags = diagnostics(&format!("{SEED}/flattened.yml"));
    assert!(!diags.is_empty());
    assert!(
        diags.iter().all(|d| d["code"] == "E013"),
        "only the indentation is reported: {diags:?}"
    );
}

#[test]
fn fix_reindents_into_the_indented_copies() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("flattened.yml");
    std::fs::copy(manifest_dir().join(SEED).join("flattened.yml"), &path).expect("copy");
    let out = sigc(&["check", "--fix", &path.to_string_lossy()]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "the rules still have their mistakes"
    );
    let fixed = std::fs::read_to_string(&path).expect("fixed file");
    let copies: Vec<String> = INDENTED
        .iter()
        .map(|f| std::fs::read_to_string(manifest_dir().join(SEED).join(f)).expect("copy"))
        .collect();
    // Re-indented exactly as the hand-indented copies, and the v1 dates fixed besides; the
    // rest needs the author's judgement and is left.
    assert!(!fixed.contains("2025/02/27"));
    assert_eq!(
        fixed,
        copies.join("---\n").replace("2025/02/27", "2025-02-27")
    );
}

#[test]
fn text_and_sarif_output() {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("../snapshots");
    settings.set_prepend_module_to_snapshot(false);
    settings.bind(|| {
        insta::glob!("fixtures", "check/seed/*.yml", |path| {
            let rel = path.strip_prefix(manifest_dir()).expect("inside the crate");
            let rel = rel.to_string_lossy();
            let text = sigc(&["check", &rel]);
            assert_eq!(text.status.code(), Some(1));
            insta::assert_snapshot!("check_seed_text", stdout(&text));
            let sarif = sigc(&["check", "--format", "sarif", &rel]);
            insta::assert_snapshot!("check_seed_sarif", stdout(&sarif));
        });
    });
}

#[test]
fn migrate_writes_a_correlation_that_loads_and_lowers() {
    let src = format!("{SEED}/clustered_process_creation.yml");
    let out = sigc(&["migrate", &src]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let migrated = stdout(&out);
    insta::with_settings!({snapshot_path => "../snapshots", prepend_module_to_snapshot => false}, {
        insta::assert_snapshot!("check_migrate_clustered", migrated);
    });

    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("migrated.yml");
    std::fs::write(&path, &migrated).expect("write");
    let path = path.to_string_lossy().into_owned();

    // Loads cleanly: two documents, both ok, no error anywhere.
    let check = sigc(&["check", "--format", "json", &path]);
    assert_eq!(check.status.code(), Some(0));
    let docs: Vec<Value> = stdout(&check)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    assert_eq!(docs.len(), 2);
    assert_eq!(docs[1]["kind"], "correlation");
    for d in &docs {
        assert_eq!(d["status"], "ok", "{d}");
    }

    // Lowers: the correlation is value_count of Host per User over 30 minutes, on the base rule.
    let ir = sigc(&["debug", "ir", &path]);
    assert_eq!(
        ir.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ir.stderr)
    );
    let ir = stdout(&ir);
    for want in [
        "type: value_count",
        "group-by: User",
        "timespan: 30m (1800s)",
        "condition: gte 2 over Host",
        "-> Clustered Suspicious Process Creation Across Multiple Hosts",
    ] {
        assert!(ir.contains(want), "`{want}` not in:\n{ir}");
    }

    // Migrating the result again changes nothing.
    let again = sigc(&["migrate", &path]);
    assert_eq!(stdout(&again), migrated);
}

#[test]
fn migrate_fixes_the_other_two_rules_too() {
    for file in &INDENTED[..2] {
        let out = sigc(&["migrate", &format!("{SEED}/{file}")]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{file}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = stdout(&out);
        assert!(text.contains("|neq:") && !text.contains("|notin"), "{text}");
        assert!(!text.contains("endswith|all"), "{text}");
    }
}

/// The published (flattened) text migrates in one step: re-indented, fixed, and Detection 3's
/// correlation appended; everything loads without an error.
#[test]
fn the_flattened_text_migrates_into_valid_rules() {
    let out = sigc(&["migrate", &format!("{SEED}/flattened.yml")]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("migrated.yml");
    std::fs::write(&path, stdout(&out)).expect("write");
    let check = sigc(&["check", "--format", "json", &path.to_string_lossy()]);
    let kinds: Vec<String> = stdout(&check)
        .lines()
        .map(|l| {
            let doc: Value = serde_json::from_str(l).expect("JSON");
            assert_eq!(doc["status"], "ok", "{doc}");
            doc["kind"].as_str().unwrap_or_default().to_string()
        })
        .collect();
    assert_eq!(kinds, ["rule", "rule", "rule", "correlation"]);
}
