// The `sluice` command line: run, validate, describe, settings, version. Production wiring lives here: this is
// the one place that builds the real clock, logger, metrics, HTTP server, Kafka clients and pipeline and hands
// them to the runtime. Exit codes: 0 success, 1 runtime failure, 2 bad usage, topology or settings.
#pragma once

#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "sluice/app/settings.hpp"
#include "sluice/runtime/processor.hpp"
#include "sluice/topology/topology.hpp"

namespace sluice::app {

inline constexpr int exit_ok = 0;
inline constexpr int exit_failure = 1;
inline constexpr int exit_usage = 2;

// `arguments` excludes the program name. `environment` is the process environment (for SLUICE_* settings).
int run_command_line(const std::vector<std::string>& arguments, const std::map<std::string, std::string>& environment,
                     std::ostream& out, std::ostream& err);

// The processor options every processing thread shares, from the settings. instance_id (static membership)
// defaults to the host name when KUBERNETES_SERVICE_HOST is in `environment`; the transactional id is
// <application_id>-<instance_id, else process_id(<state_dir>/<application_id>)>.
runtime::ProcessorOptions processor_options(const AppSettings& settings, const topology::Topology& topology,
                                            const std::map<std::string, std::string>& environment);

// Options of processing thread `thread`: thread 0 keeps the shared ids, thread i > 0 appends "-<i>" to the
// transactional id and to the static member id.
runtime::ProcessorOptions thread_options(const runtime::ProcessorOptions& shared, int thread);

std::string host_name();

// "<host name>-<8 random hex digits>", created on first use and kept in <directory>/process-id, so an instance
// keeps its id across restarts while instances with their own state directories on one host differ. Falls back
// to the host name when the directory cannot be written.
std::string process_id(const std::string& directory);

}  // namespace sluice::app
