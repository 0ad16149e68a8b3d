"""Runs sigc's Spark SQL on a local Spark for tests/spark_engine.rs (one Spark session per
call; local Spark pays ~15 s to start, so each call does a whole batch).

  driver.py analyse QUERIES EVENTS OUT    every query analysed (EXPLAIN); OUT: JSON lines
                                          {"key", "error"} for the queries Spark rejects
  driver.py select QUERIES EVENTS OUT     every per-rule SELECT run over EVENTS, batched as
                                          UNION ALL of the queries as written; OUT: JSON lines
                                          {"key", "source", "index"} per match
  driver.py sql SQL EVENTS OUT            one query over EVENTS as `dataTable`; OUT: its rows

QUERIES: JSON lines {"key", "query"}. EVENTS: JSON lines as `sigc eval --fields` writes them;
every table a query names is a view of them, with the columns they lack added as NULL.
"""
import concurrent.futures
import json
import re
import sys

from pyspark.sql import SparkSession, functions as F

IDENT = re.compile(r"`((?:[^`]|``)+)`")
TABLE = re.compile(r"\bFROM\s+`((?:[^`]|``)+)`")


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


def events(s, path, queries, name="events"):
    df = s.read.option("primitivesAsString", "true").json(path)
    present = set(df.columns)
    wanted = set()
    tables = {"dataTable"}
    for q in queries:
        wanted.update(m.replace("``", "`") for m in IDENT.findall(q))
        tables.update(m.replace("``", "`") for m in TABLE.findall(q))
    for c in sorted(wanted - present - tables):
        df = df.withColumn(c, F.lit(None).cast("string"))
    df = df.cache()
    df.count()
    for t in sorted(tables):
        df.createOrReplaceTempView(t)
    return df


def literal(s):
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


def read_queries(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def analyse(s, queries, events_path, out):
    events(s, events_path, [q["query"] for q in queries])

    def explain(q):
        try:
            plan = s.sql("EXPLAIN " + q["query"]).collect()[0][0]
            if "Error occurred during query planning" in plan or "AnalysisException" in plan:
                return {"key": q["key"], "error": plan}
        except Exception as e:  # noqa: BLE001 - every failure is reported with its query
            return {"key": q["key"], "error": str(e)[:2000]}
        return None

    # Two threads: the session is thread-safe, and planning one query keeps one core busy.
    with concurrent.futures.ThreadPoolExecutor(2) as pool, open(out, "w", encoding="utf-8") as o:
        for r in pool.map(explain, queries):
            if r is not None:
                o.write(json.dumps(r) + "\n")


def select(s, queries, events_path, out, batch=50):
    events(s, events_path, [q["query"] for q in queries])
    with open(out, "w", encoding="utf-8") as o:
        for i in range(0, len(queries), batch):
            part = queries[i : i + batch]
            union = "\nUNION ALL\n".join(
                "SELECT %s AS sigc_rule, sigc_source, sigc_index FROM (\n%s\n)" % (literal(q["key"]), q["query"])
                for q in part
            )
            for row in s.sql(union).collect():
                o.write(json.dumps({"key": row[0], "source": row[1], "index": int(row[2])}) + "\n")


def sql(s, query, events_path, out):
    events(s, events_path, [query])
    rows = s.sql(query).collect()
    with open(out, "w", encoding="utf-8") as o:
        for row in rows:
            o.write(json.dumps(row.asDict(), sort_keys=True, default=str) + "\n")


def main():
    cmd, a, events_path, out = sys.argv[1:5]
    s = spark()
    if cmd == "analyse":
        analyse(s, read_queries(a), events_path, out)
    elif cmd == "select":
        select(s, read_queries(a), events_path, out)
    elif cmd == "sql":
        with open(a, encoding="utf-8") as f:
            sql(s, f.read(), events_path, out)
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
