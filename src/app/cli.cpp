#include "sluice/app/cli.hpp"

#include <pthread.h>
#include <unistd.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <limits>
#include <memory>
#include <iostream>
#include <optional>
#include <thread>

#include <nlohmann/json.hpp>

#include "sluice/app/cases.hpp"
#include "registry_setup.hpp"
#include "instance.hpp"
#include "sluice/app/settings.hpp"
#include "sluice/core/clock.hpp"
#include "sluice/core/printable.hpp"
#include "sluice/observe/http_server.hpp"
#include "sluice/observe/log.hpp"
#include "sluice/observe/metrics.hpp"
#include "sluice/runtime/pipeline.hpp"
#include "sluice/kafka/librdkafka.hpp"
#include "sluice/runtime/processor.hpp"
#include "sluice/runtime/store_guard.hpp"
#include "sluice/state/store.hpp"
#include "sluice/topology/describe.hpp"
#include "sluice/topology/evolution.hpp"
#include "sluice/topology/topology.hpp"

#ifndef SLUICE_VERSION
#define SLUICE_VERSION "0.1.0"
#endif

namespace sluice::app {

namespace {

constexpr std::string_view usage_text = R"(usage:
  sluice run TOPOLOGY.json [--bootstrap HOST:PORT] [--config FILE] [--set key=value ...]
  sluice validate TOPOLOGY.json
  sluice describe TOPOLOGY.json [--format text|json|dot|mermaid]
  sluice test TOPOLOGY.json [CASE.json ...] [--junit FILE] [--update] [--bootstrap HOST:PORT [--set ...]]
  sluice diff OLD.json NEW.json [--format text|json] [--bootstrap HOST:PORT]
  sluice settings [--markdown] [--config FILE] [--set key=value ...]
  sluice version

`run --reset-store NAME` (repeatable) empties the named operator's store, once, when its definition changed.
`diff` exits 0 when the change is compatible, 1 when it needs attention (a store to reset, state dropped,
outputs changed). Settings come from defaults, --config (JSON), SLUICE_* environment variables and --set, in that order of
precedence (later wins); `sluice settings` lists them. Exit codes: 0 ok, 1 runtime failure, 2 bad input.
)";

struct Arguments {
  std::string command;
  std::optional<std::string> topology_path;
  std::optional<std::string> config_file;
  std::vector<std::string> assignments;
  std::string format = "text";
  bool markdown = false;
  std::vector<std::string> case_paths;  // test: the case files after the topology
  std::optional<std::string> junit;     // test: where to write a JUnit XML report
  bool update = false;                  // test: write what was received as the new expectations
  bool bootstrap_given = false;
  std::optional<std::string> bootstrap;  // as given, for messages (diff's delete commands)
  std::optional<std::string> new_topology_path;  // diff: the new version
  std::vector<std::string> reset_stores;         // run: stores to empty because their definition changed
};

// Parses flags; returns an error message for bad usage.
std::optional<std::string> parse_arguments(const std::vector<std::string>& arguments, Arguments& parsed) {
  if (arguments.empty()) return "no command given";
  parsed.command = arguments[0];
  for (std::size_t i = 1; i < arguments.size(); ++i) {
    const std::string& argument = arguments[i];
    auto value = [&](std::string_view flag) -> std::optional<std::string> {
      std::string prefix = std::string(flag) + "=";
      if (argument.rfind(prefix, 0) == 0) return argument.substr(prefix.size());
      if (argument == flag && i + 1 < arguments.size()) return arguments[++i];
      return std::nullopt;
    };
    auto is_flag = [&](std::string_view flag) {
      return argument == flag || argument.rfind(std::string(flag) + "=", 0) == 0;
    };
    if (is_flag("--bootstrap")) {
      auto bootstrap = value("--bootstrap");
      if (!bootstrap) return "--bootstrap needs HOST:PORT";
      parsed.assignments.push_back("bootstrap_servers=" + *bootstrap);
      parsed.bootstrap_given = true;
      parsed.bootstrap = *bootstrap;
    } else if (is_flag("--config")) {
      auto file = value("--config");
      if (!file) return "--config needs a file";
      parsed.config_file = *file;
    } else if (is_flag("--set")) {
      auto assignment = value("--set");
      if (!assignment) return "--set needs key=value";
      parsed.assignments.push_back(*assignment);
    } else if (is_flag("--format")) {
      auto format = value("--format");
      if (!format) return "--format needs text, json, dot or mermaid";
      parsed.format = *format;
    } else if (argument == "--markdown") {
      parsed.markdown = true;
    } else if (parsed.command == "test" && is_flag("--junit")) {
      auto file = value("--junit");
      if (!file) return "--junit needs a file";
      parsed.junit = *file;
    } else if (parsed.command == "test" && argument == "--update") {
      parsed.update = true;
    } else if (parsed.command == "run" && is_flag("--reset-store")) {
      auto store = value("--reset-store");
      if (!store) return "--reset-store needs an operator name";
      parsed.reset_stores.push_back(*store);
    } else if (!argument.empty() && argument[0] == '-') {
      return "unknown option " + core::quoted(argument);
    } else if (!parsed.topology_path) {
      parsed.topology_path = argument;
    } else if (parsed.command == "test") {
      parsed.case_paths.push_back(argument);
    } else if (parsed.command == "diff" && !parsed.new_topology_path) {
      parsed.new_topology_path = argument;
    } else {
      return "unexpected argument " + core::quoted(argument);
    }
  }
  return std::nullopt;
}

// A path as it is shown at the start of a message line: escaped, and whole unless absurd (PATH_MAX is 4096).
std::string shown_path(std::string_view path) { return core::printable(path, 4096); }

std::optional<topology::Topology> load_topology(const std::string& path, std::ostream& err) {
  auto loaded = topology::load_topology_file(path);
  // Schemas of avro and protobuf sinks (inline or in files) are part of the topology: checked wherever it is loaded.
  if (auto* topology = std::get_if<topology::Topology>(&loaded)) {
    if (auto errors = check_sink_schemas(*topology, path); !errors.empty()) loaded = std::move(errors);
  }
  if (auto* errors = std::get_if<std::vector<topology::ValidationError>>(&loaded)) {
    const std::string shown = shown_path(path);
    for (const auto& error : *errors) err << shown << ": " << error.to_string() << "\n";
    err << shown << ": " << errors->size() << (errors->size() == 1 ? " error" : " errors") << "\n";
    return std::nullopt;
  }
  return std::get<topology::Topology>(std::move(loaded));
}

std::optional<Settings> load(const Arguments& arguments, const std::map<std::string, std::string>& environment,
                             std::ostream& err) {
  SettingsSources sources;
  sources.config_file = arguments.config_file;
  sources.assignments = arguments.assignments;
  sources.environment = environment;
  auto loaded = load_settings(sources);
  if (auto* errors = std::get_if<std::vector<SettingsError>>(&loaded)) {
    for (const auto& error : *errors) err << "setting " << error.to_string() << "\n";
    return std::nullopt;
  }
  return std::get<Settings>(std::move(loaded));
}

// Logs a processing thread stalled inside a Kafka call (the thread itself cannot while it waits), once when the
// stall passes Health::kStalledCallMs and once when the call returns. Checks every second until destroyed.
class StallWatchdog {
 public:
  StallWatchdog(const runtime::InstanceHealth& health, observe::Logger& logger) : health_(health), logger_(logger) {
    thread_ = std::thread([this] { watch(); });
  }
  ~StallWatchdog() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }
  StallWatchdog(const StallWatchdog&) = delete;
  StallWatchdog& operator=(const StallWatchdog&) = delete;

 private:
  void watch() {
    std::vector<std::optional<runtime::Health::Call>> reported(health_.threads());
    std::unique_lock lock(mutex_);
    while (!wake_.wait_for(lock, std::chrono::seconds(1), [this] { return stopping_; })) {
      const std::int64_t now = health_.now_ms();
      for (std::size_t i = 0; i < reported.size(); ++i) {
        auto call = health_.thread(static_cast<int>(i)).current_call();
        auto& seen = reported[i];
        const bool same = call && seen && call->since_ms == seen->since_ms && call->what == seen->what;
        if (seen && !same) {
          logger_.info("app", "processing thread " + std::to_string(i) + ": " + seen->what + " returned after about " +
                                  std::to_string((now - seen->since_ms) / 1000) + " s");
          seen.reset();
        }
        if (call && !seen && now - call->since_ms >= runtime::Health::kStalledCallMs) {
          logger_.warn("app", "processing thread " + std::to_string(i) + " waits for the cluster: " + call->what +
                                  " has not returned for " + std::to_string((now - call->since_ms) / 1000) +
                                  " s; not ready until it does");
          seen = call;
        }
      }
    }
  }

  const runtime::InstanceHealth& health_;
  observe::Logger& logger_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

// SIGTERM and SIGINT are blocked in every thread and taken by one waiting thread, which sets the stop flag;
// this keeps signal handling out of async-signal context and needs no global state.
class SignalWatcher {
 public:
  explicit SignalWatcher(std::atomic<bool>& stop_requested, observe::Logger& logger) {
    sigemptyset(&signals_);
    sigaddset(&signals_, SIGTERM);
    sigaddset(&signals_, SIGINT);
    sigaddset(&signals_, SIGUSR1);  // internal: wakes the watcher at exit
    pthread_sigmask(SIG_BLOCK, &signals_, nullptr);
    thread_ = std::thread([this, &stop_requested, &logger] {
      for (;;) {
        int signal = 0;
        if (sigwait(&signals_, &signal) != 0 || signal == SIGUSR1) return;
        logger.info("app", std::string("received ") + (signal == SIGTERM ? "SIGTERM" : "SIGINT") + ", shutting down");
        if (signalled_.exchange(true)) {
          logger.warn("app", "second signal: exiting at once without committing");
          std::_Exit(exit_failure);
        }
        stop_requested.store(true);
      }
    });
  }
  ~SignalWatcher() {
    pthread_kill(thread_.native_handle(), SIGUSR1);
    thread_.join();
  }
  SignalWatcher(const SignalWatcher&) = delete;
  SignalWatcher& operator=(const SignalWatcher&) = delete;

 private:
  sigset_t signals_;
  std::atomic<bool> signalled_{false};  // a second signal exits at once
  std::thread thread_;
};

int command_run(const Arguments& arguments, const std::map<std::string, std::string>& environment, std::ostream& err) {
  if (!arguments.topology_path) {
    err << "sluice run: which topology? " << usage_text;
    return exit_usage;
  }
  auto topology = load_topology(*arguments.topology_path, err);
  auto settings = load(arguments, environment, err);
  if (!topology || !settings) return exit_usage;
  const AppSettings typed = app_settings(*settings);
  // --reset-store names operators that have a store of their own.
  const auto fingerprints = topology::store_fingerprints(*topology);
  bool unknown_store = false;
  for (const auto& store : arguments.reset_stores) {
    const bool known = std::any_of(fingerprints.begin(), fingerprints.end(),
                                   [&](const topology::StoreFingerprint& print) { return print.store == store; });
    if (!known) {
      std::string stores;
      for (const auto& print : fingerprints) stores += (stores.empty() ? "" : ", ") + print.store;
      err << "--reset-store: " << core::quoted(store) << " is not an operator with a state store"
          << (stores.empty() ? std::string(" (this topology has none)") : "; the stores are " + stores) << "\n";
      unknown_store = true;
    }
  }
  if (unknown_store) return exit_usage;

  core::SystemClock clock;
  observe::Logger logger(std::cerr, typed.log_level, clock);
  std::atomic<bool> stop_requested{false};
  SignalWatcher signals(stop_requested, logger);

  logger.info("app", "sluice " SLUICE_VERSION " starting application " + topology->application_id + " from " +
                         *arguments.topology_path);
  for (const auto& warning : settings->warnings()) logger.warn("app", "setting " + warning);
  for (const auto& [name, value, source] : settings->redacted()) {
    logger.debug("app", "setting " + name + " = " + value + " (" + source + ")");
  }

  observe::Metrics metrics(topology->application_id);
  const int threads = static_cast<int>(typed.processing_threads);
  runtime::InstanceHealth health(threads, clock);
  StallWatchdog watchdog(health, logger);
  runtime::ProcessorOptions options = processor_options(typed, *topology, environment);
  runtime::StoreGuardOptions guard_options;
  guard_options.reset_stores = arguments.reset_stores;
  guard_options.backoff_max_ms = options.startup_backoff_max.count();
  runtime::StoreGuard store_guard(*topology, guard_options);
  options.store_guard = &store_guard;
  const auto liveness_limit_ms = std::max<std::int64_t>(options.max_poll_interval.count(), 30'000);

  observe::HttpServerOptions http_options;
  http_options.address = typed.http_address;
  http_options.port = static_cast<int>(typed.http_port);
  http_options.max_connections = static_cast<std::size_t>(typed.http_max_connections);
  http_options.request_timeout = typed.http_request_timeout;
  http_options.tls_certificate_file = typed.http_tls_cert_file;
  http_options.tls_key_file = typed.http_tls_key_file;
  http_options.bearer_token = typed.http_bearer_token;
  http_options.basic_credentials = typed.http_basic_auth;
  if (http_options.tls_certificate_file.empty() != http_options.tls_key_file.empty()) {
    logger.error("app", "http_tls_cert_file and http_tls_key_file must be set together (HTTPS needs both)");
    return exit_usage;
  }
  if (!http_options.basic_credentials.empty() && http_options.basic_credentials.find(':') == std::string::npos) {
    logger.error("app", "http_basic_auth: expected user:password (the value is not shown)");
    return exit_usage;
  }
  observe::HttpServer http(http_options);
  // Set before any scrape can come (the HTTP server is started below, the registry client later, at most once).
  std::atomic<const formats::SchemaRegistry*> schema_registry{nullptr};
  http.handle("/metrics", [&metrics, &health, &schema_registry] {
    metrics.ready().Set(health.ready() ? 1 : 0);
    if (const formats::SchemaRegistry* registry = schema_registry.load()) {
      const auto& counters = registry->counters();
      metrics.sync_schema_registry(counters.fetches.load(), counters.cache_hits.load(), counters.errors.load());
    }
    return observe::HttpResponse{200, "text/plain; version=0.0.4; charset=utf-8", metrics.render()};
  });
  http.handle("/healthz", [&health, &clock, liveness_limit_ms] {
    std::int64_t silent_ms = clock.monotonic_ns() / 1'000'000 - health.last_beat_ms();
    bool alive = silent_ms < liveness_limit_ms;
    nlohmann::json body = {{"status", alive ? "ok" : "stalled"}, {"loop_silent_ms", silent_ms}};
    return observe::HttpResponse{alive ? 200 : 503, "application/json", body.dump() + "\n"};
  }, observe::HttpRoute::probe);
  http.handle("/readyz", [&health] {
    bool ready = health.ready();
    nlohmann::json body = {{"ready", ready}, {"reason", health.reason()}};
    return observe::HttpResponse{ready ? 200 : 503, "application/json", body.dump() + "\n"};
  }, observe::HttpRoute::probe);
  // Rendered once; control and bidi characters in names and expressions are \u escapes (describe_json_text).
  const std::string description = topology::describe(*topology, topology::DescribeFormat::json);
  http.handle("/topology", [&description] { return observe::HttpResponse{200, "application/json", description}; });
  try {
    http.start();
  } catch (const std::exception& error) {
    logger.error("app", std::string("HTTP server (http_address, http_port, http_tls_*): ") + error.what());
    return exit_usage;
  }
  const std::string scheme = http_options.tls_certificate_file.empty() ? "http" : "https";
  logger.info("app", "HTTP on " + scheme + "://" + typed.http_address + ":" + std::to_string(http.port()) +
                         " (/metrics /healthz /readyz /topology)" +
                         (http.authentication_required() ? "; /metrics and /topology require credentials"
                                                         : "; /metrics and /topology are open to anyone who can "
                                                           "reach the port (see http_bearer_token)"));
  if (!options.instance_id.empty()) logger.info("app", "static group membership as " + options.instance_id);

  // One pipeline (immutable, shared) and one state budget for the whole process; each processing thread
  // has its own consumer, producer, tasks and stores. When one thread fails, the others stop too, so the
  // orchestrator restarts the instance as a whole.
  runtime::Pipeline pipeline(*topology);
  // Avro and Protobuf: the registry client, the sources' decoder and the sinks' registered schemas, before any
  // record flows.
  RegistryBindings registry;
  if (uses_registry(*topology)) {
    switch (set_up_registry(*topology, *arguments.topology_path, typed, stop_requested, health, logger, clock,
                            registry)) {
      case RegistrySetup::ready: break;
      case RegistrySetup::stopped: return exit_ok;
      case RegistrySetup::config_error: return exit_usage;
    }
    pipeline.use_registry(registry.decoder.get(), registry.sinks);
    schema_registry.store(registry.registry.get());
  }
  state::StateOptions state_options;
  state_options.directory = options.state_dir + "/" + topology->application_id;
  state_options.memory_bytes = options.state_memory_bytes;
  options.state_resources = state::make_state_resources(state_options);
  // The production Kafka clients, built here and handed to the runtime, which sees only their interfaces.
  std::unique_ptr<kafka::ClientFactory> clients = kafka::librdkafka_clients();
  // The global tables: one reader for the instance, whose stores every processing thread looks up; each thread
  // waits in open() until they are loaded (its /readyz reason says how far).
  std::unique_ptr<runtime::GlobalTables> global_tables =
      make_global_tables(*topology, pipeline, options, *clients, health, metrics, logger, clock);
  std::vector<runtime::RunOutcome> outcomes(static_cast<std::size_t>(threads), runtime::RunOutcome::stopped);
  auto run_thread = [&](int thread) {
    auto& outcome = outcomes[static_cast<std::size_t>(thread)];
    try {
      runtime::Processor processor(pipeline, thread_options(options, thread), *clients, metrics, logger, clock,
                                   health.thread(thread));
      outcome = processor.run(stop_requested);
    } catch (const kafka::ConfigError& error) {
      logger.error("app", std::string("Kafka configuration: ") + error.what());
      outcome = runtime::RunOutcome::config_error;
    } catch (const std::exception& error) {
      logger.error("app", "processing thread " + std::to_string(thread) + " failed: " + error.what());
      outcome = runtime::RunOutcome::fatal;
    }
    if (outcome != runtime::RunOutcome::stopped) stop_requested.store(true);
  };
  if (threads > 1) logger.info("app", std::to_string(threads) + " processing threads");
  std::vector<std::thread> workers;
  for (int thread = 1; thread < threads; ++thread) workers.emplace_back(run_thread, thread);
  run_thread(0);
  for (auto& worker : workers) worker.join();
  if (global_tables) global_tables->stop();
  http.stop();
  auto has = [&](runtime::RunOutcome wanted) { return std::find(outcomes.begin(), outcomes.end(), wanted) != outcomes.end(); };
  if (has(runtime::RunOutcome::config_error)) return exit_usage;
  if (has(runtime::RunOutcome::fatal)) return exit_failure;
  return exit_ok;
}

int command_describe(const Arguments& arguments, std::ostream& out, std::ostream& err) {
  if (!arguments.topology_path) {
    err << "sluice describe: which topology?\n" << usage_text;
    return exit_usage;
  }
  topology::DescribeFormat format;
  if (arguments.format == "text") {
    format = topology::DescribeFormat::text;
  } else if (arguments.format == "json") {
    format = topology::DescribeFormat::json;
  } else if (arguments.format == "dot") {
    format = topology::DescribeFormat::dot;
  } else if (arguments.format == "mermaid") {
    format = topology::DescribeFormat::mermaid;
  } else {
    err << "--format: " << core::quoted(arguments.format) << " is not a format; expected text, json, dot or mermaid\n";
    return exit_usage;
  }
  auto topology = load_topology(*arguments.topology_path, err);
  if (!topology) return exit_usage;
  out << topology::describe(*topology, format);
  return exit_ok;
}

// `sluice diff OLD NEW`: what deploying NEW over OLD does to the stores, internal topics and outputs.
int command_diff(const Arguments& arguments, std::ostream& out, std::ostream& err) {
  if (!arguments.topology_path || !arguments.new_topology_path) {
    err << "sluice diff: which topologies? (the old version, then the new one)\n" << usage_text;
    return exit_usage;
  }
  if (arguments.format != "text" && arguments.format != "json") {
    err << "--format: " << core::quoted(arguments.format) << " is not a format; expected text or json\n";
    return exit_usage;
  }
  auto before = load_topology(*arguments.topology_path, err);
  auto after = load_topology(*arguments.new_topology_path, err);
  if (!before || !after) return exit_usage;
  const topology::TopologyDiff diff = topology::diff_topologies(*before, *after);
  if (arguments.format == "json") {
    out << diff.to_json().dump(2) << "\n";
  } else {
    out << diff.to_text(arguments.bootstrap.value_or(""));
  }
  return diff.needs_attention() ? exit_failure : exit_ok;
}

std::string xml_escaped(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default:
        // XML 1.0 allows no other control characters than tab, newline and carriage return.
        if (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n' && c != '\r') {
          out += "?";
        } else {
          out += c;
        }
    }
  }
  return out;
}

// The case files of a topology when none are named: every *.json in <topology without .json>.cases/, sorted.
std::vector<std::string> default_case_paths(const std::string& topology_path) {
  namespace fs = std::filesystem;
  fs::path directory = fs::path(topology_path);
  directory.replace_extension(".cases");
  std::vector<std::string> paths;
  std::error_code error;
  for (fs::directory_iterator it(directory, error), end; !error && it != end; it.increment(error)) {
    if (it->path().extension() == ".json") paths.push_back(it->path().string());
  }
  std::sort(paths.begin(), paths.end());
  return paths;
}

int command_test(const Arguments& arguments, const std::map<std::string, std::string>& environment, std::ostream& out,
                 std::ostream& err) {
  if (!arguments.topology_path) {
    err << "sluice test: which topology?\n" << usage_text;
    return exit_usage;
  }
  auto topology = load_topology(*arguments.topology_path, err);
  if (!topology) return exit_usage;
  // --bootstrap: the cases run against that cluster, with the settings (kafka.* properties) run would use.
  std::optional<ClusterCaseOptions> cluster;
  if (arguments.bootstrap_given) {
    auto settings = load(arguments, environment, err);
    if (!settings) return exit_usage;
    cluster.emplace();
    cluster->base = processor_options(app_settings(*settings), *topology, environment);
  }
  std::vector<std::string> paths = arguments.case_paths;
  if (paths.empty()) paths = default_case_paths(*arguments.topology_path);
  if (paths.empty()) {
    std::filesystem::path directory(*arguments.topology_path);
    directory.replace_extension(".cases");
    err << "sluice test: no case files given, and none in " << shown_path(directory.string()) << "\n";
    return exit_usage;
  }
  struct Outcome {
    std::string path;
    std::string name;
    bool bad = false;
    bool passed = false;
    std::string report;
    double seconds = 0;
  };
  std::vector<Outcome> outcomes;
  for (const std::string& path : paths) {
    Outcome outcome;
    outcome.path = path;
    outcome.name = std::filesystem::path(path).stem().string();
    const std::string shown = shown_path(path);
    auto loaded = load_test_case_file(path, *topology);
    if (auto* errors = std::get_if<std::vector<CaseFileError>>(&loaded)) {
      outcome.bad = true;
      for (const auto& error : *errors) {
        err << shown << ": " << core::printable(error.to_string(), 4096) << "\n";
        outcome.report += error.to_string() + "\n";
      }
      out << shown << ": BAD CASE FILE (" << errors->size() << (errors->size() == 1 ? " error" : " errors") << ")\n";
      outcomes.push_back(std::move(outcome));
      continue;
    }
    LoadedCase& test = std::get<LoadedCase>(loaded);
    outcome.name = test.test_case.name;
    const auto started = std::chrono::steady_clock::now();
    CaseResult result = cluster ? run_test_case_on_cluster(test.test_case, *topology, *cluster)
                                : run_test_case(test.test_case, *topology);
    outcome.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    outcome.passed = result.passed;
    outcome.report = result.report;
    const auto milliseconds = static_cast<long long>(outcome.seconds * 1000);
    if (arguments.update && !result.passed) {
      test.document["expect"] = result.actual;
      std::ofstream file(path, std::ios::trunc);
      file << test.document.dump(2) << "\n";
      if (!file) {
        err << shown << ": cannot write the case file\n";
        outcome.bad = true;
      } else {
        out << shown << ": updated (" << test.test_case.steps.size() << " steps)\n";
        outcome.passed = true;
        outcome.report.clear();
      }
    } else if (result.passed) {
      out << shown << ": ok (" << test.test_case.steps.size() << " steps, " << milliseconds << " ms)\n";
    } else {
      out << shown << ": FAILED\n" << result.report;
    }
    outcomes.push_back(std::move(outcome));
  }
  const auto count = [&](auto predicate) { return std::count_if(outcomes.begin(), outcomes.end(), predicate); };
  const auto bad = count([](const Outcome& o) { return o.bad; });
  const auto failed = count([](const Outcome& o) { return !o.bad && !o.passed; });
  out << outcomes.size() << (outcomes.size() == 1 ? " case: " : " cases: ") << outcomes.size() - bad - failed
      << " passed, " << failed << " failed" << (bad > 0 ? ", " + std::to_string(bad) + " bad case files" : "") << "\n";
  if (arguments.junit) {
    std::ofstream file(*arguments.junit, std::ios::trunc);
    double total = 0;
    for (const auto& outcome : outcomes) total += outcome.seconds;
    file << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
         << "<testsuite name=\"" << xml_escaped(topology->application_id) << "\" tests=\"" << outcomes.size()
         << "\" failures=\"" << failed << "\" errors=\"" << bad << "\" time=\"" << total << "\">\n";
    for (const auto& outcome : outcomes) {
      file << "  <testcase classname=\"" << xml_escaped(topology->application_id) << "\" name=\""
           << xml_escaped(outcome.name) << "\" file=\"" << xml_escaped(outcome.path) << "\" time=\"" << outcome.seconds
           << "\"";
      if (outcome.bad) {
        file << ">\n    <error message=\"bad case file\">" << xml_escaped(outcome.report) << "</error>\n  </testcase>\n";
      } else if (!outcome.passed) {
        file << ">\n    <failure message=\"received records differ from the expected ones\">"
             << xml_escaped(outcome.report) << "</failure>\n  </testcase>\n";
      } else {
        file << "/>\n";
      }
    }
    file << "</testsuite>\n";
    if (!file) {
      err << "sluice test: cannot write " << shown_path(*arguments.junit) << "\n";
      return exit_usage;
    }
  }
  if (bad > 0) return exit_usage;
  return failed > 0 ? exit_failure : exit_ok;
}

// Long enough for any real value (a JAAS line, a broker list); a longer one is cut with its length.
constexpr std::size_t kSettingValueMaxBytes = 4096;

int command_settings(const Arguments& arguments, const std::map<std::string, std::string>& environment,
                     std::ostream& out, std::ostream& err) {
  if (arguments.markdown) {
    out << settings_reference_markdown();
    return exit_ok;
  }
  auto settings = load(arguments, environment, err);
  if (!settings) return exit_usage;
  // Values as they are, but escaped: a value with a newline or ESC cannot fake or erase a line of the list.
  for (const auto& [name, value, source] : settings->redacted()) {
    out << core::printable(name) << " = " << core::printable(value, kSettingValueMaxBytes) << "  (" << source << ")\n";
  }
  return exit_ok;
}

}  // namespace

std::string host_name() {
  char host[256] = {};
  return gethostname(host, sizeof host - 1) == 0 && host[0] != '\0' ? std::string(host) : std::string("sluice");
}

std::string process_id(const std::string& directory) {
  namespace fs = std::filesystem;
  const fs::path path = fs::path(directory) / "process-id";
  std::string id;
  if (std::ifstream in(path); in && std::getline(in, id) && !id.empty()) return id;
  std::random_device random;
  char suffix[9];
  std::snprintf(suffix, sizeof suffix, "%08x", static_cast<unsigned>(random()));
  id = host_name() + "-" + suffix;
  std::error_code error;
  fs::create_directories(directory, error);
  // Written to a temporary file and renamed, so a crash never leaves a half-written id behind.
  const fs::path temporary = fs::path(directory) / ("process-id.tmp" + std::string(suffix));
  {
    std::ofstream out(temporary);
    out << id << "\n";
    if (!out.flush()) return host_name();  // no writable state directory: ids stay unique per host only
  }
  fs::rename(temporary, path, error);
  if (error) return host_name();
  return id;
}

// The options every processing thread shares; per-thread ids are derived in thread_options().
runtime::ProcessorOptions processor_options(const AppSettings& settings, const topology::Topology& topology,
                                            const std::map<std::string, std::string>& environment) {
  runtime::ProcessorOptions options;
  options.bootstrap_servers = settings.bootstrap_servers;
  options.kafka = settings.kafka;
  options.commit_interval = settings.commit_interval;
  options.producer_queue_max_records = settings.producer_queue_max_records;
  options.consumer_queue_max_kbytes = settings.consumer_queue_max_kbytes;
  options.max_poll_interval = settings.max_poll_interval;
  options.session_timeout = settings.session_timeout;
  options.shutdown_timeout = settings.shutdown_timeout;
  options.startup_backoff_max = settings.startup_backoff_max;
  options.create_output_topics = settings.create_output_topics;
  options.output_topic_partitions = static_cast<std::int32_t>(settings.output_topic_partitions);
  options.state_dir = settings.state_dir;
  options.state_memory_bytes = settings.state_memory_mb << 20;
  options.state_buffer_max_records = settings.state_buffer_max_records;
  options.window_idle_timeout_ms = settings.window_idle_timeout.count();
  options.max_task_idle_ms = settings.max_task_idle.count();
  options.buffered_records_per_partition = settings.buffered_records_per_partition;
  options.restore_batch_records = settings.restore_batch_records;
  options.max_failed_commits = static_cast<int>(settings.max_failed_commits);
  options.exactly_once = settings.processing_guarantee == ProcessingGuarantee::exactly_once;
  // Static membership: the instance id, else in Kubernetes the host name, which is a StatefulSet pod's stable
  // name (web-0, web-1, ...) and survives restarts of the pod.
  options.instance_id = settings.instance_id;
  if (options.instance_id.empty() && environment.contains("KUBERNETES_SERVICE_HOST")) options.instance_id = host_name();
  options.transaction_timeout = settings.transaction_timeout;
  // Stable per instance, so a restart fences its zombie and aborts its open transaction at once: the instance
  // id, else a process id kept in the state directory.
  options.transactional_id =
      topology.application_id + "-" +
      (options.instance_id.empty() ? process_id(options.state_dir + "/" + topology.application_id)
                                   : options.instance_id);
  return options;
}

// Thread 0 keeps the instance's ids unchanged, so going from one thread to several still fences the old
// single-threaded incarnation; thread i > 0 appends "-<i>" (transactional ids and static member ids must be
// unique per producer and per consumer).
runtime::ProcessorOptions thread_options(const runtime::ProcessorOptions& shared, int thread) {
  runtime::ProcessorOptions options = shared;
  options.thread_index = thread;
  if (thread > 0) {
    const std::string suffix = "-" + std::to_string(thread);
    options.transactional_id += suffix;
    if (!options.instance_id.empty()) options.instance_id += suffix;
  }
  return options;
}

int run_command_line(const std::vector<std::string>& arguments, const std::map<std::string, std::string>& environment,
                     std::ostream& out, std::ostream& err) {
  Arguments parsed;
  if (auto problem = parse_arguments(arguments, parsed)) {
    if (!arguments.empty() && (arguments[0] == "help" || arguments[0] == "--help" || arguments[0] == "-h")) {
      out << usage_text;
      return exit_ok;
    }
    err << "sluice: " << core::printable(*problem, 1024) << "\n" << usage_text;
    return exit_usage;
  }
  if (parsed.command == "help" || parsed.command == "--help" || parsed.command == "-h") {
    out << usage_text;
    return exit_ok;
  }
  if (parsed.command == "version" || parsed.command == "--version") {
    out << "sluice " SLUICE_VERSION "\n";
    return exit_ok;
  }
  if (parsed.command == "validate") {
    if (!parsed.topology_path) {
      err << "sluice validate: which topology?\n" << usage_text;
      return exit_usage;
    }
    auto topology = load_topology(*parsed.topology_path, err);
    if (!topology) return exit_usage;
    out << shown_path(*parsed.topology_path) << ": valid (" << topology->sources.size() << " sources, "
        << topology->operators.size() << " operators, " << topology->sinks.size() << " sinks)\n";
    return exit_ok;
  }
  if (parsed.command == "describe") return command_describe(parsed, out, err);
  if (parsed.command == "settings") return command_settings(parsed, environment, out, err);
  if (parsed.command == "test") return command_test(parsed, environment, out, err);
  if (parsed.command == "diff") return command_diff(parsed, out, err);
  if (parsed.command == "run") return command_run(parsed, environment, err);
  err << "sluice: unknown command " << core::quoted(parsed.command) << "\n" << usage_text;
  return exit_usage;
}

}  // namespace sluice::app
