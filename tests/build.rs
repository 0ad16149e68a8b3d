//! `sigc build`, `sigc build --check`, `sigc diff` and `sigc init`: the rule-repository
//! workflow, on the bundled pack (copied into temporary git repositories) and on the SigmaHQ
//! corpus.

mod eval_support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use eval_support::{SHARED, shared, sigc};

const PACK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/rules");

fn path_str(p: &Path) -> String {
    p.display().to_string()
}

/// Every file under `dir`, relative to it, with its bytes.
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = Vec::new();
    eval_support::walk(dir, &|_| true, &mut files);
    files
        .into_iter()
        .map(|f| {
            let rel = Path::new(&f)
                .strip_prefix(dir)
                .expect("under dir")
                .display()
                .to_string();
            let bytes = std::fs::read(&f).expect("read");
            (rel, bytes)
        })
        .collect()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .current_dir(dir)
        .args(["-c", "user.name=sigc", "-c", "user.email=sigc@example.com"])
        .args(args)
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The bundled pack in a fresh git repository (one commit), its baseline pointed at
/// `../shared` wherever the copy sits.
fn pack_repo() -> (tempfile::TempDir, PathBuf) {
    let repo = tempfile::tempdir().expect("tempdir");
    let root = repo.path().join("rules");
    copy_dir(Path::new(PACK), &root);
    let config = std::fs::read_to_string(root.join("sigc.yml")).expect("sigc.yml");
    let shared_abs = std::fs::canonicalize(SHARED).expect("../shared");
    std::fs::write(
        root.join("sigc.yml"),
        config.replace("../../shared", &path_str(&shared_abs)),
    )
    .expect("write sigc.yml");
    git(repo.path(), &["init", "-q", "-b", "main"]);
    git(repo.path(), &["add", "."]);
    git(repo.path(), &["commit", "-q", "-m", "pack"]);
    (repo, root)
}

#[test]
fn the_bundled_pack_is_built_and_its_tests_pass() {
    let run = sigc(&["build", "--check", "-C", PACK]).run();
    assert_eq!(
        run.code,
        Some(0),
        "rules/generated is stale: run `sigc build -C rules` and commit it\n{}{}",
        run.out(),
        run.stderr
    );
    let run = sigc(&["test", "-C", PACK]).run();
    assert_eq!(run.code, Some(0), "{}{}", run.out(), run.stderr);
    assert!(run.out().contains(" 0 failed"), "{}", run.out());
}

const CHANGED_RULE: &str =
    "windows/process_creation/proc_creation_win_wsmprovhost_session_process.yml";

/// Matches of one rule file over the pack's baseline, counted by `sigc eval`.
fn eval_count(rule: &Path) -> usize {
    let events = [
        "empire_psremoting_stager.zip",
        "covenant_psremoting_grunt.zip",
        "covenant_psremoting_command.zip",
    ]
    .map(|a| {
        path_str(&shared(&format!(
            "datasets/security-datasets/atomic/windows/lateral_movement/host/{a}"
        )))
    });
    let rule = path_str(rule);
    let mut args = vec!["eval", "--rules", rule.as_str(), "--"];
    args.extend(events.iter().map(String::as_str));
    let run = sigc(&args).run();
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    run.out().lines().count()
}

#[test]
fn a_one_value_change_fails_check_on_its_outputs_and_diff_measures_it() {
    let (repo, root) = pack_repo();
    let rule = root.join(CHANGED_RULE);
    let before_count = eval_count(&rule);
    let text = std::fs::read_to_string(&rule).expect("rule");
    let changed = text.replacen(
        "ParentImage|endswith: '\\wsmprovhost.exe'",
        "ParentImage|endswith: '\\wsmprovhost2.exe'",
        1,
    );
    assert_ne!(text, changed, "the value to change is in the rule");
    std::fs::write(&rule, changed).expect("write rule");
    let after_count = eval_count(&rule);
    assert_ne!(before_count, after_count, "the change must change matches");

    // --check: exit 1, and every differing file comes from that rule alone.
    let run = sigc(&[
        "build",
        "--check",
        "--format",
        "json",
        "-C",
        &path_str(&root),
    ])
    .run();
    assert_eq!(run.code, Some(1), "{}{}", run.out(), run.stderr);
    let diffs: Vec<serde_json::Value> = run
        .out()
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert!(!diffs.is_empty());
    let expected_rule = path_str(&root.join(CHANGED_RULE));
    for d in &diffs {
        assert_eq!(d["change"], "changed", "{d}");
        assert_eq!(d["rules"], serde_json::json!([expected_rule]), "{d}");
    }
    let files: Vec<&str> = diffs.iter().filter_map(|d| d["file"].as_str()).collect();
    assert!(
        files.contains(
            &"generated/splunk/process_creation/proc_creation_win_wsmprovhost_session_process.spl"
        ),
        "{files:?}"
    );
    // GitHub annotations point at the rule file.
    let run = sigc(&[
        "build",
        "--check",
        "--format",
        "github",
        "-C",
        &path_str(&root),
    ])
    .run();
    assert_eq!(run.code, Some(1));
    assert!(
        run.out()
            .contains(&format!("::error file={expected_rule},line=1")),
        "{}",
        run.out()
    );

    // diff: one rule modified, with the evaluator's counts before and after.
    let run = sigc(&[
        "diff",
        "--base",
        "main",
        "--format",
        "json",
        "-C",
        &path_str(&root),
    ])
    .run();
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let report: serde_json::Value = serde_json::from_str(&run.out()).expect("JSON");
    let rules = report["rules"].as_array().expect("rules");
    assert_eq!(rules.len(), 1, "{report}");
    let r = &rules[0];
    assert_eq!(r["path"], CHANGED_RULE);
    assert_eq!(r["change"], "modified");
    assert_eq!(r["impact"]["before"], before_count as u64, "{r}");
    assert_eq!(r["impact"]["after"], after_count as u64, "{r}");
    let stopped = r["impact"]["stopped"].as_u64().expect("stopped");
    let started = r["impact"]["started"].as_u64().expect("started");
    assert_eq!(
        before_count as i64 - after_count as i64,
        stopped as i64 - started as i64
    );
    assert!(
        !r["impact"]["stopped_samples"]
            .as_array()
            .expect("samples")
            .is_empty()
    );
    let outputs: Vec<&str> = r["outputs"]
        .as_array()
        .expect("outputs")
        .iter()
        .filter_map(|o| o["output"].as_str())
        .collect();
    assert!(
        outputs.contains(&"splunk") && outputs.contains(&"spark"),
        "{outputs:?}"
    );

    // The Markdown comment names the rule and its counts.
    let run = sigc(&[
        "diff",
        "--base",
        "main",
        "--format",
        "markdown",
        "-C",
        &path_str(&root),
    ])
    .run();
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(run.out().starts_with("## sigc diff"), "{}", run.out());
    assert!(
        run.out()
            .contains(&format!("| {before_count} | {after_count} |")),
        "{}",
        run.out()
    );

    // Rebuilt, the tree is up to date again.
    let run = sigc(&["build", "-q", "-C", &path_str(&root)]).run();
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let run = sigc(&["build", "--check", "-C", &path_str(&root)]).run();
    assert_eq!(run.code, Some(0), "{}", run.out());
    drop(repo);
}

#[test]
fn a_deleted_rule_loses_exactly_its_files_and_foreign_files_stay() {
    let (_repo, root) = pack_repo();
    let generated = root.join("generated");
    let foreign = generated.join("splunk/README.txt");
    std::fs::write(&foreign, "kept by hand\n").expect("write");
    let before = tree(&generated);
    let gone = "windows/process_creation/proc_creation_win_winrshost_shell";
    std::fs::remove_file(root.join(format!("{gone}.yml"))).expect("remove rule");
    let run = sigc(&["build", "-q", "-C", &path_str(&root)]).run();
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let after = tree(&generated);
    let removed: Vec<&String> = before.keys().filter(|f| !after.contains_key(*f)).collect();
    let stem = gone.trim_start_matches("windows/");
    assert!(!removed.is_empty());
    for f in &removed {
        assert!(f.contains(stem), "{f} removed but not the deleted rule's");
    }
    // Each per-rule output of the rule is gone (one per output holding it on its own).
    let manifest = String::from_utf8(before["manifest.tsv"].clone()).expect("manifest");
    let own: Vec<&str> = manifest
        .lines()
        .filter(|l| l.starts_with(&format!("{gone}.yml\t")))
        .filter_map(|l| l.split('\t').nth(5))
        .filter(|f| f.contains(stem))
        .collect();
    assert_eq!(removed.len(), own.len(), "{removed:?} vs {own:?}");
    assert!(foreign.exists(), "a file sigc did not write was removed");
    // Shared files and the manifest changed; nothing else did.
    for (f, bytes) in &after {
        if let Some(old) = before.get(f)
            && old != bytes
        {
            assert!(
                ["manifest.tsv", "savedsearches/", "spark_job/", "bytecode/"]
                    .iter()
                    .any(|s| f.starts_with(s)),
                "{f} changed"
            );
        }
    }
}

#[test]
fn the_corpus_builds_byte_identically_at_one_and_two_threads() {
    let corpus = path_str(&shared("corpus/sigma/rules"));
    let trees: Vec<BTreeMap<String, Vec<u8>>> = ["1", "2"]
        .iter()
        .map(|jobs| {
            let dir = tempfile::tempdir().expect("tempdir");
            std::fs::write(
                dir.path().join("sigc.yml"),
                format!(
                    "rules: ['{corpus}']\noutput: out\noutputs:\n  splunk: {{target: splunk, pipelines: [sysmon, splunk_windows]}}\n  tstats: {{target: splunk, format: tstats, pipelines: [splunk_cim]}}\n  defender: {{target: kql, pipelines: [microsoft_xdr]}}\n  spark: {{target: spark}}\n  bytecode: {{target: bytecode}}\n"
                ),
            )
            .expect("sigc.yml");
            let run = sigc(&["build", "-q", "--jobs", jobs, "-C", &path_str(dir.path())])
                .deadline(std::time::Duration::from_secs(600))
                .run();
            assert_eq!(run.code, Some(0), "{}", run.stderr);
            tree(&dir.path().join("out"))
        })
        .collect();
    assert!(trees[0].len() > 10_000, "{} files", trees[0].len());
    assert_eq!(trees[0].len(), trees[1].len());
    for (f, bytes) in &trees[0] {
        assert!(
            trees[1].get(f) == Some(bytes),
            "{f} differs between --jobs 1 and 2"
        );
    }
}

/// A repository with two rules (one broken) and the given `sigc.yml`.
fn small_repo(config: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = dir.path().join("rules");
    std::fs::create_dir_all(&rules).expect("mkdir");
    std::fs::write(
        rules.join("good.yml"),
        "title: Good\nid: 11111111-1111-4111-8111-111111111111\nlogsource: {category: process_creation, product: windows}\ndetection:\n  sel: {Image|endswith: '\\cmd.exe'}\n  condition: sel\nlevel: low\n",
    )
    .expect("good");
    std::fs::write(
        rules.join("bad.yml"),
        "title: Bad\nlogsource: {category: process_creation, product: windows}\ndetection:\n  sel: {Image|endswth: x}\n  condition: sel\n",
    )
    .expect("bad");
    std::fs::write(dir.path().join("sigc.yml"), config).expect("config");
    dir
}

#[test]
fn a_bad_rule_is_listed_with_its_reason_and_the_rest_is_built() {
    let dir = small_repo(
        "rules: [rules]\noutput: out\noutputs:\n  splunk: {target: splunk}\n  kql: {target: kql, pipelines: [microsoft_xdr]}\n",
    );
    let run = sigc(&["build", "-C", &path_str(dir.path())]).run();
    assert_eq!(run.code, Some(1), "a rule failed to load: {}", run.stderr);
    assert!(run.stderr.contains("bad.yml:4:"), "{}", run.stderr);
    let manifest = std::fs::read_to_string(dir.path().join("out/manifest.tsv")).expect("manifest");
    for output in ["splunk", "kql"] {
        assert!(
            manifest.contains(&format!(
                "rules/bad.yml\t0\t\t{output}\terror\t-\tunknown modifier"
            )),
            "{manifest}"
        );
        assert!(
            manifest.contains(&format!("rules/good.yml\t0\t11111111-1111-4111-8111-111111111111\t{output}\tok\t{output}/good.")),
            "{manifest}"
        );
    }
    assert!(dir.path().join("out/splunk/good.spl").exists());
    assert!(dir.path().join("out/kql/good.kql").exists());
}

#[test]
fn a_bad_config_is_an_error_at_its_place() {
    let cases = [
        (
            "rules: [rules]\noutput: out\noutptus: {}\n",
            "sigc.yml:3:1",
            "did you mean `outputs`?",
        ),
        (
            "rules: [rules]\noutput: out\noutputs:\n  s: {target: splnuk}\n",
            "sigc.yml:4:15",
            "did you mean `splunk`?",
        ),
        (
            "rules: [rules]\noutput: out\noutputs:\n  s: {target: splunk, pipelines: [sysmn]}\n",
            "sigc.yml:4:35",
            "did you mean `sysmon`?",
        ),
        (
            "rules: [rules]\noutput: [out]\noutputs: {}\n",
            "sigc.yml:2:9",
            "must be a non-empty string, found a list",
        ),
        (
            "rules: [rules]\noutput: out\noutputs:\n  s: {target: splunk, format: nope}\n",
            "sigc.yml:4:",
            "has no format `nope`",
        ),
        (
            "rules: [rules]\noutput: out\noutputs:\n  s: {target: splunk, colour: red}\n",
            "sigc.yml:4:",
            "unknown key `colour`",
        ),
    ];
    for (config, place, message) in cases {
        let dir = small_repo(config);
        let run = sigc(&["build", "-C", &path_str(dir.path())]).run();
        assert_eq!(run.code, Some(2), "{config}: {}", run.stderr);
        assert!(run.stderr.contains(place), "{config}: {}", run.stderr);
        assert!(run.stderr.contains(message), "{config}: {}", run.stderr);
        assert!(!dir.path().join("out").exists(), "nothing is written");
    }
}

#[test]
fn init_writes_a_starter_that_builds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = sigc(&["init", &path_str(dir.path())]).run();
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    // A second init does not overwrite.
    let run = sigc(&["init", &path_str(dir.path())]).run();
    assert_eq!(run.code, Some(1));
    copy_dir(&Path::new(PACK).join("windows"), &dir.path().join("rules"));
    let run = sigc(&["build", "-C", &path_str(dir.path())]).run();
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(run.out().contains("splunk/"), "{}", run.out());
    assert!(dir.path().join("generated/manifest.tsv").exists());
    // The output tree is not read as rules.
    let run = sigc(&["check", &path_str(dir.path())]).run();
    assert_eq!(run.code, Some(0), "{}", run.stderr);
}
