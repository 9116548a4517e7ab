"""An independent Avro client for the interoperability tests (tests/integration/avro_test.cpp): confluent-kafka's
AvroSerializer and AvroDeserializer, which speak the Schema Registry wire format on their own.

  avro_interop.py produce BOOTSTRAP REGISTRY TOPIC [AT_MS]
                                                      writes the orders below, prints one JSON line per record;
                                                      with AT_MS, one more (id 6, status NEW) at that event time
  avro_interop.py consume BOOTSTRAP REGISTRY TOPIC N  reads N records (read_committed), prints each as a JSON line
  avro_interop.py produce-keyed BOOTSTRAP REGISTRY TOPIC
                                                      the same orders with Avro keys too (ORDER_KEY, {"customer"},
                                                      registered under TOPIC-key)
"""
import datetime
import decimal
import json
import sys

from confluent_kafka import Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from interop_common import print_values

ORDER = {
    "type": "record", "name": "Order", "namespace": "shop",
    "fields": [
        {"name": "id", "type": "long"},
        {"name": "customer", "type": "string"},
        {"name": "amount", "type": {"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 2}},
        {"name": "status", "type": {"type": "enum", "name": "Status", "symbols": ["NEW", "PAID"]}},
        {"name": "note", "type": ["null", "string"], "default": None},
        {"name": "tags", "type": {"type": "map", "values": "int"}},
        {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    ],
}


ORDER_KEY = {"type": "record", "name": "OrderKey", "namespace": "shop",
             "fields": [{"name": "customer", "type": "string"}]}


def plain(value):
    """A decoded value as JSON: timestamps as epoch ms, decimals as numbers."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, datetime.datetime):
        return int(value.timestamp() * 1000)
    if isinstance(value, decimal.Decimal):
        return float(value)
    return value


def produce(bootstrap, registry, topic, extra_at_ms=None, avro_keys=False):
    serializer = AvroSerializer(SchemaRegistryClient({"url": registry}), json.dumps(ORDER))
    key_serializer = AvroSerializer(SchemaRegistryClient({"url": registry}), json.dumps(ORDER_KEY))
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    failures = []
    for i in range(6 if extra_at_ms is None else 7):
        value = {
            "id": i,
            "customer": "c%d" % (i % 2),
            "amount": decimal.Decimal("%d.25" % (i * 10)),
            "status": "NEW" if i % 3 == 0 else "PAID",
            "note": None if i % 2 else "note %d" % i,
            "tags": {"n": i},
            "at": datetime.datetime(2026, 11, 27, 10, 0, i, tzinfo=datetime.timezone.utc),
        }
        if i == 6:
            value["at"] = datetime.datetime.fromtimestamp(int(extra_at_ms) / 1000, tz=datetime.timezone.utc)
        key = "c%d" % (i % 2)
        if avro_keys:
            key = key_serializer({"customer": key}, SerializationContext(topic, MessageField.KEY))
        producer.produce(topic, key=key,
                         value=serializer(value, SerializationContext(topic, MessageField.VALUE)),
                         on_delivery=lambda error, _: error and failures.append(error))
        print(json.dumps(plain(value), sort_keys=True))
    producer.flush(30)
    if failures:
        sys.exit("delivery failed: %s" % failures)


def consume(bootstrap, registry, topic, count):
    deserializer = AvroDeserializer(SchemaRegistryClient({"url": registry}))
    print_values(bootstrap, topic, count, deserializer, plain)


if __name__ == "__main__":
    command, arguments = sys.argv[1], sys.argv[2:]
    if command == "produce":
        produce(*arguments)
    elif command == "produce-keyed":
        produce(*arguments, avro_keys=True)
    elif command == "consume":
        consume(arguments[0], arguments[1], arguments[2], int(arguments[3]))
    else:
        sys.exit("unknown command " + command)
