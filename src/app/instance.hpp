// Private to app: what `sluice run` and `sluice test --bootstrap` build alike around their processors.
#pragma once

#include <memory>

#include "sluice/core/clock.hpp"
#include "sluice/kafka/client.hpp"
#include "sluice/observe/log.hpp"
#include "sluice/observe/metrics.hpp"
#include "sluice/runtime/global_tables.hpp"
#include "sluice/runtime/health.hpp"
#include "sluice/runtime/pipeline.hpp"
#include "sluice/runtime/processor.hpp"
#include "sluice/topology/topology.hpp"

namespace sluice::app {

// The instance's reader of the topology's global tables (null when there are none), its stores opened through
// `options.state_resources`; sets options.global_tables. Each processing thread waits in open() until loaded.
std::unique_ptr<runtime::GlobalTables> make_global_tables(const topology::Topology& topology,
                                                          const runtime::Pipeline& pipeline,
                                                          runtime::ProcessorOptions& options,
                                                          kafka::ClientFactory& clients, runtime::InstanceHealth& health,
                                                          observe::Metrics& metrics, observe::Logger& logger,
                                                          const core::Clock& clock);

}  // namespace sluice::app
