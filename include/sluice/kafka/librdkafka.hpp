// The production Kafka clients: librdkafka 2.0.2 behind the interfaces of sluice/kafka/client.hpp. Built once
// in app (and by the tools and the real-broker tests); the runtime only ever sees the interfaces.
#pragma once

#include <memory>

#include "sluice/kafka/client.hpp"

namespace sluice::kafka {

std::unique_ptr<ClientFactory> librdkafka_clients();

// The same clients one at a time, for tools and tests. Throw ConfigError if librdkafka rejects a property
// (secret values are never included in the error text).
std::unique_ptr<Consumer> make_consumer(const Config& config, ClientCallbacks callbacks,
                                        RebalanceListener* listener = nullptr);
std::unique_ptr<Producer> make_producer(const Config& config, ClientCallbacks callbacks, DeliveryCallback on_delivery);
std::unique_ptr<Admin> make_admin(const Config& config, ClientCallbacks callbacks);

}  // namespace sluice::kafka
