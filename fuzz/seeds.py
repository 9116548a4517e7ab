#!/usr/bin/env python3
"""Writes the seed corpora of fuzz/corpus/<target>/ from the examples of the repository: the topologies of
topologies/, the expressions written in them and in the README's expression table, sample records, and the
settings of the README's and docs/settings.md's tables. Run it again after the examples change; the output is
checked in (small, a few hundred KB) so that a fresh clone fuzzes without it.

    fuzz/seeds.py            rewrite fuzz/corpus/ (files are named by a hash of their content; the inputs
                             of past findings, finding-*, are kept as regression seeds)
"""
import hashlib
import json
import pathlib
import re

REPO = pathlib.Path(__file__).resolve().parent.parent
CORPUS = REPO / "fuzz" / "corpus"
EXPRESSION_FIELDS = {"filter", "rekey", "flat_map", "when", "field"}

# Records shaped like the examples' inputs (payments, page views, sensor readings, orders, text lines, events).
RECORDS = [
    {"card_id": "c-42", "amount": 1250.0, "event_time": 1763719200000},
    {"user": {"id": 7, "country": "FR"}, "page": "/home", "ts": "2026-11-21T10:15:30.250+01:00"},
    {"sensor": "s-1", "reading": -3.5e2, "ok": True, "tags": ["a", "b"], "meta": {"time": 1763719200}},
    {"order_id": 9007199254740993, "items": [{"sku": "x", "qty": 2, "price": 9.99}], "note": None},
    {"line": "the quick brown fox \u00e9\u202e", "n": -9223372036854775808},
    {"type": "click", "session": "s-9", "when": "2026-11-21", "nested": [[1, [2, [3]]]]},
]
# One call of every function (the README's table lists only their names).
CALLS = ["lower(name)", "upper(user.country)", "trim('  hi ')", "length(items)", "substr(name, 1, 2)",
         "contains(text, 'l')", "starts_with(page, '/')", "ends_with(page, 'e')", "replace(csv, ',', ';')",
         "split(csv, ',')", "concat(name, '-', amount)", "to_string(price)", "to_number('1.5e3')", "to_int(price)",
         "abs(small + 1)", "round(price)", "floor(-2.5)", "ceil(price / 3)", "if(flag, 1, 'x')",
         "coalesce(nothing, missing, 3)", "now() - $timestamp", "parse_time(when)", "format_time($timestamp)",
         "$headers.trace ?? $headers.dup", "$offset % $partition", "items[-1].price * 2 >= 4 and not flag"]
TIMES = ["1763719200000", "1763719200", "2026-11-21T10:15:30Z", "2026-11-21T10:15:30.250+01:00", "2026-11-21",
         "1m30s", "250ms", "1d2h3m4s5ms", "0"]


def write(target, content):
    data = content if isinstance(content, bytes) else content.encode()
    directory = CORPUS / target
    directory.mkdir(parents=True, exist_ok=True)
    (directory / hashlib.sha1(data).hexdigest()[:16]).write_bytes(data)


def expressions_in(node, found):
    """Every expression text of a topology: the expression fields, map/select/aggregate values."""
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(value, str) and key in EXPRESSION_FIELDS:
                found.add(value)
            elif key in ("map", "select", "aggregate") and isinstance(value, dict):
                for inner in value.values():
                    if isinstance(inner, str):
                        found.add(re.sub(r"^\w+\((.*)\)$", r"\1", inner) or inner)
                        found.add(inner)
            expressions_in(value, found)
    elif isinstance(node, list):
        for item in node:
            expressions_in(item, found)


def main():
    # Generated seeds are named by their hash; anything else (the inputs of past findings, finding-*, and the
    # hand-written seeds of the binary formats, corpus/avro and corpus/protobuf) is kept.
    for old in CORPUS.glob("*/*"):
        if re.fullmatch(r"[0-9a-f]{16}", old.name):
            old.unlink()
    expressions = set()
    for path in sorted((REPO / "topologies").glob("*.json")):
        if path.name.endswith("schema.json"):
            continue
        text = path.read_text()
        write("topology", text)
        expressions_in(json.loads(text), expressions)
    readme = (REPO / "README.md").read_text()
    table = readme[readme.index("### Expressions"):readme.index("## Command line")]
    for row in table.splitlines():
        if row.startswith("| ") and not row.startswith("| |"):
            cells = row.split("|")[2:-1]
            expressions.update(e for e in re.findall(r"`([^`]+)`", "".join(cells)) if e not in ("`",))
    expressions.update(CALLS)
    for expression in sorted(expressions):
        write("expression", expression)
    # A few with a record of their own after the NUL.
    for expression, record in zip(sorted(expressions), RECORDS * 4):
        write("expression", expression + "\0" + json.dumps(record))

    # decoders: option byte (key format, value format, timestamp kind and field), key, NUL, value.
    for index, record in enumerate(RECORDS):
        value = json.dumps(record)
        for option in (0, 1 + 3 * 0, 9 * (1 + index % 3) + 36 * (index % 2), 3 + 9, 4, 5 * 3, 150):
            write("decoders", bytes([option]) + b"k-%d\0" % index + value.encode())
    for index, text in enumerate(TIMES):
        for option in (9 * 1 + 36 * 2, 9 * 2 + 36 * 2, 9 * 3 + 36 * 2):  # the key is the event time
            write("decoders", bytes([option + 2]) + text.encode() + b"\0{}")
        write("decoders", bytes([9 * 3 + 36 * 3 + 3]) + b"k\0" + text.encode())  # string value as ISO time

    # settings: config file text, then NUL-separated --set or SLUICE_* assignments.
    reference = (REPO / "docs" / "settings.md").read_text()
    defaults = dict(re.findall(r"^\| `([a-z_.]+)` \| [a-z]+ \| `([^`]*)`", reference, re.M))
    write("settings", json.dumps(defaults, indent=2))
    write("settings", '{"commit_interval": "250ms", "kafka": {"security.protocol": "SSL"}}')
    write("settings", '{"commit_interval": "250ms", "kafka.security.protocol": "SSL", "http_port": 8080}')
    write("settings", "\0commit_interval=5x\0http_port=70000\0SLUICE_LOG_LEVEL=debug\0kafka.group.id=x")
    write("settings", "\0kafka.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule "
                      "required username=\"u\" password=\"hunter2secret\";\0kafka.sasl.password=hunter2secret")
    write("settings", '{"processing_guarantee": "at_least_once", "state_memory_mb": 64}\0'
                      "processing_threads=2\0SLUICE_KAFKA_SECURITY_PROTOCOL=SASL_SSL\0SLUICE_PORT=tcp://x:1")
    for name, value in sorted(defaults.items()):
        write("settings", "\0%s=%s" % (name, value))

    # http: request heads as clients send them: a kubelet probe, a Prometheus scrape with a bearer token, basic
    # credentials with bare LFs, a slowloris head without its end, a folded field with a body.
    write("http", "GET /healthz HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: kube-probe/1.30\r\n"
                  "Accept: */*\r\nConnection: close\r\n\r\n")
    write("http", "GET /metrics HTTP/1.1\r\nHost: 10.0.0.7:8080\r\nAuthorization: Bearer s3cret-token\r\n"
                  "Accept: application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5\r\n"
                  "Accept-Encoding: gzip\r\nX-Prometheus-Scrape-Timeout-Seconds: 10\r\n\r\n")
    write("http", "HEAD /topology?format=json HTTP/1.0\nAuthorization: Basic cHJvbTpwYTpzcw==\n\n")
    write("http", "GET /readyz HTTP/1.1\r\nX-Slow-0: x\r\nX-Slow-1: x\r\n")
    write("http", "POST /metrics HTTP/1.1\r\nContent-Length: 5\r\nX: a\r\n b\r\n\r\nhello")


if __name__ == "__main__":
    main()
