//! `sigc eval` through the built binary: the shape of its output, a deterministic order whatever
//! the thread count, the flat and nested JSON forms of the same event, every kind of input
//! (files, archives, folders, stdin), Windows log-source routing, bytecode files (round trip
//! and broken ones), and `sigc test` over the bundled rules and their `.tests.yml` files.

mod eval_support;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use eval_support::{path_str, shared, sigc, write};
use serde_json::{Value, json};

const PROC_RULE: &str = r"title: Whoami Run
id: 6f1e1c52-0d3a-4a8e-9f57-1b0c2f6a7d01
status: test
description: whoami.exe started (a test rule)
logsource:
    category: process_creation
    product: windows
detection:
    selection:
        Image|endswith: '\whoami.exe'
    condition: selection
level: high
tags:
    - attack.discovery
    - attack.t1033
";

const NET_RULE: &str = r"title: Connection To 4444
id: 0b5d9a3e-7c41-4d2e-8a6b-3f9e2c1d4b02
status: test
logsource:
    category: network_connection
    product: windows
detection:
    selection:
        DestinationPort: 4444
    condition: selection
level: medium
";

const ZEEK_RULE: &str = r"title: Evil DNS Query
id: 2c7e4f1a-9b3d-4e6f-8a2c-5d1b7e9f3a03
status: test
logsource:
    product: zeek
    service: dns
detection:
    selection:
        query|endswith: '.evil.example'
    condition: selection
level: low
";

const SYSMON: &str = "Microsoft-Windows-Sysmon/Operational";

fn rules_dir(dir: &Path) -> PathBuf {
    let rules = dir.join("rules");
    write(&rules, "proc.yml", PROC_RULE);
    write(&rules, "net.yml", NET_RULE);
    write(&rules, "zeek.yml", ZEEK_RULE);
    rules
}

/// Sysmon 1 (process creation), flat as Security-Datasets writes it.
fn sysmon1(image: &str, ts: &str) -> Value {
    json!({"Channel": SYSMON, "EventID": 1, "Image": image, "@timestamp": ts,
           "ParentImage": "C:\\Windows\\explorer.exe"})
}

/// Sysmon 3 (network connection), flat.
fn sysmon3(image: &str, port: u64) -> Value {
    json!({"Channel": SYSMON, "EventID": 3, "Image": image, "DestinationPort": port})
}

fn lines(events: &[Value]) -> String {
    events.iter().map(|e| format!("{e}\n")).collect()
}

/// `(rule title, record)` of every match line.
fn hits(run: &eval_support::Run) -> Vec<(String, u64)> {
    run.json_lines()
        .iter()
        .map(|m| {
            (
                m["title"].as_str().expect("title").to_string(),
                m["record"].as_u64().expect("record"),
            )
        })
        .collect()
}

fn eval(rules: &Path, extra: &[&str], events: &[&str]) -> eval_support::Run {
    let mut args = vec!["eval".to_string(), "--rules".into(), path_str(rules)];
    args.extend(extra.iter().map(|s| s.to_string()));
    args.push("--".into());
    args.extend(events.iter().map(|s| s.to_string()));
    sigc(&args).run()
}

#[test]
fn output_lines_have_the_documented_shape() {
    let dir = tempfile::tempdir().unwrap();
    let rules = rules_dir(dir.path());
    let event = sysmon1(
        "C:\\Windows\\System32\\whoami.exe",
        "2024-03-01T10:00:00.000Z",
    );
    let events = write(
        dir.path(),
        "ev.json",
        lines(&[sysmon3("C:\\x\\a.exe", 80), event.clone()]),
    );
    let run = eval(&rules, &[], &[&path_str(&events)]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let out = run.json_lines();
    assert_eq!(out.len(), 1, "{out:?}");
    let m = out[0].as_object().unwrap();
    let keys: BTreeSet<&str> = m.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        BTreeSet::from([
            "rule_id",
            "title",
            "level",
            "tags",
            "timestamp",
            "source",
            "record"
        ])
    );
    assert_eq!(m["rule_id"], "6f1e1c52-0d3a-4a8e-9f57-1b0c2f6a7d01");
    assert_eq!(m["title"], "Whoami Run");
    assert_eq!(m["level"], "high");
    assert_eq!(m["tags"], json!(["attack.discovery", "attack.t1033"]));
    assert_eq!(m["timestamp"], "2024-03-01T10:00:00.000Z");
    assert_eq!(m["source"], path_str(&events));
    assert_eq!(m["record"], 2, "line number of the event");
    // The summary goes to stderr.
    assert!(run.stderr.contains("2 events, 1 matches"), "{}", run.stderr);

    let with = eval(&rules, &["--with-event"], &[&path_str(&events)]);
    let out = with.json_lines();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0]["event"], event, "the event as read");
    let mut without = out[0].clone();
    without.as_object_mut().unwrap().remove("event");
    assert_eq!(without, Value::Object(m.clone()), "otherwise the same line");

    // -o writes the same lines to a file, and nothing to stdout.
    let file = dir.path().join("out.jsonl");
    let to_file = eval(&rules, &["-o", &path_str(&file)], &[&path_str(&events)]);
    assert!(to_file.stdout.is_empty());
    assert_eq!(std::fs::read(&file).unwrap(), run.stdout);
}

/// Many events over several files, so several batches run in parallel: which event matches
/// which rule is known from its position.
fn many_events(dir: &Path) -> (Vec<String>, Vec<(String, String, u64)>) {
    let mut files = Vec::new();
    let mut expected = Vec::new();
    for f in 0..3 {
        let path = dir.join(format!("part{f}.json"));
        let mut text = String::new();
        for i in 1..=6000u64 {
            let ev = match i % 13 {
                0 => sysmon1("C:\\Windows\\System32\\whoami.exe", "2024-01-01T00:00:00Z"),
                5 => sysmon3("C:\\Users\\u\\evil.exe", 4444),
                7 => json!({"query": format!("h{i}.evil.example")}),
                _ => sysmon1("C:\\Windows\\System32\\notepad.exe", "2024-01-01T00:00:00Z"),
            };
            let title = match i % 13 {
                0 => Some("Whoami Run"),
                5 => Some("Connection To 4444"),
                7 => Some("Evil DNS Query"),
                _ => None,
            };
            if let Some(t) = title {
                expected.push((path_str(&path), t.to_string(), i));
            }
            text.push_str(&format!("{ev}\n"));
        }
        std::fs::write(&path, text).unwrap();
        files.push(path_str(&path));
    }
    (files, expected)
}

#[test]
fn output_order_is_input_order_whatever_the_threads() {
    let dir = tempfile::tempdir().unwrap();
    let rules = rules_dir(dir.path());
    let (files, expected) = many_events(dir.path());
    let files: Vec<&str> = files.iter().map(String::as_str).collect();
    let one = eval(&rules, &["--threads", "1"], &files);
    assert_eq!(one.code, Some(0), "{}", one.stderr);
    let got: Vec<(String, String, u64)> = one
        .json_lines()
        .iter()
        .map(|m| {
            (
                m["source"].as_str().unwrap().to_string(),
                m["title"].as_str().unwrap().to_string(),
                m["record"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(got.len(), expected.len());
    assert!(got == expected, "matches differ from the input order");
    for threads in ["2", "2", "1"] {
        let again = eval(&rules, &["--threads", threads], &files);
        assert!(
            again.stdout == one.stdout,
            "--threads {threads} gave different output"
        );
    }
}

#[test]
fn flat_and_nested_json_give_the_same_matches() {
    let dir = tempfile::tempdir().unwrap();
    let rules = rules_dir(dir.path());
    let ts = "2024-05-05T12:00:00.000Z";
    // (channel, event id, event data): the same events in both forms.
    let cases: Vec<(&str, u64, Value)> = vec![
        (
            SYSMON,
            1,
            json!({"Image": "C:\\Windows\\System32\\whoami.exe"}),
        ),
        (SYSMON, 1, json!({"Image": "C:\\Windows\\notepad.exe"})),
        (
            SYSMON,
            3,
            json!({"Image": "C:\\a.exe", "DestinationPort": 4444}),
        ),
        (
            SYSMON,
            3,
            json!({"Image": "C:\\a.exe", "DestinationPort": 443}),
        ),
        (
            "Security",
            4688,
            json!({"NewProcessName": "C:\\Windows\\System32\\whoami.exe"}),
        ),
        (
            "Security",
            4689,
            json!({"ProcessName": "C:\\Windows\\System32\\whoami.exe"}),
        ),
    ];
    let mut flat = String::new();
    let mut nested = String::new();
    for (i, (channel, id, data)) in cases.iter().enumerate() {
        let mut f = data.clone();
        let o = f.as_object_mut().unwrap();
        o.insert("Channel".into(), json!(channel));
        o.insert("EventID".into(), json!(id));
        o.insert("@timestamp".into(), json!(ts));
        flat.push_str(&format!("{f}\n"));
        // As evtx tools write it; every other event carries its EventID as a #text holder.
        let event_id = if i % 2 == 0 {
            json!(id)
        } else {
            json!({"#attributes": {"Qualifiers": 0}, "#text": id})
        };
        let n = json!({"Event": {
            "#attributes": {"xmlns": "http://schemas.microsoft.com/win/2004/08/events/event"},
            "System": {
                "Provider": {"#attributes": {"Name": "x"}},
                "EventID": event_id,
                "TimeCreated": {"#attributes": {"SystemTime": ts}},
                "Channel": channel,
                "Computer": "pc",
            },
            "EventData": data,
        }});
        nested.push_str(&format!("{n}\n"));
    }
    let flat = write(dir.path(), "flat.json", flat);
    let nested = write(dir.path(), "nested.json", nested);
    let a = eval(&rules, &[], &[&path_str(&flat)]);
    let b = eval(&rules, &[], &[&path_str(&nested)]);
    let strip = |run: &eval_support::Run| -> Vec<Value> {
        run.json_lines()
            .into_iter()
            .map(|mut m| {
                m.as_object_mut().unwrap().remove("source");
                m
            })
            .collect()
    };
    let (a, b) = (strip(&a), strip(&b));
    let titles: Vec<(&str, u64)> = a
        .iter()
        .map(|m| (m["title"].as_str().unwrap(), m["record"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        titles,
        [
            ("Whoami Run", 1),
            ("Connection To 4444", 3),
            ("Whoami Run", 5)
        ]
    );
    assert_eq!(a, b, "flat and nested forms (timestamps included)");
}

/// The start of an AppleDouble file (macOS resource fork and attributes).
const APPLE_DOUBLE: &[u8] =
    b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        \x00\x02\x00\x00\x00\x09\xff\xfe";

fn zip_of(path: &Path, members: &[(&str, &[u8])]) {
    let mut z = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in members {
        z.start_file(*name, opts).unwrap();
        z.write_all(bytes).unwrap();
    }
    z.finish().unwrap();
}

fn tar_gz_of(path: &Path, members: &[(&str, &[u8])]) {
    let gz = flate2::write::GzEncoder::new(
        std::fs::File::create(path).unwrap(),
        flate2::Compression::default(),
    );
    let mut t = tar::Builder::new(gz);
    for (name, bytes) in members {
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        t.append_data(&mut h, name, *bytes).unwrap();
    }
    t.into_inner().unwrap().finish().unwrap();
}

/// A SigmaHQ regression `.evtx` and the rule it was recorded for, with the matches expected
/// from it (its `.json` form, read by the same evaluator, must agree; see tests/regression.rs).
fn regression_evtx() -> (PathBuf, PathBuf) {
    let data = shared(
        "corpus/sigma/regression_data/rules/windows/file/file_event/file_event_win_anydesk_artefact/0b9ad457-2554-44c1-82c2-d56a99c42377.evtx",
    );
    let rule =
        shared("corpus/sigma/rules/windows/file/file_event/file_event_win_anydesk_artefact.yml");
    (data, rule)
}

#[test]
fn zip_tar_gz_folders_and_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let rules = rules_dir(dir.path());
    let (evtx, anydesk) = regression_evtx();
    std::fs::copy(&anydesk, rules.join("anydesk.yml")).unwrap();
    let evtx_bytes = std::fs::read(&evtx).unwrap();
    let direct = eval(&rules, &[], &[&path_str(&evtx)]);
    let evtx_hits = hits(&direct);
    assert!(!evtx_hits.is_empty(), "{}", direct.stderr);
    assert!(
        evtx_hits
            .iter()
            .all(|h| h.0 == "Anydesk Temporary Artefact")
    );

    let a = lines(&[
        sysmon1("C:\\Windows\\System32\\whoami.exe", "2024-01-01T00:00:00Z"),
        sysmon1("C:\\Windows\\System32\\cmd.exe", "2024-01-01T00:00:00Z"),
    ]);
    let b = lines(&[
        json!({"query": "x.evil.example"}),
        sysmon3("C:\\a.exe", 4444),
    ]);
    let members: Vec<(&str, &[u8])> = vec![
        ("logs/b.json", b.as_bytes()),
        ("logs/a.json", a.as_bytes()),
        ("readme.txt", b"not events"),
        ("sysmon.evtx", &evtx_bytes),
        // What an archive made on a Mac carries beside each file: metadata, not events.
        ("__MACOSX/logs/._a.json", APPLE_DOUBLE),
        ("logs/._b.json", APPLE_DOUBLE),
    ];
    let zip = dir.path().join("events.zip");
    zip_of(&zip, &members);
    let tgz = dir.path().join("events.tar.gz");
    tar_gz_of(&tgz, &members);

    // Zip members are read in name order; tar members in archive order. Non-event members
    // (readme.txt, macOS metadata) are passed over: exit 0 says nothing was unreadable.
    let z = eval(&rules, &[], &[&path_str(&zip)]);
    assert_eq!(z.code, Some(0), "{}", z.stderr);
    let zs = path_str(&zip);
    let sources: Vec<String> = z
        .json_lines()
        .iter()
        .map(|m| m["source"].as_str().unwrap().to_string())
        .collect();
    let mut want = vec![
        format!("{zs}!logs/a.json"),
        format!("{zs}!logs/b.json"),
        format!("{zs}!logs/b.json"),
    ];
    want.extend(evtx_hits.iter().map(|_| format!("{zs}!sysmon.evtx")));
    assert_eq!(sources, want);
    let mut want_hits = vec![
        ("Whoami Run".to_string(), 1),
        ("Evil DNS Query".to_string(), 1),
        ("Connection To 4444".to_string(), 2),
    ];
    want_hits.extend(evtx_hits.iter().cloned());
    assert_eq!(hits(&z), want_hits);

    let t = eval(&rules, &[], &[&path_str(&tgz)]);
    assert_eq!(t.code, Some(0), "{}", t.stderr);
    let ts = path_str(&tgz);
    let mut want_tar: Vec<(String, String, u64)> = vec![
        (format!("{ts}!logs/b.json"), "Evil DNS Query".into(), 1),
        (format!("{ts}!logs/b.json"), "Connection To 4444".into(), 2),
        (format!("{ts}!logs/a.json"), "Whoami Run".into(), 1),
    ];
    want_tar.extend(
        evtx_hits
            .iter()
            .map(|(r, n)| (format!("{ts}!sysmon.evtx"), r.clone(), *n)),
    );
    let got_tar: Vec<(String, String, u64)> = t
        .json_lines()
        .iter()
        .map(|m| {
            (
                m["source"].as_str().unwrap().to_string(),
                m["title"].as_str().unwrap().to_string(),
                m["record"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(got_tar, want_tar);

    // A folder: searched recursively, files in sorted path order, non-event files passed over.
    let folder = dir.path().join("folder");
    write(&folder, "z/late.json", &b);
    write(&folder, "a.json", &a);
    write(&folder, "notes.txt", "{\"query\": \"x.evil.example\"}\n");
    write(&folder, "z/._late.json", APPLE_DOUBLE);
    let f = eval(&rules, &[], &[&path_str(&folder)]);
    assert_eq!(f.code, Some(0), "{}", f.stderr);
    let got: Vec<(String, u64)> = f
        .json_lines()
        .iter()
        .map(|m| {
            let src = m["source"].as_str().unwrap();
            let rel = Path::new(src).strip_prefix(&folder).unwrap();
            (path_str(rel), m["record"].as_u64().unwrap())
        })
        .collect();
    assert_eq!(
        got,
        [
            ("a.json".to_string(), 1),
            ("z/late.json".to_string(), 1),
            ("z/late.json".to_string(), 2)
        ]
    );

    // stdin, named `-`, between two files: read in its place.
    let a_file = write(dir.path(), "a.json", &a);
    let s = sigc(&[
        "eval",
        "--rules",
        &path_str(&rules),
        "--",
        &path_str(&a_file),
        "-",
        &path_str(&a_file),
    ])
    .stdin(b.clone())
    .run();
    assert_eq!(s.code, Some(0), "{}", s.stderr);
    let got: Vec<(String, String)> = s
        .json_lines()
        .iter()
        .map(|m| {
            (
                m["source"].as_str().unwrap().to_string(),
                m["title"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let af = path_str(&a_file);
    assert_eq!(
        got,
        [
            (af.clone(), "Whoami Run".to_string()),
            ("<stdin>".to_string(), "Evil DNS Query".to_string()),
            ("<stdin>".to_string(), "Connection To 4444".to_string()),
            (af, "Whoami Run".to_string()),
        ]
    );
}

#[test]
fn log_source_routing() {
    let dir = tempfile::tempdir().unwrap();
    let rules = rules_dir(dir.path());
    let whoami = "C:\\Windows\\System32\\whoami.exe";
    let events = [
        // 1: Sysmon process creation.
        sysmon1(whoami, "2024-01-01T00:00:00Z"),
        // 2: Security 4688 writes the image as NewProcessName.
        json!({"Channel": "Security", "EventID": 4688, "NewProcessName": whoami}),
        // 3: the channel compared case-insensitively, the event id as a string.
        json!({"Channel": "security", "EventID": "4688", "NewProcessName": whoami}),
        // 4: Sysmon network connection by whoami: not a process creation.
        json!({"Channel": SYSMON, "EventID": 3, "Image": whoami, "DestinationPort": 80}),
        // 5: 4688 with Sysmon's field name: not how 4688 writes it.
        json!({"Channel": "Security", "EventID": 4688, "Image": whoami}),
        // 6: Sysmon event 1 on another channel.
        json!({"Channel": "Application", "EventID": 1, "Image": whoami}),
        // 7: a Windows event with the Zeek field: Zeek rules never match Windows events.
        json!({"Channel": "Microsoft-Windows-DNS-Client/Operational", "EventID": 3008,
               "query": "a.evil.example"}),
        // 8: a Zeek event (no Channel).
        json!({"ts": 1.5, "uid": "C1", "query": "a.evil.example", "qtype_name": "A"}),
        // 9: no Channel, but not the Zeek query.
        json!({"query": "a.good.example"}),
        // 10: a process-creation-looking event without Channel: no Windows rule applies.
        json!({"EventID": 1, "Image": whoami}),
        // 11: Sysmon 3 to port 4444 (the network rule).
        sysmon3("C:\\a.exe", 4444),
        // 12: port 4444 in Security 4688: not a network connection.
        json!({"Channel": "Security", "EventID": 4688, "DestinationPort": 4444}),
        // 13, 14: an event id equals a whole number only in plain decimal ("4688", not
        // "4688.0" or "04688"), routed or not.
        json!({"Channel": "Security", "EventID": "4688.0", "NewProcessName": whoami}),
        json!({"Channel": "Security", "EventID": "04688", "NewProcessName": whoami}),
        // 15: as text, the plain decimal form matches.
        json!({"Channel": "Security", "EventID": "4688", "NewProcessName": whoami}),
    ];
    let file = write(dir.path(), "ev.json", lines(&events));
    let run = eval(&rules, &[], &[&path_str(&file)]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let want: Vec<(String, u64)> = [
        ("Whoami Run", 1),
        ("Whoami Run", 2),
        ("Whoami Run", 3),
        ("Evil DNS Query", 8),
        ("Connection To 4444", 11),
        ("Whoami Run", 15),
    ]
    .iter()
    .map(|(t, n)| (t.to_string(), *n))
    .collect();
    assert_eq!(hits(&run), want);
}

#[test]
fn bytecode_file_gives_the_same_output_as_yaml_rules() {
    let dir = tempfile::tempdir().unwrap();
    let rules = rules_dir(dir.path());
    let bundled = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    let (evtx, anydesk) = regression_evtx();
    std::fs::copy(&anydesk, rules.join("anydesk.yml")).unwrap();
    let sigcb = dir.path().join("rules.sigcb");
    let conv = sigc(&[
        "convert",
        "-t",
        "bytecode",
        "-o",
        &path_str(&sigcb),
        &path_str(&rules),
        &path_str(&bundled),
    ])
    .run();
    assert_eq!(conv.code, Some(0), "{}", conv.stderr);
    let (files, _) = many_events(dir.path());
    let mut inputs: Vec<&str> = files.iter().map(String::as_str).collect();
    let evtx = path_str(&evtx);
    inputs.push(&evtx);
    let yaml = {
        let mut args = vec![
            "eval".to_string(),
            "--with-event".into(),
            "--rules".into(),
            path_str(&rules),
            "--rules".into(),
            path_str(&bundled),
            "--".into(),
        ];
        args.extend(inputs.iter().map(|s| s.to_string()));
        sigc(&args).run()
    };
    let code = eval(&sigcb, &["--with-event"], &inputs);
    assert_eq!(yaml.code, Some(0), "{}", yaml.stderr);
    assert_eq!(code.code, Some(0), "{}", code.stderr);
    assert!(yaml.json_lines().len() > 1000);
    assert!(
        code.stdout == yaml.stdout,
        "bytecode and YAML rules disagree"
    );
}

/// The bytes of a bytecode file compiled from the test rules.
fn bytecode(dir: &Path) -> Vec<u8> {
    let rules = rules_dir(dir);
    let sigcb = dir.join("ok.sigcb");
    let conv = sigc(&[
        "convert",
        "-t",
        "bytecode",
        "-o",
        &path_str(&sigcb),
        &path_str(&rules),
    ])
    .run();
    assert_eq!(conv.code, Some(0), "{}", conv.stderr);
    std::fs::read(&sigcb).unwrap()
}

/// `eval --rules <bytes>` must fail with exit 2 and an error naming the file and `what`.
fn rejects(dir: &Path, name: &str, bytes: &[u8], what: &str) {
    let path = write(dir, name, bytes);
    let events = write(
        dir,
        "one.json",
        lines(&[sysmon1("C:\\whoami.exe", "2024-01-01T00:00:00Z")]),
    );
    let run = eval(&path, &[], &[&path_str(&events)]);
    assert_eq!(run.code, Some(2), "{name}: {}", run.stderr);
    assert!(run.stdout.is_empty(), "{name}: no matches from a bad file");
    assert!(
        run.stderr.contains(&path_str(&path)) && run.stderr.contains(what),
        "{name}: expected an error about {what:?}, got:\n{}",
        run.stderr
    );
}

/// FNV-1a 64, as the file header's checksum (src/bytecode/codec.rs).
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Header: magic (8), version (u32), payload length (u64), checksum (u64).
const HEADER: usize = 28;

#[test]
fn broken_bytecode_files_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let good = bytecode(dir.path());
    assert!(good.len() > HEADER + 100);
    let payload_len = u64::from_le_bytes(good[12..20].try_into().unwrap());
    assert_eq!(payload_len as usize, good.len() - HEADER);

    rejects(
        dir.path(),
        "truncated.sigcb",
        &good[..good.len() - 37],
        "truncated",
    );
    rejects(dir.path(), "header.sigcb", &good[..HEADER], "truncated");
    rejects(dir.path(), "magic.sigcb", &good[..10], "bytecode");
    let mut padded = good.clone();
    padded.extend_from_slice(&[0; 5]);
    rejects(dir.path(), "padded.sigcb", &padded, "padded");

    let mut flipped = good.clone();
    let mid = HEADER + (good.len() - HEADER) / 2;
    flipped[mid] ^= 0x40;
    rejects(dir.path(), "flipped.sigcb", &flipped, "corrupted");

    let version = u32::from_le_bytes(good[8..12].try_into().unwrap());
    for other in [version + 1, version.wrapping_sub(1), u32::MAX] {
        let mut foreign = good.clone();
        foreign[8..12].copy_from_slice(&other.to_le_bytes());
        rejects(
            dir.path(),
            &format!("v{other}.sigcb"),
            &foreign,
            &format!("version {other}"),
        );
    }
}

#[test]
fn bytecode_corrupted_under_a_valid_checksum_never_panics() {
    // Damage the payload, then fix the checksum, so only the decoder's own checks stand
    // between the damage and the VM: each file is either rejected (exit 2) or runs.
    let dir = tempfile::tempdir().unwrap();
    let good = bytecode(dir.path());
    let events = write(
        dir.path(),
        "one.json",
        lines(&[
            sysmon1("C:\\whoami.exe", "2024-01-01T00:00:00Z"),
            sysmon3("C:\\a.exe", 4444),
        ]),
    );
    let path = dir.path().join("damaged.sigcb");
    let mut rejected = 0;
    let step = ((good.len() - HEADER) / 60).max(1);
    for (n, pos) in (HEADER..good.len()).step_by(step).enumerate() {
        let mut bad = good.clone();
        // Alternate small changes (off-by-one counts and indexes) and large ones.
        bad[pos] = match n % 3 {
            0 => bad[pos].wrapping_add(1),
            1 => 0xff,
            _ => bad[pos] ^ 0x80,
        };
        let sum = fnv1a(&bad[HEADER..]);
        bad[20..28].copy_from_slice(&sum.to_le_bytes());
        std::fs::write(&path, &bad).unwrap();
        let run = eval(&path, &[], &[&path_str(&events)]);
        match run.code {
            Some(2) => {
                rejected += 1;
                assert!(
                    run.stderr.contains("error"),
                    "byte {pos}: exit 2 without an error:\n{}",
                    run.stderr
                );
            }
            Some(0 | 1) => {}
            other => panic!("byte {pos}: exit {other:?}:\n{}", run.stderr),
        }
    }
    assert!(rejected > 0, "no damaged file was rejected");
}

#[test]
fn bundled_rules_pass_their_own_tests() {
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    let run = sigc(&["test", "--format", "json", &path_str(&rules)]).run();
    assert_eq!(run.code, Some(0), "{}\n{}", run.out(), run.stderr);
    let outcomes = run.json_lines();
    let failed: Vec<&Value> = outcomes.iter().filter(|o| o["status"] != "pass").collect();
    assert!(failed.is_empty(), "{failed:#?}");
    // Every bundled rule has a tests file, with both positive and negative events, and each
    // of those events ran.
    let mut yml = Vec::new();
    let mut stack = vec![rules.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            // The pack's build configuration and its generated tree are not rules.
            if p.ends_with("generated") || p.ends_with("sigc.yml") {
                continue;
            } else if p.is_dir() {
                stack.push(p);
            } else if p.to_str().is_some_and(|s| s.ends_with(".tests.yml")) {
                continue;
            } else if p.extension().is_some_and(|x| x == "yml") {
                yml.push(p);
            }
        }
    }
    assert!(!yml.is_empty());
    for rule in yml {
        let stem = rule.file_stem().unwrap().to_str().unwrap();
        let tests = rule.with_file_name(format!("{stem}.tests.yml"));
        assert!(tests.exists(), "{} has no tests file", rule.display());
        let doc = &yaml_rust2::YamlLoader::load_from_str(&std::fs::read_to_string(&tests).unwrap())
            .unwrap()[0];
        let ran = |kind: &str| {
            outcomes
                .iter()
                .filter(|o| {
                    o["path"]
                        .as_str()
                        .is_some_and(|p| p.ends_with(&format!("{stem}.yml")))
                        && o["test"]
                            .as_str()
                            .is_some_and(|t| t.starts_with(&format!("{kind}[")))
                })
                .count()
        };
        for kind in ["match", "no_match"] {
            let written = doc[kind].as_vec().map_or(0, Vec::len);
            assert!(written >= 2, "{}: too few {kind} events", tests.display());
            assert_eq!(ran(kind), written, "{} {kind}", tests.display());
        }
    }
}

#[test]
fn rule_tests_that_fail_are_reported() {
    // A tests file whose expectations are wrong: sigc test must say so (exit 1), per event.
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    write(&rules, "proc.yml", PROC_RULE);
    write(
        &rules,
        "proc.tests.yml",
        format!(
            "match:\n  - {{Channel: '{SYSMON}', EventID: 1, Image: 'C:\\x\\whoami.exe'}}\n  - {{Channel: '{SYSMON}', EventID: 1, Image: 'C:\\x\\cmd.exe'}}\nno_match:\n  - {{Channel: Security, EventID: 4688, NewProcessName: 'C:\\x\\whoami.exe'}}\n"
        ),
    );
    let run = sigc(&["test", "--format", "json", &path_str(&rules)]).run();
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    let status: Vec<(String, String)> = run
        .json_lines()
        .iter()
        .map(|o| {
            (
                o["test"].as_str().unwrap().to_string(),
                o["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want: Vec<(String, String)> = [
        ("match[0]", "pass"),
        ("match[1]", "fail"),
        ("no_match[0]", "fail"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(status, want);
}

#[test]
fn mistakes_in_a_rule_tests_file_are_failures() {
    // A misspelt key, a map where a list belongs, or no events at all would otherwise test
    // nothing and pass.
    for (text, reason) in [
        ("matches:\n  - {EventID: 1}\n", "unknown key `matches`"),
        (
            "match:\n  - {EventID: 1}\nno_match: {EventID: 1}\n",
            "`no_match` is not a list",
        ),
        ("match: []\n", "no events"),
        ("- {EventID: 1}\n", "a tests file is a map"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "proc.yml", PROC_RULE);
        write(dir.path(), "proc.tests.yml", text);
        let run = sigc(&["test", "--format", "json", &path_str(dir.path())]).run();
        assert_eq!(run.code, Some(1), "{text:?}: {}", run.out());
        let out = run.json_lines();
        assert_eq!(out.len(), 1, "{text:?}: {out:?}");
        assert_eq!(out[0]["status"], "fail");
        assert!(
            out[0]["reason"].as_str().unwrap().contains(reason),
            "{text:?}: {}",
            out[0]
        );
    }
}
