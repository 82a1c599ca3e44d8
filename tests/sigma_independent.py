"""Independent reference for `traillake detect`: what Sigma rules select, by pySigma's SQLite
backend (pip install pysigma pysigma-backend-sqlite) over the same events in SQLite.

  sigma_independent.py events RULES_DIR OUT.json
      writes a trail file ({"Records": [...]}) of events made from the rules' own selections —
      for each rule, one event meeting all its selections, one per selection, and one per
      filter on top of the selections (which the rule must then not select) — so that most
      rules select something and the comparison is not empty-handed.
  sigma_independent.py select RULES_DIR EVENTS.json
      prints {"selected": {rule id: [eventID, ...]}, "unsupported": {file: reason}}.
"""
import ipaddress
import json
import pathlib
import random
import re
import sqlite3
import sys
import uuid

import yaml
from sigma.backends.sqlite import sqliteBackend
from sigma.collection import SigmaCollection

RNG = random.Random(20261207)


def rules(folder):
    for path in sorted(pathlib.Path(folder).glob("*.yml")):
        yield path, path.read_text()


def base_event(n):
    return {
        "eventVersion": "1.09",
        "userIdentity": {
            "type": "IAMUser",
            "principalId": "AIDAEXAMPLE",
            "arn": "arn:aws:iam::111122223333:user/alice",
            "accountId": "111122223333",
            "userName": "alice",
        },
        "eventTime": "2026-11-20T%02d:%02d:%02dZ" % (n // 3600 % 24, n // 60 % 60, n % 60),
        "eventSource": "s3.amazonaws.com",
        "eventName": "ListBuckets",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "198.51.100.7",
        "userAgent": "aws-cli/2.15.0",
        "requestParameters": None,
        "responseElements": None,
        "requestID": str(uuid.UUID(int=RNG.getrandbits(128))),
        "eventID": str(uuid.UUID(int=RNG.getrandbits(128), version=4)),
        "readOnly": False,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": "111122223333",
        "eventCategory": "Management",
    }


def plain(value):
    """A Sigma value with its wildcards filled in (escaped ones literal)."""
    if not isinstance(value, str):
        return value
    out, i = "", 0
    while i < len(value):
        c = value[i]
        if c == "\\" and i + 1 < len(value) and value[i + 1] in "*?\\":
            out += value[i + 1]
            i += 2
            continue
        out += "x" if c in "*?" else c
        i += 1
    return out


def set_path(event, path, value):
    parts = path.split(".")
    node = event
    for p in parts[:-1]:
        if not isinstance(node.get(p), dict):
            node[p] = {}
        node = node[p]
    if value is None:
        node.pop(parts[-1], None)
    else:
        node[parts[-1]] = value


def get_path(event, path):
    node = event
    for p in path.split("."):
        if not isinstance(node, dict) or p not in node:
            return None
        node = node[p]
    return node


def apply(event, selection):
    """Makes `event` meet a selection (the first alternative of a list of maps)."""
    if isinstance(selection, list):
        selection = next((s for s in selection if isinstance(s, dict)), {})
    if not isinstance(selection, dict):
        return
    refs = []
    for key, values in selection.items():
        field, *mods = key.split("|")
        values = values if isinstance(values, list) else [values]
        first = values[0] if values else None
        if "exists" in mods:
            set_path(event, field, "present" if first else None)
        elif "fieldref" in mods:
            refs.append((field, first))
        elif "re" in mods:
            continue
        elif "cidr" in mods:
            set_path(event, field, str(next(ipaddress.ip_network(first, strict=False).hosts(), "10.0.0.1")))
        elif any(m in mods for m in ("gt", "gte", "lt", "lte")):
            n = float(first)
            set_path(event, field, n + 1 if ("gt" in mods or "gte" in mods) else n - 1)
        elif "contains" in mods:
            text = " ".join(plain(v) for v in values) if "all" in mods else plain(first)
            if field in ("requestParameters", "responseElements", "additionalEventData"):
                set_path(event, field, {"detail": "a " + str(text) + " b"})
            else:
                set_path(event, field, "a " + str(text) + " b")
        elif "startswith" in mods:
            set_path(event, field, str(plain(first)) + "tail")
        elif "endswith" in mods:
            set_path(event, field, "head" + str(plain(first)))
        else:
            set_path(event, field, plain(first))
    for field, other in refs:
        set_path(event, field, get_path(event, other) or "same")


def make_events(folder):
    events = []
    for _, text in rules(folder):
        doc = yaml.safe_load(text)
        detection = {k: v for k, v in doc.get("detection", {}).items() if k not in ("condition", "timeframe")}
        selections = {k: v for k, v in detection.items() if not k.startswith("filter")}
        filters = {k: v for k, v in detection.items() if k.startswith("filter")}
        everything = base_event(len(events))
        for s in selections.values():
            apply(everything, s)
        events.append(everything)
        for s in selections.values():
            e = base_event(len(events))
            apply(e, s)
            events.append(e)
        for f in filters.values():
            e = json.loads(json.dumps(everything))
            e["eventID"] = base_event(len(events))["eventID"]
            apply(e, f)
            events.append(e)
    return events


def column_value(event, path):
    v = get_path(event, path)
    if isinstance(v, (dict, list)):
        return json.dumps(v, separators=(",", ":"))
    return v


def select(folder, events_file):
    events = json.load(open(events_file))["Records"]
    backend = sqliteBackend()
    queries, unsupported, fields = {}, {}, set()
    for path, text in rules(folder):
        doc = yaml.safe_load(text)
        try:
            converted = backend.convert(SigmaCollection.from_yaml(text))
        except Exception as e:  # pySigma says why it cannot
            unsupported[path.name] = str(e)
            continue
        queries[doc["id"]] = converted[0]
        for key in doc["detection"]:
            if key in ("condition", "timeframe"):
                continue
            body = doc["detection"][key]
            for m in body if isinstance(body, list) else [body]:
                if isinstance(m, dict):
                    for k, v in m.items():
                        fields.add(k.split("|")[0])
                        if "|fieldref" in k:
                            fields.add(v if isinstance(v, str) else v[0])
    columns = sorted(fields | {"eventID"})
    db = sqlite3.connect(":memory:")
    db.create_function("REGEXP", 2, lambda p, v: v is not None and re.search(p, str(v)) is not None)
    db.execute("CREATE TABLE logs (%s)" % ", ".join('"%s"' % c for c in columns))
    db.executemany(
        "INSERT INTO logs VALUES (%s)" % ", ".join("?" for _ in columns),
        [[column_value(e, c) for c in columns] for e in events],
    )
    selected = {}
    for rule_id, sql in queries.items():
        sql = sql.replace("SELECT * FROM logs", "SELECT eventID FROM logs", 1)
        selected[rule_id] = sorted(r[0] for r in db.execute(sql))
    json.dump({"selected": selected, "unsupported": unsupported}, sys.stdout)


if sys.argv[1] == "events":
    json.dump({"Records": make_events(sys.argv[2])}, open(sys.argv[3], "w"))
else:
    select(sys.argv[2], sys.argv[3])
