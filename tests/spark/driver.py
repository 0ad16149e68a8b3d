"""Runs sigc's Spark SQL on a local Spark for tests/spark_engine.rs (one Spark session per
call; local Spark pays ~15 s to start, so each call does a whole batch).

  driver.py analyse QUERIES EVENTS OUT    every query analysed (EXPLAIN); OUT: JSON lines
                                          {"key", "error"} for the queries Spark rejects
  driver.py select QUERIES EVENTS OUT     every per-rule SELECT run over EVENTS, batched as
                                          UNION ALL of the queries as written; OUT: JSON lines
                                          {"key", "source", "index"} per match
  driver.py sql SQL EVENTS OUT            one query over EVENTS as `dataTable`; OUT: its rows
  driver.py correlate QUERIES - OUT       each correlation query over its own events file
                                          (QUERIES lines {"key", "query", "events"}, plain
                                          JSON lines); OUT: {"key", "ms", "row"} per row, `ms`
                                          the row's `sigc_time` in epoch milliseconds

QUERIES: JSON lines {"key", "query"}. EVENTS: JSON lines as `sigc eval --fields` writes them,
read once and cached; each query reads its own view of them, narrowed to the columns it names
(`narrow`), with the columns they lack added as NULL.
"""
import concurrent.futures
import json
import re
import sys

from pyspark.sql import SparkSession, functions as F

IDENT = re.compile(r"`((?:[^`]|``)+)`")
TABLE = re.compile(r"\bFROM\s+`((?:[^`]|``)+)`")
# String literals as sigc writes them: a value may hold a backtick (PowerShell's escape).
LITERAL = re.compile(r"'(?:[^'\\]|\\.)*'")


def names(query):
    """The tables and the other identifiers the query names, outside its string literals."""
    code = LITERAL.sub("''", query)
    tables = {m.replace("``", "`") for m in TABLE.findall(code)} | {"dataTable"}
    return tables, {m.replace("``", "`") for m in IDENT.findall(code)} - tables


def spark():
    s = (
        SparkSession.builder.master("local[2]")
        .appName("sigc-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.caseSensitive", "true")
        .config("spark.sql.shuffle.partitions", "2")
        .getOrCreate()
    )
    s.sparkContext.setLogLevel("ERROR")
    return s


def events(s, path):
    """The events, cached once, with the columns they have (JSON null and missing alike)."""
    df = s.read.option("primitivesAsString", "true").json(path).cache()
    df.count()
    return df


def narrow(df, query, name):
    """`query` rewritten to read the view `name`: the events with only the columns the query
    names, those the events lack added as NULL strings. A view as wide as every column the
    corpus names (thousands, mostly NULL) makes Spark's planning of each query slow and, for a
    union of many queries, exhausts the driver's memory; the query's meaning is unchanged."""
    present = set(df.columns)
    tables, named = names(query)
    named |= {"sigc_source", "sigc_index"} & present
    cols = [F.col(quote(c)) if c in present else F.lit(None).cast("string").alias(c) for c in sorted(named)]
    df.select(*cols).createOrReplaceTempView(name)
    for t in tables:
        query = query.replace("FROM " + quote(t), "FROM " + quote(name))
    return query


def quote(name):
    return "`" + name.replace("`", "``") + "`"


def literal(s):
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


def read_queries(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def analyse(s, queries, events_path, out):
    df = events(s, events_path)

    def explain(iq):
        i, q = iq
        try:
            plan = s.sql("EXPLAIN " + narrow(df, q["query"], "sigc_q%d" % i)).collect()[0][0]
            if "Error occurred during query planning" in plan or "AnalysisException" in plan:
                return {"key": q["key"], "error": plan}
        except Exception as e:  # noqa: BLE001 - every failure is reported with its query
            return {"key": q["key"], "error": str(e)[:2000]}
        return None

    # Two threads: the session is thread-safe, and planning one query keeps one core busy.
    with concurrent.futures.ThreadPoolExecutor(2) as pool, open(out, "w", encoding="utf-8") as o:
        for r in pool.map(explain, enumerate(queries)):
            if r is not None:
                o.write(json.dumps(r) + "\n")


def select(s, queries, events_path, out, batch=50):
    # Compiling each batch's generated code costs more than running it over a small table (and
    # some predicates exceed what Janino compiles): interpreted, the step is about 1.5x faster.
    s.conf.set("spark.sql.codegen.wholeStage", "false")
    df = events(s, events_path)
    with open(out, "w", encoding="utf-8") as o:
        for i in range(0, len(queries), batch):
            part = enumerate(queries[i : i + batch], i)
            union = "\nUNION ALL\n".join(
                "SELECT %s AS sigc_rule, sigc_source, sigc_index FROM (\n%s\n)"
                % (literal(q["key"]), narrow(df, q["query"], "sigc_q%d" % j))
                for j, q in part
            )
            for row in s.sql(union).collect():
                o.write(json.dumps({"key": row[0], "source": row[1], "index": int(row[2])}) + "\n")


def sql(s, query, events_path, out):
    # Whole: the playbook's own SQL names its columns without backticks.
    df = events(s, events_path)
    tables, named = names(query)
    for c in sorted(named - set(df.columns)):
        df = df.withColumn(c, F.lit(None).cast("string"))
    for t in tables:
        df.createOrReplaceTempView(t)
    rows = s.sql(query).collect()
    with open(out, "w", encoding="utf-8") as o:
        for row in rows:
            o.write(json.dumps(row.asDict(), sort_keys=True, default=str) + "\n")


def correlate(s, queries, out):
    with open(out, "w", encoding="utf-8") as o:
        for i, q in enumerate(queries):
            df = s.read.option("primitivesAsString", "true").json(q["events"])
            query = narrow(df, q["query"], "sigc_c%d" % i)
            rows = s.sql("SELECT unix_millis(sigc_time) AS sigc_ms, * FROM (\n%s\n)" % query).collect()
            for row in rows:
                d = row.asDict()
                ms = d.pop("sigc_ms")
                o.write(json.dumps({"key": q["key"], "ms": ms, "row": d}, sort_keys=True, default=str) + "\n")


def main():
    cmd, a, events_path, out = sys.argv[1:5]
    s = spark()
    if cmd == "analyse":
        analyse(s, read_queries(a), events_path, out)
    elif cmd == "select":
        select(s, read_queries(a), events_path, out)
    elif cmd == "correlate":
        correlate(s, read_queries(a), out)
    elif cmd == "sql":
        with open(a, encoding="utf-8") as f:
            sql(s, f.read(), events_path, out)
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
