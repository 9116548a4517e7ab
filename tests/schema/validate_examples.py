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


# The base with a windowed aggregate and a dedupe after a rekey; the stateful invalid cases break one thing in
# a copy of it.
STATEFUL_BASE = copy.deepcopy(BASE)
STATEFUL_BASE["operators"] += [
    {"name": "by_card", "from": "big", "rekey": "card_id"},
    {
        "name": "per_card",
        "from": "by_card",
        "window": {"type": "hopping", "size": "5m", "advance": "1m", "grace": "30s"},
        "aggregate": {"n": "count()", "total": "sum(amount)"},
        "emit": "final",
        "idle_timeout": "30s",
    },
    {"name": "unique", "from": "by_card", "dedupe": {"within": "10m"}},
    {"name": "totals", "from": "by_card", "aggregate": {"n": "count()"}, "emit": "update"},
]


def with_change(change, base=BASE):
    document = copy.deepcopy(base)
    change(document)
    return document


def with_stateful_change(change):
    return with_change(change, STATEFUL_BASE)


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
        ("bad value format", with_change(lambda d: d["sinks"][0].update({"value": "xml"}))),
        ("avro sink without value_schema", with_change(lambda d: d["sinks"][0].update({"value": "avro"}) or
                                                   d["sinks"][0].pop("value_schema", None))),
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
    ] + stateful_invalid_cases() + join_invalid_cases()


# A stream-table join; each join case breaks one thing in a copy of it.
JOIN_BASE = copy.deepcopy(BASE)
JOIN_BASE["tables"] = [{"name": "customers", "topic": "customers"}]
JOIN_BASE["operators"].append({"name": "joined", "from": "big",
                               "join": {"table": "customers", "type": "left", "select": {"tier": "customers.tier"}}})


def join_invalid_cases():
    def join(document):
        return document["operators"][2]["join"]

    return [
        ("join without table", with_change(lambda d: join(d).pop("table"), JOIN_BASE)),
        ("unknown join type", with_change(lambda d: join(d).update({"type": "outer"}), JOIN_BASE)),
        ("unknown join field", with_change(lambda d: join(d).update({"on": "id"}), JOIN_BASE)),
        ("join reading two streams", with_change(lambda d: d["operators"][2].update({"from": ["big", "orders"]}),
                                                 JOIN_BASE)),
        ("table without topic", with_change(lambda d: d["tables"][0].pop("topic"), JOIN_BASE)),
        ("table with a timestamp", with_change(lambda d: d["tables"][0].update({"timestamp": "record"}), JOIN_BASE)),
        ("table history not a duration", with_change(lambda d: d["tables"][0].update({"history": 5}), JOIN_BASE)),
        ("join max_task_idle not a duration", with_change(lambda d: join(d).update({"max_task_idle": "soon"}), JOIN_BASE)),
        ("stream join without within", with_change(lambda d: join(d).pop("within"), STREAM_JOIN_BASE)),
        ("stream join with a table too", with_change(lambda d: join(d).update({"table": "customers"}),
                                                     STREAM_JOIN_BASE)),
        ("stream join within not a duration", with_change(lambda d: join(d).update({"within": "10x"}),
                                                          STREAM_JOIN_BASE)),
        ("stream join within without after", with_change(lambda d: join(d).update({"within": {"before": "1m"}}),
                                                         STREAM_JOIN_BASE)),
        ("stream join bad grace", with_change(lambda d: join(d).update({"grace": "soon"}), STREAM_JOIN_BASE)),
        ("stream join unknown type", with_change(lambda d: join(d).update({"type": "full"}), STREAM_JOIN_BASE)),
        ("stream join unknown field", with_change(lambda d: join(d).update({"on": "id"}), STREAM_JOIN_BASE)),
        ("global that is not a boolean", with_change(lambda d: d["tables"][0].update({"global": "yes"}), JOIN_BASE)),
        ("lookup that is not a string", with_change(lambda d: join(d).update({"lookup": ["card_id"]}), JOIN_BASE)),
    ]


# A windowed stream-stream join, as valid; the cases above break one thing in a copy of it.
STREAM_JOIN_BASE = copy.deepcopy(BASE)
STREAM_JOIN_BASE["operators"].append({"name": "joined", "from": "big",
                                      "join": {"stream": "orders", "within": {"before": "10m", "after": "0s"},
                                               "grace": "1m", "type": "outer", "as": "a", "other_as": "b"}})


def stateful_invalid_cases():
    def aggregate(document):
        return document["operators"][3]

    def window(document):
        return aggregate(document)["window"]

    def dedupe(document):
        return document["operators"][4]

    def table(document):
        return document["operators"][5]

    return [
        ("unknown window type", with_stateful_change(lambda d: window(d).update({"type": "rolling"}))),
        ("advance on a tumbling window", with_stateful_change(lambda d: window(d).update({"type": "tumbling"}))),
        ("hopping window without advance", with_stateful_change(lambda d: window(d).pop("advance"))),
        ("window without size", with_stateful_change(lambda d: window(d).pop("size"))),
        ("gap on a hopping window", with_stateful_change(lambda d: window(d).update({"gap": "1m"}))),
        ("session window with a size", with_stateful_change(lambda d: window(d).update({"type": "session"}))),
        ("window size not a duration", with_stateful_change(lambda d: window(d).update({"size": "5x"}))),
        ("window size zero", with_stateful_change(lambda d: window(d).update({"size": "0s"}))),
        ("grace a number", with_stateful_change(lambda d: window(d).update({"grace": 30}))),
        ("empty aggregate", with_stateful_change(lambda d: aggregate(d).update({"aggregate": {}}))),
        ("unknown aggregation function", with_stateful_change(
            lambda d: aggregate(d)["aggregate"].update({"total": "summ(amount)"}))),
        ("aggregation without argument", with_stateful_change(
            lambda d: aggregate(d)["aggregate"].update({"total": "sum()"}))),
        ("aggregation that is a bare expression", with_stateful_change(
            lambda d: aggregate(d)["aggregate"].update({"total": "amount"}))),
        ("aggregation with an empty field name", with_stateful_change(
            lambda d: aggregate(d)["aggregate"].update({"": "count()"}))),
        ("window bound field name in a windowed aggregate", with_stateful_change(
            lambda d: aggregate(d)["aggregate"].update({"window_start": "min($timestamp)"}))),
        ("unknown emit mode", with_stateful_change(lambda d: aggregate(d).update({"emit": "sometimes"}))),
        ("emit final without a window", with_stateful_change(lambda d: table(d).update({"emit": "final"}))),
        ("idle_timeout without a window", with_stateful_change(lambda d: table(d).update({"idle_timeout": "30s"}))),
        ("window on a filter", with_stateful_change(
            lambda d: d["operators"][0].update({"window": {"type": "tumbling", "size": "1m"}}))),
        ("aggregate and dedupe in one operator", with_stateful_change(
            lambda d: dedupe(d).update({"aggregate": {"n": "count()"}}))),
        ("dedupe without within", with_stateful_change(lambda d: dedupe(d).update({"dedupe": {}}))),
        ("dedupe with an unknown field", with_stateful_change(lambda d: dedupe(d)["dedupe"].update({"by": "id"}))),
        ("dedupe within zero", with_stateful_change(lambda d: dedupe(d)["dedupe"].update({"within": "0"}))),
        ("dedupe as a string", with_stateful_change(lambda d: dedupe(d).update({"dedupe": "10m"}))),
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
    # YAML examples: the same schema (PyYAML reads YAML 1.1, which types the examples' scalars alike).
    for path in sorted(topologies.glob("*.yaml")):
        import yaml  # python3-yaml, from scripts/install-deps
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
        detail = "; ".join(f"/{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors)
        result(not errors, f"example {path.name} conforms", detail)

    result(validator.is_valid(BASE), "the base of the invalid cases is itself valid")
    result(validator.is_valid(STATEFUL_BASE), "the stateful base of the invalid cases is itself valid")
    result(validator.is_valid(JOIN_BASE), "the join base of the invalid cases is itself valid")
    result(validator.is_valid(STREAM_JOIN_BASE), "the stream join base of the invalid cases is itself valid")
    symmetric = copy.deepcopy(STREAM_JOIN_BASE)
    symmetric["operators"][2]["join"]["within"] = "10m"
    result(validator.is_valid(symmetric), "a stream join with one symmetric within duration is valid")
    for description, document in invalid_cases():
        result(not validator.is_valid(document), f"rejects: {description}", "the schema accepted it")

    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
