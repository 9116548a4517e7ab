// The `sluice` command line: run, validate, describe, settings, version. Production wiring lives here: this is
// the one place that builds the real clock, logger, metrics, HTTP server, Kafka clients and pipeline and hands
// them to the runtime. Exit codes: 0 success, 1 runtime failure, 2 bad usage, topology or settings.
#pragma once

#include <map>
#include <ostream>
#include <string>
#include <vector>

namespace sluice::app {

inline constexpr int exit_ok = 0;
inline constexpr int exit_failure = 1;
inline constexpr int exit_usage = 2;

// `arguments` excludes the program name. `environment` is the process environment (for SLUICE_* settings).
int run_command_line(const std::vector<std::string>& arguments, const std::map<std::string, std::string>& environment,
                     std::ostream& out, std::ostream& err);

}  // namespace sluice::app
