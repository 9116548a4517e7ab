#!/usr/bin/env python3
"""Checks topologies/sluice-topology.schema.json: it is a valid JSON Schema (draft 2020-12), every example
topology in topologies/ conforms to it, and documents that sluice rejects are rejected by the schema too.

Usage: python3 tests/schema/validate_examples.py [repository root]
Needs the `jsonschema` module (Debian: python3-jsonschema). Exits non-zero on any failure; the last line
is "N passed, N failed".
"""

import copy
import json
import pathlib
import sys

try:
    import jsonschema
except ImportError:
    print("validate_examples: the jsonschema module is missing (apt-get install python3-jsonschema)")
    print("0 passed, 1 failed")
    sys.exit(1)

SCHEMA_NAME = "sluice-topology.schema.json"

# A small valid topology; each invalid case below breaks one thing in a copy of it.
BASE = {
    "application_id": "schema-test",
    "sources": [{"name": "orders", "topic": "orders"}],
    "operators": [
        {"name": "big", "from": "orders", "filter": "amount > 100"},
        {"name": "by_type", "from": "big", "route": [{"name": "a", "when": "type == 'a'"}], "default": "rest"},
    ],
    "sinks": [{"from": "by_type.a", "topic": "orders-a"}],
}


def with_change(change):
    document = copy.deepcopy(BASE)
    change(document)
    return document


def invalid_cases():
    """(description, document) pairs that the schema must reject."""

    def op(document):
        return document["operators"][0]

    return [
        ("unknown operator key", with_change(lambda d: op(d).update({"fliter": "x > 1"}))),
        ("two operator types", with_change(lambda d: op(d).update({"map": {"x": "1"}}))),
        ("no operator type", with_change(lambda d: op(d).pop("filter"))),
        ("operator without name", with_change(lambda d: op(d).pop("name"))),
        ("bad key format", with_change(lambda d: d["sources"][0].update({"key": "text"}))),
        ("bad value format", with_change(lambda d: d["sinks"][0].update({"value": "avro"}))),
        ("bad name pattern", with_change(lambda d: op(d).update({"name": "big filter"}))),
        ("name with a dot", with_change(lambda d: d["sources"][0].update({"name": "a.b"}))),
        ("extra top-level field", with_change(lambda d: d.update({"version": 2}))),
        ("missing application_id", with_change(lambda d: d.pop("application_id"))),
        ("bad application_id", with_change(lambda d: d.update({"application_id": "my app"}))),
        ("no sources", with_change(lambda d: d.update({"sources": []}))),
        ("no sinks", with_change(lambda d: d.pop("sinks"))),
        ("topic '..'", with_change(lambda d: d["sources"][0].update({"topic": ".."}))),
        ("topic too long", with_change(lambda d: d["sources"][0].update({"topic": "t" * 250}))),
        ("source without topic", with_change(lambda d: d["sources"][0].pop("topic"))),
        ("empty from array", with_change(lambda d: op(d).update({"from": []}))),
        ("from is a number", with_change(lambda d: op(d).update({"from": 3}))),
        ("drop on a filter", with_change(lambda d: op(d).update({"drop": ["x"]}))),
        ("merge with from", with_change(lambda d: d["operators"].append(
            {"name": "all", "from": "big", "merge": ["orders", "big"]}))),
        ("empty merge", with_change(lambda d: d["operators"].append({"name": "all", "merge": []}))),
        ("route without branches", with_change(lambda d: d["operators"][1].update({"route": []}))),
        ("route branch without when", with_change(lambda d: d["operators"][1]["route"][0].pop("when"))),
        ("blank expression", with_change(lambda d: op(d).update({"filter": "  "}))),
        ("expression not a string", with_change(lambda d: op(d).update({"filter": True}))),
        ("empty select", with_change(lambda d: op(d).update({"select": {}}) or op(d).pop("filter"))),
        ("empty map field name", with_change(lambda d: op(d).update({"map": {"": "1"}}) or op(d).pop("filter"))),
        ("bad timestamp format", with_change(lambda d: d["sources"][0].update(
            {"timestamp": {"field": "ts", "format": "rfc2822"}}))),
        ("timestamp string other than record", with_change(lambda d: d["sources"][0].update({"timestamp": "ts"}))),
        ("sink from an array", with_change(lambda d: d["sinks"][0].update({"from": ["big"]}))),
        ("not an object", ["orders"]),
    ]


def main():
    root = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else pathlib.Path(__file__).resolve().parents[2]
    topologies = root / "topologies"
    passed = 0
    failed = 0

    def result(ok, what, detail=""):
        nonlocal passed, failed
        if ok:
            passed += 1
            print(f"ok      {what}")
        else:
            failed += 1
            print(f"FAILED  {what}{': ' + detail if detail else ''}")

    schema = json.loads((topologies / SCHEMA_NAME).read_text(encoding="utf-8"))
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
        result(True, "schema is a valid draft 2020-12 schema")
    except jsonschema.SchemaError as error:
        result(False, "schema is a valid draft 2020-12 schema", error.message)
        print(f"{passed} passed, {failed} failed")
        return 1
    validator = jsonschema.Draft202012Validator(schema)

    examples = sorted(path for path in topologies.glob("*.json") if path.name != SCHEMA_NAME)
    result(len(examples) >= 3, "at least three example topologies", f"found {len(examples)}")
    for path in examples:
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            result(False, f"example {path.name}", f"not JSON: {error}")
            continue
        errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
        detail = "; ".join(f"/{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors)
        result(not errors, f"example {path.name} conforms", detail)

    result(validator.is_valid(BASE), "the base of the invalid cases is itself valid")
    for description, document in invalid_cases():
        result(not validator.is_valid(document), f"rejects: {description}", "the schema accepted it")

    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
