"""End-to-end check of `traillake serve` with the clients BI users install: the Python ADBC
Flight SQL driver, and flightsql-dbapi's SQLAlchemy dialect (`datafusion://`, what Superset uses).

Run by tests/it/flight.rs with TRAILLAKE_URL, TRAILLAKE_USER, TRAILLAKE_PASSWORD and
EXPECTED_CONSOLE_LOGINS set; prints "ADBC OK" when every check passed. With TRAILLAKE_LOGIN_ONLY
set, only logging in (right and wrong password) and one query are checked: the test runs that
for credentials of every length mod 3, since base64 padding differs between them.
"""
import os
import sys

import adbc_driver_flightsql.dbapi as flightsql
import adbc_driver_manager
import pyarrow as pa

url = os.environ["TRAILLAKE_URL"]
user = os.environ["TRAILLAKE_USER"]
password = os.environ["TRAILLAKE_PASSWORD"]
expected = int(os.environ["EXPECTED_CONSOLE_LOGINS"])


def connect(pw):
    return flightsql.connect(url, db_kwargs={"username": user, "password": pw})


# Wrong password is refused.
try:
    with connect("wrong") as bad:
        with bad.cursor() as cur:
            cur.execute("SELECT 1")
            cur.fetchall()
    sys.exit("a wrong password was accepted")
except adbc_driver_manager.Error as e:
    assert "UNAUTHENTICATED" in str(e).upper() or "password" in str(e), e

if os.environ.get("TRAILLAKE_LOGIN_ONLY"):
    with connect(password) as conn:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) AS n FROM demo WHERE eventName = 'ConsoleLogin'")
            assert cur.fetchone()[0] == expected
    print("ADBC OK")
    sys.exit(0)

with connect(password) as conn:
    with conn.cursor() as cur:
        # A plain query (plain column references are named by their stored, lower-case names).
        cur.execute("SELECT eventName, count(*) AS n FROM demo GROUP BY eventName ORDER BY n DESC")
        table = cur.fetch_arrow_table()
        assert table.num_rows > 5, table
        counts = dict(zip(table.column("eventname").to_pylist(), table.column("n").to_pylist()))
        assert counts["ConsoleLogin"] == expected, (counts, expected)

        # A prepared statement with a parameter, executed twice with different values.
        cur.execute("SELECT count(*) AS n FROM demo WHERE eventName = ?", parameters=("ConsoleLogin",))
        assert cur.fetchone()[0] == expected
        cur.execute("SELECT count(*) AS n FROM demo WHERE eventName = ?", parameters=("NoSuchEvent",))
        assert cur.fetchone()[0] == 0

        # Nested columns: struct, map and list arrive with their shape.
        cur.execute("SELECT userIdentity, requestParameters, resources FROM demo WHERE resources IS NOT NULL LIMIT 5")
        nested = cur.fetch_arrow_table()
        assert pa.types.is_struct(nested.schema.field("useridentity").type), nested.schema
        assert pa.types.is_map(nested.schema.field("requestparameters").type), nested.schema
        assert pa.types.is_list(nested.schema.field("resources").type), nested.schema
        assert nested.num_rows == 5
        identity = nested.column("useridentity").to_pylist()[0]
        assert "arn" in identity and "sessioncontext" in identity, identity

    # Metadata: objects and table schema.
    objects = conn.adbc_get_objects(depth="all").read_all().to_pylist()
    catalogs = {c["catalog_name"]: c for c in objects}
    assert "traillake" in catalogs, catalogs.keys()
    schemas = {s["db_schema_name"]: s for s in catalogs["traillake"]["catalog_db_schemas"]}
    tables = {t["table_name"]: t for t in schemas["default"]["db_schema_tables"]}
    assert tables["demo"]["table_type"] == "BASE TABLE", tables["demo"]
    # Each store is listed once, by name: no UUIDs for a BI user to choose from.
    assert sorted(tables) == ["demo", "demo-config", "demo-insights", "demo-okta"], list(tables)
    columns = [c["column_name"] for c in tables["demo"]["table_columns"]]
    assert "eventtime" in columns and "useridentity" in columns, columns
    # Each store with its own kind's schema.
    columns = [c["column_name"] for c in tables["demo-insights"]["table_columns"]]
    assert "insightcontext" in columns and "useridentity" not in columns, columns
    insights = conn.adbc_get_table_schema("demo-insights", catalog_filter="traillake", db_schema_filter="default")
    assert pa.types.is_struct(insights.field("insightcontext").type), insights
    schema = conn.adbc_get_table_schema("demo", catalog_filter="traillake", db_schema_filter="default")
    assert schema.field("useridentity") is not None
    assert conn.adbc_get_info()["vendor_name"] == "traillake"

    # Writes are refused with a clear message.
    with conn.cursor() as cur:
        try:
            cur.execute("DELETE FROM demo")
            sys.exit("a DELETE was accepted")
        except adbc_driver_manager.Error as e:
            assert "read-only" in str(e) or "SELECT" in str(e), e

# Superset's path: flightsql-dbapi registers the SQLAlchemy dialect `datafusion://`.
import sqlalchemy
from urllib.parse import quote, urlsplit

where = urlsplit(url)
engine = sqlalchemy.create_engine(
    f"datafusion://{quote(user)}:{quote(password, safe='')}@{where.hostname}:{where.port}?insecure=true"
)
inspector = sqlalchemy.inspect(engine)
assert "default" in inspector.get_schema_names(), inspector.get_schema_names()
assert sorted(inspector.get_table_names(schema="default")) == ["demo", "demo-config", "demo-insights", "demo-okta"], inspector.get_table_names(schema="default")
columns = {c["name"] for c in inspector.get_columns("demo", schema="default")}
assert {"eventtime", "eventname", "useridentity"} <= columns, columns
with engine.connect() as c:
    rows = c.execute(sqlalchemy.text("SELECT eventName, count(*) AS n FROM demo GROUP BY eventName")).fetchall()
    assert dict(rows)["ConsoleLogin"] == expected, rows
    # What Superset does with a result: a pandas frame from the cursor's rows and names.
    import pandas

    result = c.execute(sqlalchemy.text("SELECT eventTime, eventName FROM demo ORDER BY eventTime LIMIT 3"))
    frame = pandas.DataFrame(result.fetchall(), columns=list(result.keys()))
    assert len(frame) == 3 and list(frame.columns) == ["eventtime", "eventname"], frame
    assert frame["eventtime"].is_monotonic_increasing, frame

print("ADBC OK")
