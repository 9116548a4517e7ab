// How sluice configures its Kafka clients, in one place: the properties it controls itself (users cannot
// override them: the settings loader rejects them with the reason given here) and the configuration of each
// client it builds. The runtime passes ClientSettings; app validates users' kafka.* settings against
// controlled_properties().
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/kafka/client.hpp"

namespace sluice::kafka {

struct ControlledProperty {
  std::string_view property;
  std::string_view reason;  // why users may not set it, and what to use instead
};
// Every librdkafka property some client builder below sets unconditionally.
const std::vector<ControlledProperty>& controlled_properties();
const ControlledProperty* find_controlled_property(std::string_view property);

struct ClientSettings {
  std::string bootstrap_servers;
  Config pass_through;         // users' kafka.* settings without the prefix
  std::string application_id;  // the consumer group
  std::string client_id;       // names the clients in broker logs and metrics
  std::string instance_id;     // static membership when not empty
  bool exactly_once = true;
  std::string transactional_id;
  std::chrono::milliseconds transaction_timeout{60'000};
  std::chrono::milliseconds max_poll_interval{300'000};
  std::chrono::milliseconds session_timeout{45'000};
  std::int64_t producer_queue_max_records = 100'000;
  std::int64_t consumer_queue_max_kbytes = 16'384;
};

Config consumer_config(const ClientSettings& settings);
Config producer_config(const ClientSettings& settings);
// The restore consumer reads changelogs by manual assignment; it never joins the group.
Config restore_consumer_config(const ClientSettings& settings);
Config admin_config(const ClientSettings& settings);

}  // namespace sluice::kafka
