"""What the independent clients of the interoperability tests share: reading a topic's records as a read_committed
consumer and printing each decoded value as a JSON line."""
import datetime
import json
import sys

from confluent_kafka import Consumer
from confluent_kafka.serialization import MessageField, SerializationContext


def print_values(bootstrap, topic, count, decode, plain):
    """Reads `count` records of `topic` from the start (within 60 s), prints plain(decode(value, context)) of each
    as a JSON line; exits with an error if fewer came."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "interop-" + topic,
                         "auto.offset.reset": "earliest", "isolation.level": "read_committed"})
    consumer.subscribe([topic])
    read = 0
    deadline = datetime.datetime.now() + datetime.timedelta(seconds=60)
    while read < count and datetime.datetime.now() < deadline:
        message = consumer.poll(0.5)
        if message is None or message.error():
            continue
        value = decode(message.value(), SerializationContext(topic, MessageField.VALUE))
        print(json.dumps(plain(value), sort_keys=True))
        read += 1
    consumer.close()
    if read < count:
        sys.exit("read %d of %d records" % (read, count))
