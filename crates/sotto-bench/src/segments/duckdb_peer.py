"""The DuckDB side of the segment benchmark: load the generated CSV files, run each segment's
SQL, and write each member set (sorted patient numbers) next to the timings."""
import json
import sys
import time

import duckdb

data_dir, now = sys.argv[1], int(sys.argv[2])
queries = json.load(open(f"{data_dir}/queries.json"))
con = duckdb.connect()
con.execute("SET threads TO 1")
t0 = time.perf_counter()
con.execute(f"CREATE TABLE patients AS SELECT * FROM read_csv('{data_dir}/patients.csv', header=true, columns={{'id': 'INTEGER', 'status': 'VARCHAR', 'preferred_channel': 'VARCHAR', 'membership_tier': 'VARCHAR'}})")
con.execute(f"CREATE TABLE conditions AS SELECT * FROM read_csv('{data_dir}/conditions.csv', header=true, columns={{'pid': 'INTEGER', 'code': 'VARCHAR'}})")
con.execute(f"CREATE TABLE events AS SELECT * FROM read_csv('{data_dir}/events.csv', header=true, columns={{'pid': 'INTEGER', 'event': 'VARCHAR', 'ts': 'BIGINT', 'appointment_type': 'VARCHAR'}})")
load = time.perf_counter() - t0
results = {"load_seconds": load, "segments": []}
for q in queries:
    sql = q["sql"].replace("$NOW", str(now))
    best = None
    for _ in range(3):
        t = time.perf_counter()
        rows = con.execute(sql).fetchall()
        elapsed = time.perf_counter() - t
        best = elapsed if best is None else min(best, elapsed)
    members = sorted(r[0] for r in rows)
    with open(f"{data_dir}/duckdb-{q['name']}.txt", "w") as f:
        f.write("\n".join(map(str, members)))
    results["segments"].append({"name": q["name"], "seconds": best, "count": len(members)})
print(json.dumps(results))
