//! Running the built `sigc` binary from the evaluator's tests: a watchdog that kills a hung run,
//! pipes drained on threads, stdin from bytes or from a writer thread, and a check that the run
//! did not crash; the shared data folder and a sorted walk of it. Shared by `tests/eval.rs`,
//! `tests/eval_robustness.rs`, `tests/regression.rs` and the two exactness runners; each uses
//! a part of it.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `../shared` beside the checkout (the SigmaHQ corpus and the datasets), as CI has it.
pub const SHARED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared");

/// The shared folder `rel` (e.g. `corpus/sigma/rules`), or a panic saying what is missing.
pub fn shared(rel: &str) -> PathBuf {
    let p = Path::new(SHARED).join(rel);
    assert!(
        p.exists(),
        "{} is missing: these tests need ../shared (the SigmaHQ corpus and datasets) beside \
         the checkout, as CI has it",
        p.display()
    );
    p
}

/// Every file under `dir` (depth first, sorted by path) whose path `keep` accepts, appended to
/// `out`.
pub fn walk(dir: &Path, keep: &dyn Fn(&str) -> bool, out: &mut Vec<String>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, keep, out);
        } else if let Some(s) = p.to_str()
            && keep(s)
        {
            out.push(s.to_string());
        }
    }
}

/// One `sigc convert --json` run: rule id → (path, query or the backend's refusal).
pub type Converted = std::collections::HashMap<String, (String, Result<String, String>)>;

/// Read `sigc convert --json` output; every line must name its rule and hold a query or an
/// error, and no rule id may come twice.
pub fn converted(stdout: &str) -> Converted {
    let mut map = Converted::new();
    for line in stdout.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON: {line}: {e}"));
        let id = v["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no id: {line}"))
            .to_string();
        let path = v["path"].as_str().unwrap_or("").to_string();
        let r = match (v["query"].as_str(), v["error"].as_str()) {
            (Some(q), _) => Ok(q.to_string()),
            (None, Some(e)) => Err(e.to_string()),
            _ => panic!("neither query nor error: {line}"),
        };
        assert!(
            map.insert(id.clone(), (path, r)).is_none(),
            "rule id {id} twice"
        );
    }
    map
}

/// What a run left behind.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: String,
    /// Peak resident memory (VmHWM) in KiB, sampled while the process ran (0 if unknown).
    pub peak_kib: u64,
}

impl Run {
    pub fn out(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// stdout as JSON lines; every line must be a JSON value.
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.out()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}")))
            .collect()
    }
}

/// Writes a child's stdin from a thread.
pub type StdinWriter = Box<dyn FnOnce(&mut dyn Write) -> std::io::Result<()> + Send>;

/// What the child reads on stdin.
pub enum Input {
    Null,
    Bytes(Vec<u8>),
    /// Written by a thread while the child runs (for inputs too large to hold).
    Writer(StdinWriter),
}

/// A run of `sigc` with `args`, killed after `deadline` (which only catches hangs: it is far
/// above what any input here needs in a debug build on a loaded 2-core machine).
pub struct Sigc {
    args: Vec<String>,
    dir: Option<PathBuf>,
    input: Input,
    deadline: Duration,
}

pub fn sigc<S: AsRef<str>>(args: &[S]) -> Sigc {
    Sigc {
        args: args.iter().map(|a| a.as_ref().to_string()).collect(),
        dir: None,
        input: Input::Null,
        deadline: Duration::from_secs(120),
    }
}

impl Sigc {
    pub fn dir(mut self, dir: &Path) -> Self {
        self.dir = Some(dir.to_path_buf());
        self
    }

    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.input = Input::Bytes(bytes.into());
        self
    }

    pub fn stdin_from(
        mut self,
        f: impl FnOnce(&mut dyn Write) -> std::io::Result<()> + Send + 'static,
    ) -> Self {
        self.input = Input::Writer(Box::new(f));
        self
    }

    pub fn deadline(mut self, d: Duration) -> Self {
        self.deadline = d;
        self
    }

    /// Run to the end; panics on a hang, a panic (exit 101) or a death by signal.
    pub fn run(self) -> Run {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sigc"));
        cmd.args(&self.args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(match self.input {
                Input::Null => Stdio::null(),
                _ => Stdio::piped(),
            });
        if let Some(d) = &self.dir {
            cmd.current_dir(d);
        }
        let mut child = cmd.spawn().expect("spawn sigc");
        let writer = child.stdin.take().map(|mut stdin| {
            let input = self.input;
            std::thread::spawn(move || {
                // A broken pipe (sigc stopped reading) is the child's business, not the test's.
                let _ = match input {
                    Input::Bytes(b) => stdin.write_all(&b),
                    Input::Writer(f) => f(&mut stdin),
                    Input::Null => Ok(()),
                };
            })
        });
        let (out_t, err_t) = drain(&mut child);
        let start = Instant::now();
        let mut peak_kib = 0;
        let pid = child.id();
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait for sigc") {
                break status;
            }
            peak_kib = peak_kib.max(vm_hwm_kib(pid).unwrap_or(0));
            if start.elapsed() > self.deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "sigc {:?} still running after {:?}: killed",
                    self.args, self.deadline
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        if let Some(w) = writer {
            w.join().expect("stdin writer thread");
        }
        let run = Run {
            code: status.code(),
            stdout: out_t.join().expect("stdout thread"),
            stderr: String::from_utf8_lossy(&err_t.join().expect("stderr thread")).into_owned(),
            peak_kib,
        };
        assert!(
            run.code.is_some(),
            "sigc {:?} was killed by a signal ({status:?}); stderr:\n{}",
            self.args,
            run.stderr
        );
        assert_ne!(
            run.code,
            Some(101),
            "sigc {:?} panicked:\n{}",
            self.args,
            run.stderr
        );
        assert!(
            !run.stderr.contains("panicked") && !run.stderr.contains("stack overflow"),
            "sigc {:?} crashed:\n{}",
            self.args,
            run.stderr
        );
        run
    }
}

type Pipe = std::thread::JoinHandle<Vec<u8>>;

/// Read stdout and stderr on threads so a chatty child never blocks on a full pipe.
fn drain(child: &mut Child) -> (Pipe, Pipe) {
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let out_t = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = out.read_to_end(&mut s);
        s
    });
    let err_t = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = err.read_to_end(&mut s);
        s
    });
    (out_t, err_t)
}

/// The peak resident set of a live process, from `/proc/<pid>/status`.
pub fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

pub fn write(dir: &Path, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("create folder");
    }
    std::fs::write(&path, bytes).expect("write temp file");
    path
}

pub fn path_str(p: &Path) -> String {
    p.to_str().expect("UTF-8 path").to_string()
}
