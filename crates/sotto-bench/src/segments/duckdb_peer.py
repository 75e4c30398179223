"""The DuckDB side of the segment benchmark, loaded as a database engineer would: typed
columns (ENUM for every low-cardinality string), events sorted by patient and time, every
core. Each segment is timed from the query to its member ids in memory (a NumPy array, not
Python tuples), best of three; the member sets are written next to the timings.

Usage: duckdb_peer.py DATA_DIR NOW_SECONDS
"""
import json
import os
import sys
import time

import duckdb


def rss_mib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


data_dir, now = sys.argv[1], int(sys.argv[2])
queries = json.load(open(f"{data_dir}/queries.json"))
threads = os.cpu_count() or 1
before = rss_mib()
con = duckdb.connect()
con.execute(f"SET threads TO {threads}")
t0 = time.perf_counter()
con.execute("CREATE TYPE status_t AS ENUM ('active', 'inactive', 'archived')")
con.execute("CREATE TYPE channel_t AS ENUM ('sms', 'email', 'push')")
con.execute("CREATE TYPE tier_t AS ENUM ('standard', 'silver', 'gold')")
con.execute("CREATE TYPE event_t AS ENUM ('annual_checkup', 'appointment_booked', 'app_opened')")
appt = ", ".join(f"'appt_type:{i}'" for i in range(1, 13))
con.execute(f"CREATE TYPE appt_t AS ENUM ({appt})")
con.execute(
    "CREATE TABLE patients AS SELECT id, status::status_t AS status, preferred_channel::channel_t AS preferred_channel, "
    f"membership_tier::tier_t AS membership_tier FROM read_csv('{data_dir}/patients.csv', header=true, "
    "columns={'id': 'INTEGER', 'status': 'VARCHAR', 'preferred_channel': 'VARCHAR', 'membership_tier': 'VARCHAR'}) ORDER BY id"
)
con.execute(
    f"CREATE TABLE conditions AS SELECT pid, code FROM read_csv('{data_dir}/conditions.csv', header=true, "
    "columns={'pid': 'INTEGER', 'code': 'VARCHAR'}) ORDER BY pid"
)
con.execute(
    "CREATE TABLE events AS SELECT pid, event::event_t AS event, ts, NULLIF(appointment_type, '')::appt_t AS appointment_type "
    f"FROM read_csv('{data_dir}/events.csv', header=true, columns={{'pid': 'INTEGER', 'event': 'VARCHAR', 'ts': 'BIGINT', "
    "'appointment_type': 'VARCHAR'}) ORDER BY pid, ts"
)
load = time.perf_counter() - t0
results = {"load_seconds": load, "threads": threads, "rss_mib": rss_mib() - before, "segments": []}
for q in queries:
    sql = q["sql"].replace("$NOW", str(now))
    best = None
    ids = None
    for _ in range(3):
        t = time.perf_counter()
        ids = con.execute(sql).fetchnumpy()["id"]
        elapsed = time.perf_counter() - t
        best = elapsed if best is None else min(best, elapsed)
    members = sorted(int(i) for i in ids)
    with open(f"{data_dir}/duckdb-{q['name']}.txt", "w") as f:
        f.write("\n".join(map(str, members)))
    results["segments"].append({"name": q["name"], "seconds": best, "count": len(members)})
print(json.dumps(results))
