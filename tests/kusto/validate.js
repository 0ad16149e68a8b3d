#!/usr/bin/env node
// Validates KQL queries with Microsoft's Kusto language service (@kusto/language-service-next:
// the Kusto.Language parser and semantic analyser behind Kusto Explorer, the Azure Data Explorer
// web UI and monaco-kusto) against the table schemas in schemas/*.json.
//
// Input (stdin): JSON lines, {"id": any, "query": "...", "database": "xdr" | "sentinel"}.
// "database" is optional (default: --database=..., else "xdr"):
//   xdr       Microsoft Defender XDR advanced hunting (Device*, Identity*, ... tables)
//   sentinel  Microsoft Sentinel / Log Analytics tables, and the ASIM parser functions
// Output (stdout): one JSON line per query, in input order:
//   {"id": ..., "database": "xdr", "ok": false, "diagnostics": [{"severity": "Error",
//    "code": "KS142", "message": "...", "start": 62, "length": 3, "text": "Foo",
//    "source": "parser" | "analyzer"}], "more": 3}   ("more": diagnostics past the first 20)
// (with --failures-only, only the queries that have a counted diagnostic). A summary, one line
// per kind of diagnostic with the number of queries that have it, goes to stderr.
// Exit code: 0 when no query has a counted diagnostic, 1 when some do, 2 on bad input or usage.
//
// Counted severities: Error and Warning, both from the parser and binder (syntax errors,
// unknown tables, columns and functions, wrong argument or operand types, ...) and from the
// language service's analyzers (KS501/KS502 isnull/isnotnull on a string, KS508 join without
// kind, KS510 a variable shadowed by a column, ...). Suggestion, Information and Hidden
// diagnostics are performance advice (KS500 "avoid contains", KS514 "has with an IPv4 string",
// ...): shown with --all, never counted. --severities=Error,Warning,... changes the counted set.
//
// Options: --database=NAME  --all  --failures-only  --severities=LIST  --jobs=N (worker
// threads, default: the number of cores, at most 4)  --list (print the schema objects and exit).

'use strict';

const fs = require('fs');
const path = require('path');
const os = require('os');
const { Worker, isMainThread, parentPort } = require('worker_threads');

const here = __dirname;
const schemaDir = path.join(here, 'schemas');
const pkgDir = path.join(here, 'node_modules', '@kusto', 'language-service-next');

// ---- options ----
const opts = {
  database: 'xdr',
  all: false,
  failuresOnly: false,
  counted: ['Error', 'Warning'],
  jobs: Math.min(os.cpus().length, 4),
  list: false,
};
for (const a of process.argv.slice(2)) {
  if (a === '--all') opts.all = true;
  else if (a === '--failures-only') opts.failuresOnly = true;
  else if (a === '--list') opts.list = true;
  else if (a.startsWith('--database=')) opts.database = a.slice('--database='.length);
  else if (a.startsWith('--severities=')) opts.counted = a.slice('--severities='.length).split(',');
  else if (a.startsWith('--jobs=')) opts.jobs = Math.max(1, parseInt(a.slice('--jobs='.length), 10) || 1);
  else {
    process.stderr.write(
      'usage: node validate.js [--database=xdr|sentinel] [--all] [--failures-only] ' +
        '[--severities=Error,Warning] [--jobs=N] [--list] < queries.jsonl\n',
    );
    process.exit(2);
  }
}

/// Diagnostics printed per query (all are counted in the summary); "more" tells the rest.
const MAX_SHOWN = 20;

// ---- schemas ----
const SCALAR = new Set(['string', 'int', 'long', 'real', 'bool', 'datetime', 'dynamic', 'timespan', 'guid', 'decimal']);

/// Every schema file: {name, kind: "table"|"function", databases, parameters?, columns}.
function readSchemas() {
  const schemas = [];
  for (const f of fs.readdirSync(schemaDir).sort()) {
    if (!f.endsWith('.json')) continue;
    const s = JSON.parse(fs.readFileSync(path.join(schemaDir, f), 'utf8'));
    if (!s.name || !Array.isArray(s.databases) || !s.columns) throw new Error(`${f}: needs name, databases, columns`);
    for (const [c, t] of Object.entries(s.columns)) {
      if (!SCALAR.has(t)) throw new Error(`${f}: column ${c} has unknown type ${t}`);
    }
    schemas.push(s);
  }
  return schemas;
}

function quoteName(n) {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(n) ? n : `['${n.replace(/'/g, "\\'")}']`;
}

// ---- the language service (loaded once per thread that validates) ----
let K = null;
let globals = null;

function requireInstalled() {
  if (!fs.existsSync(path.join(pkgDir, 'Kusto.Language.Bridge.min.js'))) {
    process.stderr.write(`error: ${pkgDir} is missing: run scripts/setup-kusto.sh (npm ci in tests/kusto)\n`);
    process.exit(2);
  }
}

function init(schemas) {
  // The package is a Bridge.NET build of Kusto.Language: it defines the globals `Bridge` and
  // `Kusto` instead of exporting a module.
  require(path.join(pkgDir, 'bridge.min.js'));
  require(path.join(pkgDir, 'Kusto.Language.Bridge.min.js'));
  K = global.Kusto.Language;
  const S = K.Symbols;
  const members = {};
  for (const s of schemas) {
    const schema = '(' + Object.entries(s.columns).map(([c, t]) => `${quoteName(c)}:${t}`).join(', ') + ')';
    // An ASIM parser is a function (with the parser's optional parameters) returning a table
    // with the schema's columns.
    const sym =
      s.kind === 'function'
        ? new S.FunctionSymbol.$ctor16(s.name, s.parameters || '()', `{ datatable${schema}[] }`, null)
        : new S.TableSymbol.$ctor7(s.name, schema, null);
    for (const db of s.databases) (members[db] = members[db] || []).push(sym);
  }
  globals = {};
  for (const [db, syms] of Object.entries(members)) {
    globals[db] = K.GlobalState.Default.WithDatabase(new S.DatabaseSymbol.$ctor1(db, syms, false));
  }
}

function items(l) {
  const out = [];
  for (let i = 0; l && i < l.Count; i++) out.push(l.getItem(i));
  return out;
}

/// Every diagnostic of one query, whatever its severity.
function validate(query, db) {
  const svc = new K.Editor.KustoCodeService.$ctor1(query, globals[db]);
  const found = [];
  for (const [source, diags] of [
    ['parser', svc.GetDiagnostics(true)],
    ['analyzer', svc.GetAnalyzerDiagnostics(true)],
  ]) {
    for (const d of items(diags)) {
      const start = d.HasLocation ? d.Start : 0;
      const length = d.HasLocation ? d.Length : 0;
      found.push({
        severity: d.Severity,
        code: d.Code,
        message: d.Message,
        start,
        length,
        text: query.substr(start, Math.min(length, 200)),
        source,
      });
    }
  }
  return found;
}

// ---- main: read every line, validate on worker threads, print in input order ----
if (!isMainThread) {
  init(readSchemas());
  parentPort.on('message', (batch) => {
    parentPort.postMessage(batch.map(([i, q, db]) => [i, validate(q, db)]));
  });
} else {
  main();
}

function main() {
  const schemas = readSchemas();
  const databases = new Set(schemas.flatMap((s) => s.databases));
  if (opts.list) {
    for (const s of schemas) {
      const n = Object.keys(s.columns).length;
      process.stdout.write(`${s.databases.join(',')}\t${s.kind || 'table'}\t${s.name}\t${n} columns\n`);
    }
    return;
  }
  const input = [];
  let bad = false;
  fs.readFileSync(0, 'utf8')
    .split('\n')
    .forEach((line, n) => {
      if (!line.trim()) return;
      let item;
      try {
        item = JSON.parse(line);
      } catch (e) {
        process.stderr.write(`error: stdin line ${n + 1} is not JSON: ${e.message}\n`);
        bad = true;
        return;
      }
      const db = item.database || opts.database;
      if (typeof item.query !== 'string' || !databases.has(db)) {
        process.stderr.write(
          `error: stdin line ${n + 1}: needs a string "query" and a database among ${[...databases].join(', ')}\n`,
        );
        bad = true;
        return;
      }
      input.push({ id: item.id, query: item.query, db });
    });
  if (bad) process.exit(2);
  requireInstalled();

  const results = new Array(input.length);
  const jobs = Math.max(1, Math.min(opts.jobs, Math.ceil(input.length / 100)));
  if (jobs === 1) {
    init(schemas);
    input.forEach((it, i) => (results[i] = validate(it.query, it.db)));
    report(input, results);
    return;
  }
  // Batches go to whichever worker is free; each worker loads the language service once.
  const batches = [];
  for (let i = 0; i < input.length; i += 25) {
    batches.push(input.slice(i, i + 25).map((it, k) => [i + k, it.query, it.db]));
  }
  let next = 0;
  let running = jobs;
  for (let w = 0; w < jobs; w++) {
    const worker = new Worker(__filename, { argv: process.argv.slice(2) });
    const feed = () => {
      if (next < batches.length) {
        worker.postMessage(batches[next++]);
      } else {
        worker.terminate();
        if (--running === 0) report(input, results);
      }
    };
    worker.on('message', (done) => {
      for (const [i, diags] of done) results[i] = diags;
      feed();
    });
    worker.on('error', (e) => {
      process.stderr.write(`error: worker failed: ${e.stack || e}\n`);
      process.exit(2);
    });
    feed();
  }
}

function report(input, results) {
  const out = [];
  let failed = 0;
  const kinds = new Map();
  input.forEach((it, i) => {
    const all = results[i];
    const counted = all.filter((d) => opts.counted.includes(d.severity));
    if (counted.length) {
      failed++;
      for (const k of new Set(counted.map(kind))) kinds.set(k, (kinds.get(k) || 0) + 1);
    }
    if (!opts.failuresOnly || counted.length) {
      const shown = opts.all ? all : counted;
      const line = { id: it.id, database: it.db, ok: counted.length === 0, diagnostics: shown.slice(0, MAX_SHOWN) };
      if (shown.length > MAX_SHOWN) line.more = shown.length - MAX_SHOWN;
      out.push(JSON.stringify(line));
    }
  });
  // process.stdout, not fs.writeSync: a pipe may take a long write in several parts.
  if (out.length) process.stdout.write(out.join('\n') + '\n');
  process.stderr.write(
    `kusto validate: ${input.length} queries, ${failed} with diagnostics (counted: ${opts.counted.join(', ')})\n`,
  );
  for (const [k, n] of [...kinds.entries()].sort((a, b) => b[1] - a[1])) {
    process.stderr.write(`  ${n} queries\t${k}\n`);
  }
  process.exitCode = failed ? 1 : 0;
}

/// A diagnostic's kind: severity, code and first message line, the quoted names left out.
function kind(d) {
  return `${d.severity} ${d.code}: ${d.message.split('\n')[0].replace(/'[^']*'/g, "'…'")}`;
}
