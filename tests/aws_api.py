"""The AWS CloudTrail API of `traillake serve --aws-api`, driven by the clients people install:
boto3 and the AWS CLI, pointed at it with endpoint_url / --endpoint-url and a configured key.
Run by tests/it/awsapi.rs with TRAILLAKE_AWS_URL, the key in AWS_ACCESS_KEY_ID /
AWS_SECRET_ACCESS_KEY, and EXPECTED_* figures computed with `traillake query`."""

import json
import os
import subprocess
import sys
import time

import boto3
import botocore

URL = os.environ["TRAILLAKE_AWS_URL"]
KEY, SECRET = os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"]
client = boto3.client("cloudtrail", endpoint_url=URL, region_name="us-east-1",
                      aws_access_key_id=KEY, aws_secret_access_key=SECRET)


def error_code(call):
    try:
        call()
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"]
    sys.exit(f"expected an error from {call}")


def wait(query_id):
    for _ in range(600):
        d = client.describe_query(QueryId=query_id)
        if d["QueryStatus"] not in ("QUEUED", "RUNNING"):
            return d
        time.sleep(0.05)
    sys.exit(f"query {query_id} did not finish")


# Event data stores, as AWS describes them; every answer carries a request id.
listing = client.list_event_data_stores()
assert len(listing["ResponseMetadata"]["RequestId"]) == 36, listing["ResponseMetadata"]
stores = {s["Name"]: s for s in listing["EventDataStores"]}
assert "demo" in stores, stores.keys()
demo = stores["demo"]
assert demo["Status"] == "ENABLED" and demo["EventDataStoreArn"].startswith("arn:aws:cloudtrail:"), demo
eds = demo["EventDataStoreArn"].split("/")[-1]
got = client.get_event_data_store(EventDataStore=demo["EventDataStoreArn"])
assert got["Name"] == "demo" and got["RetentionPeriod"] == demo["RetentionPeriod"], got
assert error_code(lambda: client.get_event_data_store(EventDataStore="00000000-0000-4000-8000-000000000000")) \
    == "EventDataStoreNotFoundException"

# A query: start, poll, page through every row; values and statistics as traillake gives them.
sql = f"SELECT eventName, count(*) AS n FROM {eds} GROUP BY eventName ORDER BY n DESC, eventName"
qid = client.start_query(QueryStatement=sql)["QueryId"]
described = wait(qid)
assert described["QueryStatus"] == "FINISHED", described
stats = described["QueryStatistics"]
assert stats["EventsScanned"] == int(os.environ["EXPECTED_EVENTS"]), stats
assert stats["BytesScanned"] > 0 and "CreationTime" in stats, stats
rows, token, pages = [], None, 0
while True:
    kwargs = {"QueryId": qid, "MaxQueryResults": 7}
    if token:
        kwargs["NextToken"] = token
    page = client.get_query_results(**kwargs)
    pages += 1
    rows += page["QueryResultRows"]
    token = page.get("NextToken")
    if not token:
        break
assert page["QueryStatistics"]["TotalResultsCount"] == len(rows), page["QueryStatistics"]
expected = json.loads(os.environ["EXPECTED_BY_EVENT_NAME"])
flat = [{k: v for cell in row for k, v in cell.items()} for row in rows]
assert flat == [{"eventname": r["eventname"], "n": str(r["n"])} for r in expected], (flat[:3], expected[:3])
assert pages == (len(expected) + 6) // 7, pages
assert all(len(cell) == 1 for row in rows for cell in row), "each cell a single-key map"

# QueryParameters bound to the statement's `?`, as strings.
pq = wait(client.start_query(QueryStatement=f"SELECT count(*) AS n FROM {eds} WHERE eventName = ?",
                             QueryParameters=["ConsoleLogin"])["QueryId"])
got = client.get_query_results(QueryId=pq["QueryId"])["QueryResultRows"]
assert got == [[{"n": os.environ["EXPECTED_CONSOLE_LOGINS"]}]], got

# Listed under its store; a statement that cannot run comes back at once with AWS's code.
listed = client.list_queries(EventDataStore=eds)["Queries"]
assert any(q["QueryId"] == qid and q["QueryStatus"] == "FINISHED" for q in listed), listed
assert error_code(lambda: client.start_query(QueryStatement=f"SELECT nope FROM {eds}")) == "InvalidQueryStatementException"
assert error_code(lambda: client.start_query(QueryStatement=f"DELETE FROM {eds}")) == "InvalidQueryStatementException"
assert error_code(lambda: client.describe_query(QueryId="0c9e0a8e-0000-4000-8000-000000000000")) == "QueryIdNotFoundException"

# Cancel a long query.
long_sql = f"SELECT a.eventID, b.eventID, c.eventID FROM {eds} a CROSS JOIN {eds} b CROSS JOIN {eds} c"
long_id = client.start_query(QueryStatement=long_sql)["QueryId"]
time.sleep(0.3)
assert client.cancel_query(QueryId=long_id)["QueryStatus"] == "CANCELLED"
assert client.describe_query(QueryId=long_id)["QueryStatus"] == "CANCELLED"
assert error_code(lambda: client.cancel_query(QueryId=long_id)) == "InactiveQueryException"

# Authentication: a wrong secret, an unknown key, and an operation not served.
wrong = boto3.client("cloudtrail", endpoint_url=URL, region_name="us-east-1",
                     aws_access_key_id=KEY, aws_secret_access_key=SECRET + "x")
assert error_code(wrong.list_event_data_stores) == "InvalidSignatureException"
stranger = boto3.client("cloudtrail", endpoint_url=URL, region_name="eu-west-1",
                        aws_access_key_id="AKIAUNKNOWNKEY000000", aws_secret_access_key=SECRET)
assert error_code(stranger.list_event_data_stores) == "UnrecognizedClientException"
assert error_code(lambda: client.describe_trails()) == "UnknownOperationException"

# Event history: each attribute, over the store lookup would choose, newest first, paged.
from datetime import datetime, timezone
window = dict(StartTime=datetime(2026, 11, 1, tzinfo=timezone.utc), EndTime=datetime(2026, 11, 16, tzinfo=timezone.utc))
some_id = client.lookup_events(MaxResults=1, **window)["Events"][0]["EventId"]
for key, value, check in [
    ("EventId", some_id, lambda e: e["EventId"] == some_id),
    ("EventName", "ConsoleLogin", lambda e: e["EventName"] == "ConsoleLogin"),
    ("ReadOnly", "false", lambda e: e["ReadOnly"] == "false"),
    ("Username", "mallory", lambda e: e["Username"] == "mallory"),
    ("ResourceType", "AWS::S3::Bucket", lambda e: any(r["ResourceType"] == "AWS::S3::Bucket" for r in e["Resources"])),
    ("ResourceName", "prod-customer-data", lambda e: any("prod-customer-data" in r["ResourceName"] for r in e["Resources"])),
    ("EventSource", "iam.amazonaws.com", lambda e: e["EventSource"] == "iam.amazonaws.com"),
    ("AccessKeyId", "AKIAEXAMPLEBACKUPKEY", lambda e: e.get("AccessKeyId") == "AKIAEXAMPLEBACKUPKEY"),
]:
    events = client.lookup_events(LookupAttributes=[{"AttributeKey": key, "AttributeValue": value}], **window)["Events"]
    assert events and all(check(e) for e in events), (key, events[:1])
    assert json.loads(events[0]["CloudTrailEvent"])["eventID"] == events[0]["EventId"]
    times = [e["EventTime"] for e in events]
    assert times == sorted(times, reverse=True), key
paged = [e["EventId"] for page in client.get_paginator("lookup_events").paginate(
    LookupAttributes=[{"AttributeKey": "Username", "AttributeValue": "mallory"}], PaginationConfig={"PageSize": 7}, **window)
    for e in page["Events"]]
assert len(paged) == len(set(paged)) == int(os.environ["EXPECTED_MALLORY_EVENTS"]), len(paged)

# Event data stores through the API: the eds commands' rules, AWS's error codes.
made = client.create_event_data_store(Name="api-made", RetentionPeriod=90, TerminationProtectionEnabled=True)
assert made["Status"] == "ENABLED" and made["RetentionPeriod"] == 90, made
assert error_code(lambda: client.create_event_data_store(Name="api-made")) == "EventDataStoreAlreadyExistsException"
assert error_code(lambda: client.delete_event_data_store(EventDataStore=made["EventDataStoreArn"])) \
    == "EventDataStoreTerminationProtectedException"
client.update_event_data_store(EventDataStore=made["EventDataStoreArn"], TerminationProtectionEnabled=False, RetentionPeriod=30)
client.stop_event_data_store_ingestion(EventDataStore=made["EventDataStoreArn"])
assert client.get_event_data_store(EventDataStore=made["EventDataStoreArn"])["Status"] == "STOPPED_INGESTION"
assert error_code(lambda: client.stop_event_data_store_ingestion(EventDataStore=made["EventDataStoreArn"])) \
    == "InvalidEventDataStoreStatusException"
client.start_event_data_store_ingestion(EventDataStore=made["EventDataStoreArn"])
client.delete_event_data_store(EventDataStore=made["EventDataStoreArn"])
assert client.get_event_data_store(EventDataStore=made["EventDataStoreArn"])["Status"] == "PENDING_DELETION"
assert client.restore_event_data_store(EventDataStore=made["EventDataStoreArn"])["Status"] == "ENABLED"
config = client.create_event_data_store(Name="api-config", AdvancedEventSelectors=[
    {"Name": "config", "FieldSelectors": [{"Field": "eventCategory", "Equals": ["ConfigurationItem"]}]}])
assert config["AdvancedEventSelectors"][0]["FieldSelectors"][0]["Equals"] == ["ConfigurationItem"], config

# Events from outside AWS: a channel into a store of that kind, PutAuditEvents, queried back.
okta = client.create_event_data_store(Name="api-okta", AdvancedEventSelectors=[
    {"Name": "outside", "FieldSelectors": [{"Field": "eventCategory", "Equals": ["ActivityAuditLog"]}]}])
channel = client.create_channel(Name="okta-channel", Source="Custom",
                                Destinations=[{"Type": "EVENT_DATA_STORE", "Location": okta["EventDataStoreArn"]}])
assert client.get_channel(Channel=channel["ChannelArn"])["Name"] == "okta-channel"
assert [c["Name"] for c in client.list_channels()["Channels"]] == ["okta-channel"]
data = boto3.client("cloudtrail-data", endpoint_url=URL, region_name="us-east-1",
                    aws_access_key_id=KEY, aws_secret_access_key=SECRET)
import hashlib, base64
def entry(i, **over):
    event = {"version": "1.0", "userIdentity": {"type": "User", "principalId": f"user{i}"}, "eventSource": "okta.com",
             "eventName": "user.session.start", "eventTime": "2026-11-15T02:07:00Z", "UID": f"uid-{i}",
             "recipientAccountId": "222222222222", "sourceIPAddress": "203.0.113.50"}
    event.update(over)
    text = json.dumps(event)
    return {"id": f"e-{i}", "eventData": text, "eventDataChecksum": base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()}
bad_sum = dict(entry(3), eventDataChecksum="AAAA")
result = data.put_audit_events(channelArn=channel["ChannelArn"], auditEvents=[entry(1), entry(2), bad_sum, entry(4, UID=None)])
assert [s["id"] for s in result["successful"]] == ["e-1", "e-2"], result
assert sorted((f["id"], f["errorCode"]) for f in result["failed"]) == [("e-3", "InvalidChecksum"), ("e-4", "FieldNotFound")], result
assert error_code(lambda: data.put_audit_events(channelArn=channel["ChannelArn"], auditEvents=[entry(5), entry(5)])) \
    == "DuplicatedAuditEventIdException"
okta_id = okta["EventDataStoreArn"].split("/")[-1]
back = wait(client.start_query(QueryStatement=f"SELECT eventData.userIdentity.principalId AS who, metadata.channelArn AS channel FROM {okta_id} ORDER BY who")["QueryId"])
rows = client.get_query_results(QueryId=back["QueryId"])["QueryResultRows"]
assert [{k: v for c in r for k, v in c.items()} for r in rows] == [
    {"who": "user1", "channel": channel["ChannelArn"]}, {"who": "user2", "channel": channel["ChannelArn"]}], rows
# Sent again: nothing stored twice.
data.put_audit_events(channelArn=channel["ChannelArn"], auditEvents=[entry(1)])
again = wait(client.start_query(QueryStatement=f"SELECT count(*) AS n FROM {okta_id}")["QueryId"])
assert client.get_query_results(QueryId=again["QueryId"])["QueryResultRows"] == [[{"n": "2"}]]
client.delete_channel(Channel=channel["ChannelArn"])
assert error_code(lambda: client.get_channel(Channel=channel["ChannelArn"])) == "ChannelNotFoundException"

# Sample queries: the investigation library.
found = client.search_sample_queries(SearchPhrase="console sign-ins without MFA")["SearchResults"]
assert found and found[0]["Name"] == "console-logins-without-mfa", [f["Name"] for f in found]

# The AWS CLI, with a published Lake query (aws-samples top-errors.sql, the time range filled in).
published = (
    f"SELECT errorCode, errorMessage, COUNT(*) as eventCount FROM {eds} "
    "WHERE eventTime > '2026-11-01 00:00:00' AND eventTime < '2026-11-16 00:00:00' "
    "AND (errorCode is not null or errorMessage is not null) "
    "GROUP BY errorCode, errorMessage ORDER BY eventCount DESC LIMIT 10"
)
env = dict(os.environ, AWS_DEFAULT_REGION="us-east-1", AWS_PAGER="")


def aws(*args):
    out = subprocess.run(["aws", "cloudtrail", *args, "--endpoint-url", URL, "--output", "json"],
                         capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


cli_id = aws("start-query", "--query-statement", published)["QueryId"]
for _ in range(600):
    if aws("describe-query", "--query-id", cli_id)["QueryStatus"] not in ("QUEUED", "RUNNING"):
        break
    time.sleep(0.05)
cli_rows = aws("get-query-results", "--query-id", cli_id)["QueryResultRows"]
cli_flat = [{k: v for cell in row for k, v in cell.items()} for row in cli_rows]
expected = json.loads(os.environ["EXPECTED_TOP_ERRORS"])
want = [{k: str(v) for k, v in r.items() if v is not None} for r in expected]
# Rows tied on eventCount may come in any order, and LIMIT may cut a tie anywhere: the counts
# agree in order, and the rows above the last count agree exactly.
assert [r["eventCount"] for r in cli_flat] == [r["eventCount"] for r in want], (cli_flat, want)
last = want[-1]["eventCount"]
assert [r for r in cli_flat if r["eventCount"] != last] == [r for r in want if r["eventCount"] != last]
assert len(cli_flat) == 10
print("AWS API OK")
