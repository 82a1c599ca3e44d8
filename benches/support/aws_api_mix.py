"""The Flight SQL bench's dashboard mix through the AWS API with boto3: CLIENTS threads, each a
boto3 client running QUERIES queries (StartQuery, DescribeQuery until done, every page of
GetQueryResults). Prints one JSON line: latencies' p50/p99/max in ms, queries/s, errors."""

import json
import os
import sys
import threading
import time

import boto3

url, eds = os.environ["AWS_URL"], os.environ["EDS"]
clients, per_client = int(os.environ["CLIENTS"]), int(os.environ["QUERIES"])
mix = [q.replace("{eds}", eds) for q in json.loads(os.environ["MIX"])]
latencies, errors, lock = [], [], threading.Lock()


def run(n):
    c = boto3.client("cloudtrail", endpoint_url=url, region_name="us-east-1")
    for i in range(per_client):
        sql = mix[(n + i) % len(mix)]
        t = time.perf_counter()
        try:
            qid = c.start_query(QueryStatement=sql)["QueryId"]
            while c.describe_query(QueryId=qid)["QueryStatus"] in ("QUEUED", "RUNNING"):
                time.sleep(0.002)
            rows, token = 0, None
            while True:
                page = c.get_query_results(QueryId=qid, **({"NextToken": token} if token else {}))
                rows += len(page["QueryResultRows"])
                token = page.get("NextToken")
                if not token:
                    break
            if rows == 0:
                raise RuntimeError(f"{sql}: no rows")
        except Exception as e:  # noqa: BLE001 - counted and reported
            with lock:
                errors.append(str(e))
            continue
        with lock:
            latencies.append(time.perf_counter() - t)


started = time.perf_counter()
threads = [threading.Thread(target=run, args=(n,)) for n in range(clients)]
for t in threads:
    t.start()
for t in threads:
    t.join()
wall = time.perf_counter() - started
latencies.sort()
p = lambda q: latencies[min(int(len(latencies) * q), len(latencies) - 1)] * 1e3 if latencies else float("nan")
print(json.dumps({"queries": len(latencies), "errors": len(errors), "first_error": errors[:1], "p50": p(0.5),
                  "p99": p(0.99), "max": p(1.0), "qps": len(latencies) / wall, "wall": wall}))
