"""Independent evaluator for `ingest --rules`: which (rule, eventID) pairs EventBridge would
alert on, by moto's implementation of EventBridge event patterns (moto.events.models), over the
trail files themselves (not our store).

usage: python3 eventbridge_independent.py RULES.json TRAIL_DIR   -> JSON [[rule, eventID], ...]
"""
import gzip
import json
import pathlib
import sys

from moto.events.models import EventPattern

DETAIL_TYPES = {
    "AwsConsoleSignIn": "AWS Console Sign In via CloudTrail",
    "AwsServiceEvent": "AWS Service Event via CloudTrail",
    "AwsCloudTrailInsight": "AWS Insight via CloudTrail",
}


def envelope(record):
    """A CloudTrail record as EventBridge delivers it (AWS's documented event shape)."""
    source = record.get("eventSource", "")
    if source.endswith(".amazonaws.com"):
        source = source[: -len(".amazonaws.com")]
    return {
        "version": "0",
        "id": record.get("eventID"),
        "detail-type": DETAIL_TYPES.get(record.get("eventType"), "AWS API Call via CloudTrail"),
        "source": "aws." + source,
        "account": record.get("recipientAccountId"),
        "time": record.get("eventTime"),
        "region": record.get("awsRegion"),
        "resources": [],
        "detail": record,
    }


def records(root):
    for path in sorted(pathlib.Path(root).rglob("*")):
        if "/CloudTrail/" not in str(path) or not path.is_file():
            continue
        opener = gzip.open if path.name.endswith(".gz") else open
        with opener(path, "rt") as f:
            yield from json.load(f)["Records"]


def main():
    rules = json.load(open(sys.argv[1]))
    patterns = []
    for r in rules:
        p = r["EventPattern"]
        patterns.append((r["Name"], EventPattern.load(p if isinstance(p, str) else json.dumps(p))))
    seen = set()
    out = []
    for rec in records(sys.argv[2]):
        if rec["eventID"] in seen:
            continue
        seen.add(rec["eventID"])
        event = envelope(rec)
        for name, pattern in patterns:
            if pattern.matches_event(event):
                out.append([name, rec["eventID"]])
    json.dump(out, sys.stdout)


main()
