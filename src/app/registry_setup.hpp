// Private to app: what a topology with avro or protobuf values needs before any record flows (`sluice run`), and
// the checks of its schemas that `sluice validate` makes too.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "sluice/app/settings.hpp"
#include "sluice/core/clock.hpp"
#include "sluice/formats/registry_codec.hpp"
#include "sluice/observe/log.hpp"
#include "sluice/runtime/health.hpp"
#include "sluice/topology/topology.hpp"

namespace sluice::app {

bool uses_registry(const topology::Topology& topology);

// Every avro or protobuf sink's schema text (inline, or read from its file relative to the topology file's
// directory) compiled, and a Protobuf sink's `message` found in it; each problem by JSON pointer. Subjects are
// looked up at start, not here (validate needs no registry).
std::vector<topology::ValidationError> check_sink_schemas(const topology::Topology& topology,
                                                          const std::string& topology_path);

struct RegistryBindings {
  std::unique_ptr<formats::SchemaRegistry> registry;
  std::unique_ptr<formats::RegistryDecoder> decoder;
  std::map<std::size_t, std::shared_ptr<const formats::SinkSchema>> sinks;  // per Topology::sinks index
};

enum class RegistrySetup : std::uint8_t { ready, stopped, config_error };

// Creates the registry client and the sources' decoder, and registers (or looks up) each avro or protobuf sink's
// schema under its subject. A missing schema_registry_url, a schema the registry refuses (its compatibility rules) or a subject
// it does not know: config_error, logged with the sink's pointer and the registry's reason. An unreachable
// registry is retried with backoff (logged, and shown in /readyz through health.registry()) until `stop`.
RegistrySetup set_up_registry(const topology::Topology& topology, const std::string& topology_path,
                              const AppSettings& settings, const std::atomic<bool>& stop,
                              runtime::InstanceHealth& health, observe::Logger& logger, const core::Clock& clock,
                              RegistryBindings& out);

}  // namespace sluice::app
