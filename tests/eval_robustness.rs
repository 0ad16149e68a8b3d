//! Broken and hostile event input through `sigc eval`, each run under a watchdog: damaged EVTX
//! files, lines that are not JSON, JSON nested a million deep, a 1 GB line on stdin. sigc must
//! report each unreadable item with its location, carry on with the rest, never panic (exit 101)
//! or die by a signal (stack overflow), and keep its memory bounded.

mod eval_support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use eval_support::{Run, path_str, shared, sigc, write};

/// Every Sysmon event.
const ANY_SYSMON: &str = r"title: Any Sysmon Event
id: 5a0f2d6e-1b7c-4c3a-9e8d-7f6a5b4c3d01
status: test
logsource:
    product: windows
    service: sysmon
detection:
    selection:
        EventID|exists: true
    condition: selection
level: informational
";

/// A process creation by whoami.exe (flat JSON events below).
const WHOAMI: &str = r"title: Whoami Run
id: 5a0f2d6e-1b7c-4c3a-9e8d-7f6a5b4c3d02
status: test
logsource:
    category: process_creation
    product: windows
detection:
    selection:
        Image|endswith: '\whoami.exe'
    condition: selection
level: high
";

const WHOAMI_EVENT: &str = r#"{"Channel":"Microsoft-Windows-Sysmon/Operational","EventID":1,"Image":"C:\\Windows\\System32\\whoami.exe"}"#;

/// Peak memory allowed for any input (the issue's bound).
const MAX_RSS_KIB: u64 = 250 * 1024;

const EVTX_HEADER: usize = 4096;
const EVTX_CHUNK: usize = 65536;

fn rules(dir: &Path) -> PathBuf {
    let rules = dir.join("rules");
    write(&rules, "sysmon.yml", ANY_SYSMON);
    write(&rules, "whoami.yml", WHOAMI);
    rules
}

fn eval(rules: &Path, events: &[&Path]) -> Run {
    let mut args = vec![
        "eval".to_string(),
        "--rules".into(),
        path_str(rules),
        "--".into(),
    ];
    args.extend(events.iter().map(|p| path_str(p)));
    sigc(&args).run()
}

/// Records matched, as `(source, record)`.
fn matched(run: &Run) -> Vec<(String, u64)> {
    run.json_lines()
        .iter()
        .map(|m| {
            (
                m["source"].as_str().unwrap().to_string(),
                m["record"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// The `warning: <source>:<n>: ...` lines sigc printed.
fn warnings(run: &Run) -> Vec<&str> {
    run.stderr
        .lines()
        .filter(|l| l.starts_with("warning: "))
        .collect()
}

/// The number of unreadable records the summary line gives.
fn unreadable(run: &Run) -> u64 {
    let line = run
        .stderr
        .lines()
        .find(|l| l.ends_with("unreadable records"))
        .unwrap_or_else(|| panic!("no summary:\n{}", run.stderr));
    let n = line.rsplit(", ").next().unwrap();
    n.split(' ').next().unwrap().parse().unwrap()
}

/// Three SigmaHQ regression files of Sysmon events (one chunk each; the first has 5 records).
fn sysmon_evtx() -> Vec<PathBuf> {
    let root = "corpus/sigma/regression_data/rules/windows";
    vec![
        shared(&format!(
            "{root}/file/file_event/file_event_win_anydesk_artefact/0b9ad457-2554-44c1-82c2-d56a99c42377.evtx"
        )),
        shared(&format!(
            "{root}/process_creation/proc_creation_win_bitsadmin_download/d059842b-6b9d-4ed1-b5c3-5b89143c6ede.evtx"
        )),
        shared(&format!(
            "{root}/process_creation/proc_creation_win_amsi_registry_tampering/7dbbcac2-57a0-45ac-b306-ff30a8bd2981.evtx"
        )),
    ]
}

/// One EVTX file holding the chunks of `files` in order (the parser finds chunks by size, so
/// the first file's header serves).
fn chunks_of(files: &[PathBuf]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, f) in files.iter().enumerate() {
        let bytes = std::fs::read(f).unwrap();
        assert_eq!(bytes.len(), EVTX_HEADER + EVTX_CHUNK, "{}", f.display());
        if i == 0 {
            out.extend_from_slice(&bytes[..EVTX_HEADER]);
        }
        out.extend_from_slice(&bytes[EVTX_HEADER..]);
    }
    out
}

/// How many Sysmon events each file holds, as sigc reads them intact.
fn events_per_file(rules: &Path, files: &[PathBuf]) -> Vec<usize> {
    files
        .iter()
        .map(|f| {
            let run = eval(rules, &[f]);
            assert_eq!(run.code, Some(0), "{}", run.stderr);
            matched(&run).len()
        })
        .collect()
}

#[test]
fn truncated_evtx_reports_the_lost_chunk_and_reads_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let rules = rules(dir.path());
    let files = sysmon_evtx();
    let per_file = events_per_file(&rules, &files);
    assert!(per_file.iter().all(|&n| n > 0), "{per_file:?}");
    let whole = chunks_of(&files);
    let intact = write(dir.path(), "whole.evtx", &whole);
    let run = eval(&rules, &[&intact]);
    assert_eq!(matched(&run).len(), per_file.iter().sum::<usize>());

    // Cut the file 30000 bytes into its last chunk; then a JSON file follows it.
    let cut = EVTX_HEADER + 2 * EVTX_CHUNK + 30000;
    let truncated = write(dir.path(), "cut.evtx", &whole[..cut]);
    let after = write(dir.path(), "after.json", format!("{WHOAMI_EVENT}\n"));
    let run = eval(&rules, &[&truncated, &after]);
    assert_eq!(
        run.code,
        Some(1),
        "unreadable input is exit 1:\n{}",
        run.stderr
    );
    let got = matched(&run);
    let from_evtx = got.iter().filter(|m| m.0 == path_str(&truncated)).count();
    assert_eq!(from_evtx, per_file[0] + per_file[1], "the two whole chunks");
    assert_eq!(
        got.iter().filter(|m| m.0 == path_str(&after)).count(),
        2,
        "the run continued (whoami and any-Sysmon on the next file)"
    );
    let w = warnings(&run);
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].contains(&path_str(&truncated))
            && w[0].contains("truncated")
            && w[0].contains("chunk 2"),
        "{w:?}"
    );
    assert_eq!(unreadable(&run), 1);

    // Cut inside the file header: not an EVTX file at all, said so, and the run goes on.
    let stub = write(dir.path(), "stub.evtx", &whole[..2000]);
    let run = eval(&rules, &[&stub, &after]);
    assert_eq!(run.code, Some(1));
    assert_eq!(matched(&run).len(), 2);
    let w = warnings(&run);
    assert!(
        w.len() == 1 && w[0].contains(&path_str(&stub)) && w[0].contains("EVTX"),
        "{w:?}"
    );
}

#[test]
fn corrupted_evtx_chunk_is_reported_and_the_others_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let rules = rules(dir.path());
    let files = sysmon_evtx();
    let per_file = events_per_file(&rules, &files);
    let mut bytes = chunks_of(&files);
    // Damage the middle chunk's header (its string and template tables).
    let start = EVTX_HEADER + EVTX_CHUNK;
    for b in &mut bytes[start + 600..start + 2600] {
        *b ^= 0x5a;
    }
    let bad = write(dir.path(), "bad.evtx", &bytes);
    let run = eval(&rules, &[&bad]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert_eq!(matched(&run).len(), per_file[0] + per_file[2]);
    let w = warnings(&run);
    assert!(
        w.len() == 1 && w[0].contains(&path_str(&bad)) && w[0].contains("chunk number 1"),
        "{w:?}"
    );
    assert_eq!(unreadable(&run), 1);
}

/// Offsets (in the file) and record ids of the records of the chunk at `chunk`, walking
/// record headers: magic `**\0\0`, size (u32), record id (u64).
fn records(bytes: &[u8], chunk: usize) -> Vec<(usize, u64)> {
    let mut out = Vec::new();
    let mut at = chunk + 512;
    while at + 24 <= chunk + EVTX_CHUNK && bytes[at..at + 4] == *b"**\0\0" {
        let size = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
        let id = u64::from_le_bytes(bytes[at + 8..at + 16].try_into().unwrap());
        out.push((at, id));
        at += size;
    }
    out
}

#[test]
fn corrupted_evtx_record_is_reported_with_its_id_and_the_others_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let rules = rules(dir.path());
    let file = &sysmon_evtx()[0];
    let mut bytes = std::fs::read(file).unwrap();
    let recs = records(&bytes, EVTX_HEADER);
    assert!(recs.len() >= 5, "{recs:?}");
    let intact = eval(&rules, &[file]);
    let ids: Vec<u64> = matched(&intact).iter().map(|m| m.1).collect();
    assert_eq!(ids, recs.iter().map(|r| r.1).collect::<Vec<_>>());

    // Garble the body of the third record, past its header.
    let (at, id) = recs[2];
    for b in &mut bytes[at + 40..at + 200] {
        *b ^= 0xff;
    }
    let bad = write(dir.path(), "record.evtx", &bytes);
    let run = eval(&rules, &[&bad]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    let left: Vec<u64> = matched(&run).iter().map(|m| m.1).collect();
    let want: Vec<u64> = ids.iter().copied().filter(|&i| i != id).collect();
    assert_eq!(left, want);
    let w = warnings(&run);
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].starts_with(&format!("warning: {}:{id}: ", path_str(&bad))),
        "located at the record id: {w:?}"
    );

    // A record whose header magic is gone: located by its offset in the file.
    let mut bytes = std::fs::read(file).unwrap();
    bytes[at..at + 4].copy_from_slice(&[0; 4]);
    let bad = write(dir.path(), "magic.evtx", &bytes);
    let run = eval(&rules, &[&bad]);
    assert_eq!(run.code, Some(1));
    assert!(!matched(&run).is_empty(), "the records before it are read");
    let w = warnings(&run);
    assert!(
        w.len() == 1 && w[0].contains(&format!("file offset {at:#x}")),
        "{w:?}"
    );
}

#[test]
fn evtx_with_bytes_flipped_anywhere_never_crashes() {
    let dir = tempfile::tempdir().unwrap();
    let rules = rules(dir.path());
    let files = sysmon_evtx();
    let whole = chunks_of(&files[..2]);
    let path = dir.path().join("flipped.evtx");
    // A fixed pseudo-random walk over the file (xorshift), a few bytes damaged per run.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for _ in 0..40 {
        let mut bytes = whole.clone();
        let at = (next() as usize) % bytes.len();
        for k in 0..(next() % 8 + 1) as usize {
            if let Some(b) = bytes.get_mut(at + k * 7) {
                *b ^= (next() % 255 + 1) as u8;
            }
        }
        std::fs::write(&path, &bytes).unwrap();
        let run = eval(&rules, &[&path]);
        assert!(
            matches!(run.code, Some(0 | 1)),
            "damage at byte {at}: exit {:?}\n{}",
            run.code,
            run.stderr
        );
        // Every unreadable item was reported on its own line.
        assert_eq!(
            warnings(&run).len() as u64,
            unreadable(&run),
            "{}",
            run.stderr
        );
    }
}

#[test]
fn lines_that_are_not_json_are_reported_and_the_others_matched() {
    let dir = tempfile::tempdir().unwrap();
    let rules = rules(dir.path());
    let mut text: Vec<u8> = Vec::new();
    let lines: [&[u8]; 9] = [
        WHOAMI_EVENT.as_bytes(),          // 1 ok
        b"not json at all",               // 2
        br#"{"Image": "C:\\whoami.exe""#, // 3 unterminated
        WHOAMI_EVENT.as_bytes(),          // 4 ok
        b"\xff\xfe{\x00\"\x00",           // 5 not UTF-8
        b"[1, 2, 3]",                     // 6 not an object
        br#"{"a": 1} {"b": 2}"#,          // 7 trailing text
        br#"{"a": "\ud800 \q"}"#,         // 8 a bad escape
        WHOAMI_EVENT.as_bytes(),          // 9 ok
    ];
    for l in lines {
        text.extend_from_slice(l);
        text.push(b'\n');
    }
    let file = write(dir.path(), "mixed.json", &text);
    let run = eval(&rules, &[&file]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    let got: Vec<u64> = matched(&run).iter().map(|m| m.1).collect();
    // whoami and any-Sysmon on each good line.
    assert_eq!(got, [1, 1, 4, 4, 9, 9]);
    let w = warnings(&run);
    let located: Vec<u64> = w
        .iter()
        .map(|l| {
            let rest = l
                .strip_prefix(&format!("warning: {}:", path_str(&file)))
                .unwrap_or_else(|| panic!("not located in the file: {l}"));
            rest.split(':').next().unwrap().parse().unwrap()
        })
        .collect();
    assert_eq!(located, [2, 3, 5, 6, 7, 8], "{w:#?}");
    assert_eq!(unreadable(&run), 6);
    assert!(
        run.stderr.contains("3 events,"),
        "good lines counted as events:\n{}",
        run.stderr
    );
}

#[test]
fn json_nested_a_million_deep_is_an_error_not_a_stack_overflow() {
    let dir = tempfile::tempdir().unwrap();
    let rules = rules(dir.path());
    let n = 1_000_000;
    let mut text = String::new();
    text.push_str(&format!("{{\"a\":{}{}}}\n", "[".repeat(n), "]".repeat(n)));
    text.push_str(&format!("{}1{}\n", "{\"a\":".repeat(n), "}".repeat(n)));
    text.push_str(WHOAMI_EVENT);
    text.push('\n');
    let file = write(dir.path(), "deep.json", &text);
    for extra in [&[][..], &["--with-event"][..]] {
        let mut args = vec!["eval".to_string(), "--rules".into(), path_str(&rules)];
        args.extend(extra.iter().map(|s| s.to_string()));
        args.extend(["--".to_string(), path_str(&file)]);
        let run = sigc(&args).run();
        assert_eq!(run.code, Some(1), "{}", run.stderr);
        let w = warnings(&run);
        assert_eq!(w.len(), 2, "{w:?}");
        for (l, line) in w.iter().zip([1, 2]) {
            assert!(
                l.contains(&format!("{}:{line}:", path_str(&file))) && l.contains("deep"),
                "{l}"
            );
        }
        let got: Vec<u64> = matched(&run).iter().map(|m| m.1).collect();
        assert_eq!(got, [3, 3]);
    }
}

/// Stream `head`, then `size` bytes of `fill`, then `tail` into sigc's stdin from a thread
/// (never held in memory or written to disk), followed by a normal line; return the run.
fn stream_through_stdin(
    rules: &Path,
    head: &'static [u8],
    size: usize,
    tail: &'static [u8],
) -> Run {
    sigc(&["eval", "--rules", &path_str(rules), "--", "-"])
        .deadline(Duration::from_secs(600))
        .stdin_from(move |w: &mut dyn Write| {
            w.write_all(head)?;
            let block = vec![b'x'; 1 << 20];
            let mut left = size;
            while left > 0 {
                let k = left.min(block.len());
                w.write_all(&block[..k])?;
                left -= k;
            }
            w.write_all(tail)?;
            w.write_all(WHOAMI_EVENT.as_bytes())?;
            w.write_all(b"\n")
        })
        .run()
}

#[test]
fn a_1_gb_line_on_stdin_is_skipped_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let rules = rules(dir.path());
    let run = stream_through_stdin(&rules, b"{\"Image\": \"", 1 << 30, b"\"}\n");
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    let w = warnings(&run);
    assert!(
        w.len() == 1 && w[0].starts_with("warning: <stdin>:1: ") && w[0].contains("skipped"),
        "{w:?}"
    );
    assert_eq!(
        matched(&run),
        [("<stdin>".to_string(), 2), ("<stdin>".to_string(), 2)]
    );
    assert!(run.peak_kib > 0, "peak memory was not measured");
    assert!(
        run.peak_kib < MAX_RSS_KIB,
        "peak RSS {} MiB while skipping a 1 GiB line",
        run.peak_kib / 1024
    );
}

#[test]
fn a_huge_pretty_printed_object_is_skipped_in_bounded_memory() {
    // A lone `{` line starts a pretty-printed object; one that never fits is dropped up to its
    // closing `}` instead of being gathered.
    let dir = tempfile::tempdir().unwrap();
    let rules = rules(dir.path());
    // 400 MiB of `"k": "xxx…",` lines (1 MiB each).
    let run = sigc(&["eval", "--rules", &path_str(&rules), "--", "-"])
        .deadline(Duration::from_secs(600))
        .stdin_from(|w: &mut dyn Write| {
            w.write_all(b"{\n")?;
            let mut line = b"  \"k\": \"".to_vec();
            line.resize((1 << 20) - 3, b'x');
            line.extend_from_slice(b"\",\n");
            for _ in 0..400 {
                w.write_all(&line)?;
            }
            w.write_all(b"  \"end\": 1\n}\n")?;
            w.write_all(WHOAMI_EVENT.as_bytes())?;
            w.write_all(b"\n")
        })
        .run();
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    let w = warnings(&run);
    assert!(
        w.len() == 1 && w[0].starts_with("warning: <stdin>:1: ") && w[0].contains("skipped"),
        "{w:?}"
    );
    assert_eq!(matched(&run).len(), 2, "the line after it is read");
    assert!(
        run.peak_kib > 0 && run.peak_kib < MAX_RSS_KIB,
        "peak RSS {} MiB",
        run.peak_kib / 1024
    );
}

#[test]
fn many_long_lines_stay_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let rules = rules(dir.path());
    let run = sigc(&["eval", "--rules", &path_str(&rules), "--", "-"])
        .deadline(Duration::from_secs(600))
        .stdin_from(|w: &mut dyn Write| {
            let mut line = b"{\"a\": \"".to_vec();
            line.resize(15 << 20, b'x');
            line.extend_from_slice(b"\"}\n");
            for _ in 0..8 {
                w.write_all(&line)?;
            }
            w.write_all(WHOAMI_EVENT.as_bytes())?;
            w.write_all(b"\n")
        })
        .run();
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(matched(&run).len(), 2);
    assert!(
        run.peak_kib > 0 && run.peak_kib < MAX_RSS_KIB,
        "peak RSS {} MiB",
        run.peak_kib / 1024
    );
}
