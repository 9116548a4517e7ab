"""An independent Protobuf client for the interoperability tests (tests/integration/protobuf_test.cpp):
confluent-kafka's ProtobufSerializer and ProtobufDeserializer frame the records (schema id, message indexes) and the
protobuf runtime encodes and decodes them; neither shares code with sluice.

  protobuf_interop.py produce BOOTSTRAP REGISTRY TOPIC [AT_MS]
                                                      writes the orders below, prints one JSON line per record;
                                                      with AT_MS, one more (id 6, status NEW) at that event time
  protobuf_interop.py consume BOOTSTRAP REGISTRY TOPIC N [MESSAGE]
                                                      reads N records of MESSAGE (shop.Paid, or
                                                      shop.RevenuePerMinute: topologies/orders-protobuf.json's
                                                      output) (read_committed), prints each as a JSON line
                                                      (timestamps as epoch ms)

The message classes are built from descriptors written out below (Python's protobuf runtime has no .proto parser);
ORDER_PROTO is the same file as text, which is what the registry holds and what sluice compiles. One adaptation for
Apicurio 2.1.5 (scripts/registry/README.md): the serializer registers a schema as a base64 FileDescriptorProto,
which that registry refuses, so registration goes through RegisteringClient, which registers ORDER_PROTO's text
under the same subject and hands the id back to the serializer.
"""
import datetime
import json
import sys

from confluent_kafka import Producer
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.protobuf import ProtobufDeserializer, ProtobufSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from interop_common import print_values
from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory
from google.protobuf import timestamp_pb2  # noqa: F401  (puts google/protobuf/timestamp.proto in the pool)

ORDER_PROTO = """syntax = "proto3";
package shop;

import "google/protobuf/timestamp.proto";

enum Status {
  NEW = 0;
  PAID = 1;
}

message Order {
  message Item {
    string sku = 1;
    int32 qty = 2;
  }
  int64 id = 1;
  string customer = 2;
  double amount = 3;
  Status status = 4;
  optional string note = 5;
  map<string, int32> tags = 6;
  google.protobuf.Timestamp at = 7;
  repeated Item items = 8;
}
"""

F = descriptor_pb2.FieldDescriptorProto


def add_field(message, name, number, kind, label=F.LABEL_OPTIONAL, type_name=None, oneof_index=None,
              proto3_optional=False):
    field = message.field.add(name=name, number=number, type=kind, label=label, json_name=name)
    if type_name:
        field.type_name = type_name
    if oneof_index is not None:
        field.oneof_index = oneof_index
    if proto3_optional:
        field.proto3_optional = True


def order_file():
    file = descriptor_pb2.FileDescriptorProto(name="shop/order.proto", package="shop", syntax="proto3",
                                              dependency=["google/protobuf/timestamp.proto"])
    status = file.enum_type.add(name="Status")
    status.value.add(name="NEW", number=0)
    status.value.add(name="PAID", number=1)
    order = file.message_type.add(name="Order")
    item = order.nested_type.add(name="Item")
    add_field(item, "sku", 1, F.TYPE_STRING)
    add_field(item, "qty", 2, F.TYPE_INT32)
    tags_entry = order.nested_type.add(name="TagsEntry")
    tags_entry.options.map_entry = True
    add_field(tags_entry, "key", 1, F.TYPE_STRING)
    add_field(tags_entry, "value", 2, F.TYPE_INT32)
    order.oneof_decl.add(name="_note")
    add_field(order, "id", 1, F.TYPE_INT64)
    add_field(order, "customer", 2, F.TYPE_STRING)
    add_field(order, "amount", 3, F.TYPE_DOUBLE)
    add_field(order, "status", 4, F.TYPE_ENUM, type_name=".shop.Status")
    add_field(order, "note", 5, F.TYPE_STRING, oneof_index=0, proto3_optional=True)
    add_field(order, "tags", 6, F.TYPE_MESSAGE, F.LABEL_REPEATED, ".shop.Order.TagsEntry")
    add_field(order, "at", 7, F.TYPE_MESSAGE, type_name=".google.protobuf.Timestamp")
    add_field(order, "items", 8, F.TYPE_MESSAGE, F.LABEL_REPEATED, ".shop.Order.Item")
    return file


def paid_file():
    # What the sluice topology of the test writes (its value_schema): shop.Paid.
    file = descriptor_pb2.FileDescriptorProto(name="shop/paid.proto", package="shop", syntax="proto3",
                                              dependency=["google/protobuf/timestamp.proto"])
    paid = file.message_type.add(name="Paid")
    paid.oneof_decl.add(name="_note")
    add_field(paid, "id", 1, F.TYPE_INT64)
    add_field(paid, "customer", 2, F.TYPE_STRING)
    add_field(paid, "amount", 3, F.TYPE_DOUBLE)
    add_field(paid, "note", 4, F.TYPE_STRING, oneof_index=0, proto3_optional=True)
    add_field(paid, "n", 5, F.TYPE_INT32)
    add_field(paid, "at", 6, F.TYPE_MESSAGE, type_name=".google.protobuf.Timestamp")
    add_field(paid, "first_sku", 7, F.TYPE_STRING)
    return file


def revenue_file():
    # topologies/schemas/revenue-per-minute.proto
    file = descriptor_pb2.FileDescriptorProto(name="shop/revenue.proto", package="shop", syntax="proto3",
                                              dependency=["google/protobuf/timestamp.proto"])
    revenue = file.message_type.add(name="RevenuePerMinute")
    add_field(revenue, "window_start", 1, F.TYPE_MESSAGE, type_name=".google.protobuf.Timestamp")
    add_field(revenue, "window_end", 2, F.TYPE_MESSAGE, type_name=".google.protobuf.Timestamp")
    add_field(revenue, "orders", 3, F.TYPE_INT64)
    add_field(revenue, "revenue", 4, F.TYPE_DOUBLE)
    add_field(revenue, "largest", 5, F.TYPE_DOUBLE)
    add_field(revenue, "items", 6, F.TYPE_INT64)
    return file


def message_class(file, name):
    pool = descriptor_pool.Default()
    try:
        pool.FindFileByName(file.name)
    except KeyError:
        pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(name))


class RegisteringClient(SchemaRegistryClient):
    """Registers the .proto text instead of the base64 descriptor the serializer builds (see the module's doc)."""

    def register_schema_full_response(self, subject_name, schema, normalize_schemas=False):
        return super().register_schema_full_response(subject_name, Schema(ORDER_PROTO, "PROTOBUF"), normalize_schemas)


def plain(message):
    """A decoded message as JSON: field names as in the .proto, timestamps as epoch ms, defaults included."""
    value = json_format.MessageToDict(message, preserving_proto_field_name=True,
                                      always_print_fields_with_no_presence=True)
    for field in message.DESCRIPTOR.fields:
        if field.message_type is not None and field.message_type.full_name == "google.protobuf.Timestamp":
            if message.HasField(field.name):
                value[field.name] = getattr(message, field.name).ToMilliseconds()
        elif field.type in (F.TYPE_INT64, F.TYPE_UINT64) and field.name in value:
            value[field.name] = int(value[field.name])  # the JSON mapping writes 64-bit integers as strings
    return value


def produce(bootstrap, registry, topic, extra_at_ms=None):
    order_class = message_class(order_file(), "shop.Order")
    serializer = ProtobufSerializer(order_class, RegisteringClient({"url": registry}),
                                    {"use.deprecated.format": False})
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    failures = []
    for i in range(6 if extra_at_ms is None else 7):
        order = order_class(id=i, customer="c%d" % (i % 2), amount=i * 10 + 0.25,
                            status="NEW" if i % 3 == 0 else "PAID")
        if i % 2 == 0:
            order.note = "note %d" % i
        order.tags["n"] = i
        order.at.FromMilliseconds(int(datetime.datetime(2026, 11, 27, 10, 0, i, tzinfo=datetime.timezone.utc)
                                      .timestamp() * 1000) if i < 6 else int(extra_at_ms))
        for j in range(i % 3):
            order.items.add(sku="sku-%d-%d" % (i, j), qty=j + 1)
        producer.produce(topic, key="c%d" % (i % 2),
                         value=serializer(order, SerializationContext(topic, MessageField.VALUE)),
                         on_delivery=lambda error, _: error and failures.append(error))
        print(json.dumps(plain(order), sort_keys=True))
    producer.flush(30)
    if failures:
        sys.exit("delivery failed: %s" % failures)


def consume(bootstrap, registry, topic, count, message="shop.Paid"):
    del registry  # the deserializer reads the framing and parses with the class; it needs no registry
    file = revenue_file() if message == "shop.RevenuePerMinute" else paid_file()
    deserializer = ProtobufDeserializer(message_class(file, message), {"use.deprecated.format": False})
    print_values(bootstrap, topic, count, deserializer, plain)


if __name__ == "__main__":
    command, arguments = sys.argv[1], sys.argv[2:]
    if command == "produce":
        produce(*arguments)
    elif command == "consume":
        consume(arguments[0], arguments[1], arguments[2], int(arguments[3]), *arguments[4:])
    else:
        sys.exit("unknown command " + command)
