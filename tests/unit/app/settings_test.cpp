#include "sluice/app/settings.hpp"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>

#include <gtest/gtest.h>

namespace sluice::app {
namespace {

// Loads and expects success; on failure prints every error so a broken test explains itself.
Settings load_ok(const SettingsSources& sources) {
  auto result = load_settings(sources);
  if (auto* errors = std::get_if<std::vector<SettingsError>>(&result)) {
    std::string all;
    for (const auto& error : *errors) all += error.to_string() + "\n";
    ADD_FAILURE() << "unexpected settings errors:\n" << all;
    return std::get<Settings>(load_settings({}));
  }
  return std::get<Settings>(std::move(result));
}

std::vector<SettingsError> load_errors(const SettingsSources& sources) {
  auto result = load_settings(sources);
  if (std::holds_alternative<Settings>(result)) {
    ADD_FAILURE() << "expected settings errors, got none";
    return {};
  }
  return std::get<std::vector<SettingsError>>(std::move(result));
}

// The only error of a load that should fail exactly once, as "<origin>: <message>".
std::string single_error(const SettingsSources& sources) {
  const auto errors = load_errors(sources);
  if (errors.size() != 1) {
    std::string all;
    for (const auto& error : errors) all += error.to_string() + "\n";
    ADD_FAILURE() << "expected exactly one error, got " << errors.size() << ":\n" << all;
    return errors.empty() ? "" : errors.front().to_string();
  }
  return errors.front().to_string();
}

SettingsSources with_set(std::vector<std::string> assignments) {
  SettingsSources sources;
  sources.assignments = std::move(assignments);
  return sources;
}

SettingsSources with_environment(std::map<std::string, std::string> environment) {
  SettingsSources sources;
  sources.environment = std::move(environment);
  return sources;
}

// A JSON file in a per-test temporary directory, removed at the end of the test.
class ConfigFile {
 public:
  explicit ConfigFile(const std::string& contents) {
    const auto* test = testing::UnitTest::GetInstance()->current_test_info();
    directory_ = std::filesystem::path(testing::TempDir()) /
                 ("sluice_settings_" + std::string(test->test_suite_name()) + "_" + test->name());
    std::filesystem::create_directories(directory_);
    path_ = (directory_ / "config.json").string();
    std::ofstream(path_) << contents;
  }
  ~ConfigFile() {
    std::error_code ignored;
    std::filesystem::remove_all(directory_, ignored);
  }
  ConfigFile(const ConfigFile&) = delete;
  ConfigFile& operator=(const ConfigFile&) = delete;

  const std::string& path() const { return path_; }
  SettingsSources sources() const {
    SettingsSources sources;
    sources.config_file = path_;
    return sources;
  }

 private:
  std::filesystem::path directory_;
  std::string path_;
};

std::string source_of(const Settings& settings, std::string_view name) {
  for (const auto& [setting, value, source] : settings.redacted()) {
    if (setting == name) return source;
  }
  return "(absent)";
}

std::string shown_value_of(const Settings& settings, std::string_view name) {
  for (const auto& [setting, value, source] : settings.redacted()) {
    if (setting == name) return value;
  }
  return "(absent)";
}

// ---- The table ---------------------------------------------------------------------------------------------

TEST(SettingsFile, HostileNestingIsAnErrorNotACrash) {
  const ConfigFile file("{\"log_level\": " + std::string(100'000, '[') + std::string(100'000, ']') + "}");
  auto loaded = load_settings(file.sources());
  auto* errors = std::get_if<std::vector<SettingsError>>(&loaded);
  ASSERT_NE(errors, nullptr);
  ASSERT_EQ(errors->size(), 1u);
  EXPECT_NE((*errors)[0].message.find("deeper than 256 levels"), std::string::npos) << (*errors)[0].to_string();
}

// Found by fuzz/settings: nlohmann reports a number beyond a double as out_of_range, not as a parse error, and the
// exception left load_settings (`sluice run --config` said "internal error" and exited 1 instead of 2).
TEST(SettingsFile, ANumberBeyondADoubleIsAnErrorNotAnException) {
  const ConfigFile file(R"({"http_port": 8080, "commit_interval": 1e400})");
  std::variant<Settings, std::vector<SettingsError>> loaded = std::vector<SettingsError>{};
  ASSERT_NO_THROW(loaded = load_settings(file.sources()));
  auto* errors = std::get_if<std::vector<SettingsError>>(&loaded);
  ASSERT_NE(errors, nullptr);
  ASSERT_EQ(errors->size(), 1u);
  EXPECT_EQ((*errors)[0].to_string(), file.path() + ": not valid JSON: a number is too large (beyond a double)");
}

// A settings file in YAML holds the same settings as its JSON form; errors name the YAML line.
TEST(SettingsFile, AYamlFileHoldsTheSameSettings) {
  const auto directory = std::filesystem::path(testing::TempDir()) / "sluice_settings_yaml";
  std::filesystem::create_directories(directory);
  const std::string path = (directory / "config.yaml").string();
  std::ofstream(path) << "# durations stay text, numbers are numbers\n"
                         "commit_interval: 2s\n"
                         "http_port: 9100\n"
                         "create_output_topics: false\n"
                         "kafka:\n"
                         "  linger.ms: 5\n"
                         "  enable.idempotence: true\n";
  SettingsSources sources;
  sources.config_file = path;
  const Settings settings = load_ok(sources);
  EXPECT_EQ(settings.duration_ms("commit_interval"), 2'000);
  EXPECT_EQ(settings.integer("http_port"), 9100);
  EXPECT_FALSE(settings.boolean("create_output_topics"));
  std::ofstream(path) << "commit_interval: 2s\nhttp_port: [9100\n";
  auto loaded = load_settings(sources);
  auto* errors = std::get_if<std::vector<SettingsError>>(&loaded);
  ASSERT_NE(errors, nullptr);
  ASSERT_EQ(errors->size(), 1u);
  EXPECT_NE((*errors)[0].message.find("not valid YAML at line"), std::string::npos) << (*errors)[0].to_string();
  std::ofstream(path) << "- a\n- b\n";
  auto list = load_settings(sources);
  ASSERT_TRUE(std::holds_alternative<std::vector<SettingsError>>(list));
  EXPECT_NE(std::get<std::vector<SettingsError>>(list)[0].message.find("must hold a mapping"), std::string::npos);
}

TEST(SettingsTable, NamesAndEnvironmentVariablesAreUnique) {
  std::set<std::string> names;
  std::set<std::string> variables;
  for (const auto& definition : setting_definitions()) {
    EXPECT_TRUE(names.insert(definition.name).second) << definition.name;
    EXPECT_TRUE(variables.insert(environment_variable_for(definition.name)).second) << definition.name;
    EXPECT_FALSE(definition.description.empty()) << definition.name;
  }
}

TEST(SettingsTable, HasTheSpecifiedSettingsInOrder) {
  std::vector<std::string> names;
  for (const auto& definition : setting_definitions()) names.push_back(definition.name);
  EXPECT_EQ(names, (std::vector<std::string>{"bootstrap_servers", "processing_guarantee", "commit_interval", "transaction_timeout",
                                             "max_failed_commits", "http_address", "http_port", "http_max_connections",
                                             "http_request_timeout", "http_tls_cert_file", "http_tls_key_file",
                                             "http_bearer_token", "http_basic_auth", "schema_registry_url",
                                             "schema_registry_basic_auth", "schema_registry_ca_file",
                                             "schema_registry_timeout", "schema_registry_cache_schemas", "log_level",
                                             "instance_id", "processing_threads",
                                             "create_output_topics", "output_topic_partitions", "startup_backoff_max",
                                             "shutdown_timeout", "producer_queue_max_records",
                                             "consumer_queue_max_kbytes", "max_poll_interval", "state_dir", "state_memory_mb", "state_buffer_max_records", "window_idle_timeout", "max_task_idle", "buffered_records_per_partition", "restore_batch_records", "session_timeout"}));
}

TEST(SettingsTable, EveryDefaultIsValid) {
  // load_settings parses the defaults like any other source; an invalid default would be an error here.
  const Settings settings = load_ok({});
  EXPECT_EQ(settings.redacted().size(), setting_definitions().size());
}

// ---- Typed settings ----------------------------------------------------------------------------------------

// Every setting of the table has exactly one field of AppSettings: adding a setting without a field fails here.
TEST(AppSettings, EverySettingHasExactlyOneField) {
  std::multiset<std::string> table;
  for (const auto& definition : setting_definitions()) table.insert(definition.name);
  std::multiset<std::string> mapped;
  for (const auto& field : app_settings_fields()) mapped.insert(std::string(field.name));
  EXPECT_EQ(mapped, table);
  const auto& fields = app_settings_fields();
  for (std::size_t i = 0; i < fields.size(); ++i) {
    for (std::size_t j = i + 1; j < fields.size(); ++j) {
      EXPECT_FALSE(fields[i].member == fields[j].member) << fields[i].name << " and " << fields[j].name;
    }
  }
}

// Each field's type fits its setting (app_settings() reads it with the accessor of that type, which throws on a
// mismatch), and the kafka map is carried over.
TEST(AppSettings, FieldsHoldTheLoadedValues) {
  EXPECT_NO_THROW(app_settings(load_ok({})));
  const AppSettings settings = app_settings(load_ok(with_set(
      {"bootstrap_servers=broker:9093", "processing_guarantee=at_least_once", "commit_interval=250ms",
       "create_output_topics=false", "http_port=9000", "log_level=WARN", "max_failed_commits=3",
       "state_memory_mb=64", "kafka.linger.ms=5"})));
  EXPECT_EQ(settings.bootstrap_servers, "broker:9093");
  EXPECT_EQ(settings.processing_guarantee, ProcessingGuarantee::at_least_once);
  EXPECT_EQ(settings.commit_interval, std::chrono::milliseconds(250));
  EXPECT_FALSE(settings.create_output_topics);
  EXPECT_EQ(settings.http_port, 9000);
  EXPECT_EQ(settings.log_level, sluice::observe::LogLevel::warn);
  EXPECT_EQ(settings.max_failed_commits, 3);
  EXPECT_EQ(settings.state_memory_mb, 64);
  EXPECT_EQ(settings.session_timeout, std::chrono::milliseconds(45'000));
  EXPECT_EQ(settings.kafka, (std::map<std::string, std::string>{{"linger.ms", "5"}}));
}

// Every choice of every choice setting has an enum value, and different choices different values.
TEST(AppSettings, EveryChoiceHasItsOwnEnumValue) {
  for (const auto& field : app_settings_fields()) {
    const auto definition = std::find_if(setting_definitions().begin(), setting_definitions().end(),
                                         [&](const auto& candidate) { return candidate.name == field.name; });
    if (definition == setting_definitions().end() || definition->type != SettingType::choice) continue;
    std::set<int> values;
    for (const auto& choice : definition->choices) {
      const std::string assignment = definition->name + "=" + choice;
      AppSettings settings;
      ASSERT_NO_THROW(settings = app_settings(load_ok(with_set({assignment})))) << assignment;
      values.insert(std::visit(
          [&](auto member) {
            if constexpr (std::is_enum_v<std::remove_reference_t<decltype(settings.*member)>>) {
              return static_cast<int>(settings.*member);
            } else {
              ADD_FAILURE() << definition->name << " is a choice but its field is not an enum";
              return -1;
            }
          },
          field.member));
    }
    EXPECT_EQ(values.size(), definition->choices.size()) << definition->name;
  }
}

// ---- Defaults ----------------------------------------------------------------------------------------------

TEST(SettingsDefaults, HaveTheDocumentedValues) {
  const Settings settings = load_ok({});
  EXPECT_EQ(settings.string("bootstrap_servers"), "127.0.0.1:9092");
  EXPECT_EQ(settings.string("processing_guarantee"), "exactly_once");
  EXPECT_EQ(settings.duration_ms("commit_interval"), 100);
  EXPECT_EQ(settings.string("http_address"), "0.0.0.0");
  EXPECT_EQ(settings.integer("http_port"), 8080);
  EXPECT_EQ(settings.string("log_level"), "info");
  EXPECT_EQ(settings.string("instance_id"), "");
  EXPECT_TRUE(settings.boolean("create_output_topics"));
  EXPECT_EQ(settings.integer("output_topic_partitions"), 0);
  EXPECT_EQ(settings.duration_ms("startup_backoff_max"), 30'000);
  EXPECT_EQ(settings.duration_ms("shutdown_timeout"), 30'000);
  EXPECT_EQ(settings.integer("producer_queue_max_records"), 100'000);
  EXPECT_EQ(settings.integer("consumer_queue_max_kbytes"), 16'384);
  EXPECT_EQ(settings.duration_ms("max_poll_interval"), 300'000);
  EXPECT_EQ(settings.duration_ms("session_timeout"), 45'000);
  EXPECT_EQ(settings.integer("max_failed_commits"), 10);
  EXPECT_TRUE(settings.kafka().empty());
}

TEST(SettingsDefaults, AreReportedWithSourceDefault) {
  const Settings settings = load_ok({});
  for (const auto& [name, value, source] : settings.redacted()) EXPECT_EQ(source, "default") << name;
  EXPECT_EQ(shown_value_of(settings, "commit_interval"), "100ms");
  EXPECT_EQ(shown_value_of(settings, "max_poll_interval"), "5m");
  EXPECT_EQ(shown_value_of(settings, "create_output_topics"), "true");
}

TEST(SettingsAccessors, ThrowOutOfRangeForUnknownNamesAndWrongTypes) {
  const Settings settings = load_ok({});
  EXPECT_THROW((void)settings.string("no_such_setting"), std::out_of_range);
  EXPECT_THROW((void)settings.integer("no_such_setting"), std::out_of_range);
  EXPECT_THROW((void)settings.boolean("no_such_setting"), std::out_of_range);
  EXPECT_THROW((void)settings.duration_ms("no_such_setting"), std::out_of_range);
  EXPECT_THROW((void)settings.integer("commit_interval"), std::out_of_range);
  EXPECT_THROW((void)settings.duration_ms("http_port"), std::out_of_range);
  EXPECT_THROW((void)settings.boolean("log_level"), std::out_of_range);
  EXPECT_THROW((void)settings.string("http_port"), std::out_of_range);
}

TEST(SettingsAccessors, SettingsAreCopyable) {
  const Settings original = load_ok(with_set({"http_port=9000", "kafka.acks=all"}));
  const Settings copy = original;  // NOLINT(performance-unnecessary-copy-initialization): copying is the point
  EXPECT_EQ(copy.integer("http_port"), 9000);
  EXPECT_EQ(copy.kafka().at("acks"), "all");
}

// ---- --set ---------------------------------------------------------------------------------------------

TEST(SettingsSet, OverridesDefaults) {
  const Settings settings = load_ok(with_set({"commit_interval=1m30s", "http_port=9090", "log_level=debug",
                                              "create_output_topics=no", "bootstrap_servers=a:1,b:2"}));
  EXPECT_EQ(settings.duration_ms("commit_interval"), 90'000);
  EXPECT_EQ(settings.integer("http_port"), 9090);
  EXPECT_EQ(settings.string("log_level"), "debug");
  EXPECT_FALSE(settings.boolean("create_output_topics"));
  EXPECT_EQ(settings.string("bootstrap_servers"), "a:1,b:2");
  EXPECT_EQ(source_of(settings, "commit_interval"), "--set");
  EXPECT_EQ(source_of(settings, "http_address"), "default");
}

TEST(SettingsSet, SplitsAtTheFirstEqualsSign) {
  const Settings settings = load_ok(with_set({"kafka.sasl.jaas.config=a=b;c=d", "instance_id="}));
  EXPECT_EQ(settings.kafka().at("sasl.jaas.config"), "a=b;c=d");
  EXPECT_EQ(settings.string("instance_id"), "");
  EXPECT_EQ(source_of(settings, "instance_id"), "--set");
}

TEST(SettingsSet, LastAssignmentOfANameWins) {
  const Settings settings = load_ok(with_set({"http_port=1", "kafka.acks=1", "http_port=2", "kafka.acks=all"}));
  EXPECT_EQ(settings.integer("http_port"), 2);
  EXPECT_EQ(settings.kafka().at("acks"), "all");
}

TEST(SettingsSet, WithoutEqualsSignIsAnError) {
  EXPECT_EQ(single_error(with_set({"commit_interval"})),
            "--set commit_interval: expected name=value, e.g. --set commit_interval=250ms");
  EXPECT_EQ(single_error(with_set({"=5"})),
            "--set: missing the setting name before '=', e.g. --set commit_interval=250ms");
}

TEST(SettingsSet, MalformedSecretAssignmentIsNotEchoed) {
  const std::string error = single_error(with_set({"kafka.sasl.passwordhunter2"}));
  EXPECT_EQ(error.find("hunter2"), std::string::npos) << error;
}

// ---- Values and bounds ---------------------------------------------------------------------------------

TEST(SettingsValues, BooleansAcceptTheDocumentedSpellingsInAnyCase) {
  for (const std::string text : {"true", "TRUE", "1", "yes", "Yes"}) {
    EXPECT_TRUE(load_ok(with_set({"create_output_topics=" + text})).boolean("create_output_topics")) << text;
  }
  for (const std::string text : {"false", "False", "0", "no", "NO"}) {
    EXPECT_FALSE(load_ok(with_set({"create_output_topics=" + text})).boolean("create_output_topics")) << text;
  }
  EXPECT_EQ(single_error(with_set({"create_output_topics=maybe"})),
            "--set create_output_topics: \"maybe\" is not a boolean (true/false, yes/no, 1/0)");
}

TEST(SettingsValues, ChoicesAreCaseInsensitiveAndCanonicalized) {
  EXPECT_EQ(load_ok(with_set({"log_level=WARN"})).string("log_level"), "warn");
  EXPECT_EQ(single_error(with_set({"log_level=trace"})),
            "--set log_level: \"trace\" is not one of debug, info, warn, error");
  EXPECT_EQ(load_ok(with_set({"processing_guarantee=AT_LEAST_ONCE"})).string("processing_guarantee"), "at_least_once");
  EXPECT_EQ(single_error(with_set({"processing_guarantee=exactly_twice"})),
            "--set processing_guarantee: \"exactly_twice\" is not one of exactly_once, at_least_once");
}

TEST(SettingsValues, WrongDurationNamesTheValidForms) {
  EXPECT_EQ(single_error(with_set({"commit_interval=5x"})),
            "--set commit_interval: \"5x\" is not a duration (e.g. 100ms, 30s, 5m); valid range 1ms..1h");
  EXPECT_EQ(single_error(with_set({"commit_interval=100"})),
            "--set commit_interval: \"100\" is not a duration (e.g. 100ms, 30s, 5m); valid range 1ms..1h");
}

TEST(SettingsValues, WrongIntegerNamesTheRange) {
  EXPECT_EQ(single_error(with_set({"http_port=80a"})),
            "--set http_port: \"80a\" is not an integer; valid range 0..65535");
  EXPECT_EQ(single_error(with_set({"http_port=8.5"})),
            "--set http_port: \"8.5\" is not an integer; valid range 0..65535");
  EXPECT_EQ(single_error(with_set({"http_port="})), "--set http_port: \"\" is not an integer; valid range 0..65535");
  EXPECT_EQ(single_error(with_set({"http_port= 80"})),
            "--set http_port: \" 80\" is not an integer; valid range 0..65535");
}

TEST(SettingsBounds, IntegerEdgesAreInclusive) {
  EXPECT_EQ(load_ok(with_set({"http_port=0"})).integer("http_port"), 0);
  EXPECT_EQ(load_ok(with_set({"http_port=65535"})).integer("http_port"), 65535);
  EXPECT_EQ(single_error(with_set({"http_port=65536"})),
            "--set http_port: \"65536\" is out of range; valid range 0..65535");
  EXPECT_EQ(single_error(with_set({"http_port=-1"})), "--set http_port: \"-1\" is out of range; valid range 0..65535");
  EXPECT_EQ(single_error(with_set({"http_port=99999999999999999999"})),
            "--set http_port: \"99999999999999999999\" is out of range; valid range 0..65535");
  EXPECT_EQ(load_ok(with_set({"producer_queue_max_records=1000"})).integer("producer_queue_max_records"), 1000);
  EXPECT_EQ(load_ok(with_set({"producer_queue_max_records=10000000"})).integer("producer_queue_max_records"),
            10'000'000);
  EXPECT_EQ(single_error(with_set({"producer_queue_max_records=999"})),
            "--set producer_queue_max_records: \"999\" is out of range; valid range 1000..10000000");
  EXPECT_EQ(load_ok(with_set({"consumer_queue_max_kbytes=2097151"})).integer("consumer_queue_max_kbytes"), 2'097'151);
  EXPECT_EQ(single_error(with_set({"consumer_queue_max_kbytes=2097152"})),
            "--set consumer_queue_max_kbytes: \"2097152\" is out of range; valid range 1024..2097151");
  EXPECT_EQ(single_error(with_set({"output_topic_partitions=10001"})),
            "--set output_topic_partitions: \"10001\" is out of range; valid range 0..10000");
}

TEST(SettingsBounds, DurationEdgesAreInclusive) {
  EXPECT_EQ(load_ok(with_set({"commit_interval=1ms"})).duration_ms("commit_interval"), 1);
  EXPECT_EQ(load_ok(with_set({"commit_interval=1h"})).duration_ms("commit_interval"), 3'600'000);
  EXPECT_EQ(single_error(with_set({"commit_interval=0"})),
            "--set commit_interval: \"0\" is out of range; valid range 1ms..1h");
  EXPECT_EQ(single_error(with_set({"commit_interval=1h1ms"})),
            "--set commit_interval: \"1h1ms\" is out of range; valid range 1ms..1h");
  EXPECT_EQ(load_ok(with_set({"session_timeout=6s"})).duration_ms("session_timeout"), 6'000);
  EXPECT_EQ(single_error(with_set({"session_timeout=5999ms"})),
            "--set session_timeout: \"5999ms\" is out of range; valid range 6s..30m");
  EXPECT_EQ(load_ok(with_set({"session_timeout=30m"})).duration_ms("session_timeout"), 1'800'000);
  EXPECT_EQ(load_ok(with_set({"startup_backoff_max=100ms"})).duration_ms("startup_backoff_max"), 100);
  EXPECT_EQ(single_error(with_set({"startup_backoff_max=99ms"})),
            "--set startup_backoff_max: \"99ms\" is out of range; valid range 100ms..10m");
  EXPECT_EQ(single_error(with_set({"shutdown_timeout=10m1ms"})),
            "--set shutdown_timeout: \"10m1ms\" is out of range; valid range 1s..10m");
  EXPECT_EQ(single_error(with_set({"max_poll_interval=999ms"})),
            "--set max_poll_interval: \"999ms\" is out of range; valid range 1s..1h");
}

TEST(SettingsValues, AreShownInCanonicalForm) {
  const Settings settings = load_ok(with_set({"commit_interval=90000ms", "create_output_topics=YES"}));
  EXPECT_EQ(shown_value_of(settings, "commit_interval"), "1m30s");
  EXPECT_EQ(shown_value_of(settings, "create_output_topics"), "true");
}

// ---- Unknown names ---------------------------------------------------------------------------------------

TEST(SettingsUnknown, SuggestsTheClosestName) {
  EXPECT_EQ(single_error(with_set({"commit_intervall=5s"})),
            "--set commit_intervall: unknown setting; did you mean commit_interval?");
  EXPECT_EQ(single_error(with_set({"http.port=1"})), "--set http.port: unknown setting; did you mean http_port?");
  EXPECT_EQ(single_error(with_set({"Log_Level=info"})), "--set Log_Level: unknown setting; did you mean log_level?");
  EXPECT_EQ(single_error(with_set({"kafak.linger.ms=5"})),
            "--set kafak.linger.ms: unknown setting; did you mean kafka.linger.ms?");
}

TEST(SettingsUnknown, WithoutACloseNamePointsToTheList) {
  const std::string error = single_error(with_set({"completely_different=1"}));
  EXPECT_EQ(error.find("did you mean"), std::string::npos) << error;
  EXPECT_NE(error.find("unknown setting"), std::string::npos) << error;
  EXPECT_NE(error.find("sluice settings"), std::string::npos) << error;
}

TEST(SettingsUnknown, ValueIsNotEchoed) {
  const std::string error = single_error(with_set({"kafka_sasl_password=hunter2"}));
  EXPECT_EQ(error.find("hunter2"), std::string::npos) << error;
}

// ---- Kafka pass-through ----------------------------------------------------------------------------------

TEST(SettingsKafka, PropertiesArePassedThroughWithoutThePrefix) {
  const Settings settings =
      load_ok(with_set({"kafka.security.protocol=SASL_SSL", "kafka.sasl.mechanism=PLAIN", "kafka.made.up=x"}));
  EXPECT_EQ(settings.kafka(), (std::map<std::string, std::string>{
                                  {"security.protocol", "SASL_SSL"}, {"sasl.mechanism", "PLAIN"}, {"made.up", "x"}}));
  EXPECT_EQ(source_of(settings, "kafka.security.protocol"), "--set");
}

TEST(SettingsKafka, PropertiesSluiceControlsAreRejectedWithTheReason) {
  EXPECT_EQ(single_error(with_set({"kafka.group.id=mine"})),
            "--set kafka.group.id: kafka.group.id cannot be set: the consumer group is always the topology's "
            "application_id");
  EXPECT_EQ(single_error(with_set({"kafka.bootstrap.servers=x:1"})),
            "--set kafka.bootstrap.servers: kafka.bootstrap.servers cannot be set: use bootstrap_servers (or "
            "--bootstrap) instead");
  for (const std::string property : {"enable.auto.commit", "enable.auto.offset.store", "isolation.level",
                                     "transactional.id", "partition.assignment.strategy", "metadata.broker.list",
                                     "group.instance.id", "max.poll.interval.ms", "session.timeout.ms",
                                     "queue.buffering.max.messages", "queued.max.messages.kbytes"}) {
    const std::string error = single_error(with_set({"kafka." + property + "=x"}));
    EXPECT_NE(error.find("kafka." + property + " cannot be set: "), std::string::npos) << error;
  }
  EXPECT_EQ(single_error(with_environment({{"SLUICE_KAFKA_GROUP_ID", "mine"}})),
            "SLUICE_KAFKA_GROUP_ID: kafka.group.id cannot be set: the consumer group is always the topology's "
            "application_id");
}

TEST(SettingsKafka, EmptyPropertyNameIsAnError) {
  EXPECT_EQ(single_error(with_set({"kafka.=x"})),
            "--set kafka.: missing the librdkafka property name after \"kafka.\"");
}

// ---- Secrets ------------------------------------------------------------------------------------------------

TEST(SettingsSecrets, SecretNamesFollowTheRule) {
  for (const std::string name : {"kafka.sasl.password", "kafka.ssl.key.password", "kafka.ssl.keystore.password",
                                 "kafka.ssl.keystore.location", "kafka.ssl.key.pem", "kafka.sasl.oauthbearer.config",
                                 "kafka.sasl.oauthbearer.client.secret", "kafka.sasl.jaas.config",
                                 "KAFKA.SASL.PASSWORD", "kafka.ssl_key"}) {
    EXPECT_TRUE(is_secret_setting(name)) << name;
  }
  for (const std::string name : {"kafka.sasl.username", "kafka.ssl.key.location", "kafka.ssl.ca.location",
                                 "kafka.security.protocol", "commit_interval", "bootstrap_servers"}) {
    EXPECT_FALSE(is_secret_setting(name)) << name;
  }
}

TEST(SettingsSecrets, AreRedactedAndNeverShown) {
  SettingsSources sources = with_set({"kafka.sasl.password=hunter2", "kafka.sasl.username=alice"});
  sources.environment = {{"SLUICE_KAFKA_SSL_KEY_PASSWORD", "swordfish"}};
  const Settings settings = load_ok(sources);
  // librdkafka still needs the real values.
  EXPECT_EQ(settings.kafka().at("sasl.password"), "hunter2");
  EXPECT_EQ(settings.kafka().at("ssl.key.password"), "swordfish");

  EXPECT_EQ(shown_value_of(settings, "kafka.sasl.password"), "********");
  EXPECT_EQ(shown_value_of(settings, "kafka.ssl.key.password"), "********");
  EXPECT_EQ(shown_value_of(settings, "kafka.sasl.username"), "alice");
  EXPECT_EQ(source_of(settings, "kafka.ssl.key.password"), "env");
  for (const auto& [name, value, source] : settings.redacted()) {
    for (const std::string secret : {"hunter2", "swordfish"}) {
      EXPECT_EQ(name.find(secret), std::string::npos);
      EXPECT_EQ(value.find(secret), std::string::npos) << name;
      EXPECT_EQ(source.find(secret), std::string::npos) << name;
    }
  }
}

// ---- Environment ---------------------------------------------------------------------------------------

TEST(SettingsEnvironment, NameMappingWorksBothWays) {
  EXPECT_EQ(environment_variable_for("commit_interval"), "SLUICE_COMMIT_INTERVAL");
  EXPECT_EQ(environment_variable_for("kafka.sasl.password"), "SLUICE_KAFKA_SASL_PASSWORD");
  for (const auto& definition : setting_definitions()) {
    EXPECT_EQ(setting_for_environment_variable(environment_variable_for(definition.name)), definition.name);
  }
  EXPECT_EQ(setting_for_environment_variable("SLUICE_KAFKA_SASL_PASSWORD"), "kafka.sasl.password");
  EXPECT_EQ(setting_for_environment_variable("SLUICE_KAFKA_SECURITY_PROTOCOL"), "kafka.security.protocol");
  EXPECT_EQ(setting_for_environment_variable("SLUICE_NOT_A_SETTING"), std::nullopt);
  EXPECT_EQ(setting_for_environment_variable("HOME"), std::nullopt);
  EXPECT_EQ(setting_for_environment_variable("SLUICE_KAFKA_PORT"), std::nullopt);  // a script variable
}

TEST(SettingsEnvironment, SetsSettingsAndKafkaProperties) {
  const Settings settings = load_ok(with_environment({{"SLUICE_COMMIT_INTERVAL", "250ms"},
                                                      {"SLUICE_LOG_LEVEL", "DEBUG"},
                                                      {"SLUICE_KAFKA_SECURITY_PROTOCOL", "SASL_SSL"},
                                                      {"HOME", "/root"},
                                                      {"PATH", "/bin"}}));
  EXPECT_EQ(settings.duration_ms("commit_interval"), 250);
  EXPECT_EQ(settings.string("log_level"), "debug");
  EXPECT_EQ(settings.kafka().at("security.protocol"), "SASL_SSL");
  EXPECT_EQ(source_of(settings, "commit_interval"), "env");
  EXPECT_EQ(source_of(settings, "kafka.security.protocol"), "env");
}

TEST(SettingsEnvironment, ScriptVariablesAreIgnored) {
  const Settings settings = load_ok(with_environment({{"SLUICE_TEST_BOOTSTRAP", "127.0.0.1:19092"},
                                                      {"SLUICE_KAFKA_PORT", "19092"},
                                                      {"SLUICE_KAFKA_DIR", "/tmp/kafka"},
                                                      {"SLUICE_KAFKA_HEAP", "512m"},
                                                      {"SLUICE_CACHE", "/tmp/cache"},
                                                      {"SLUICE_BUILD_DIR", "build"}}));
  EXPECT_TRUE(settings.kafka().empty());
  EXPECT_EQ(settings.string("bootstrap_servers"), "127.0.0.1:9092");
}

TEST(SettingsEnvironment, UnknownVariablesAreWarningsWithSuggestions) {
  // Warnings, not errors: Kubernetes injects SLUICE_PORT, SLUICE_SERVICE_HOST... for a Service named "sluice".
  auto warnings_of = [](std::map<std::string, std::string> environment) {
    SettingsSources sources;
    sources.environment = std::move(environment);
    auto loaded = load_settings(sources);
    EXPECT_TRUE(std::holds_alternative<Settings>(loaded));
    return std::get<Settings>(loaded).warnings();
  };
  EXPECT_EQ(warnings_of({{"SLUICE_COMMIT_INTERVALL", "5s"}}),
            std::vector<std::string>{"SLUICE_COMMIT_INTERVALL: unknown setting; did you mean SLUICE_COMMIT_INTERVAL "
                                     "(commit_interval)? (ignored)"});
  EXPECT_EQ(warnings_of({{"SLUICE_KAFAK_LINGER_MS", "5"}}),
            std::vector<std::string>{"SLUICE_KAFAK_LINGER_MS: unknown setting; did you mean SLUICE_KAFKA_LINGER_MS "
                                     "(kafka.linger.ms)? (ignored)"});
  const auto warnings = warnings_of({{"SLUICE_SERVICE_HOST", "10.0.0.1"}, {"SLUICE_PORT", "tcp://10.0.0.1:8080"}});
  ASSERT_EQ(warnings.size(), 2u);
  EXPECT_EQ(warnings[0].find("SLUICE_PORT: unknown setting"), 0U) << warnings[0];
}

TEST(SettingsEnvironment, WrongValueNamesTheVariable) {
  EXPECT_EQ(single_error(with_environment({{"SLUICE_HTTP_PORT", "http"}})),
            "SLUICE_HTTP_PORT: \"http\" is not an integer; valid range 0..65535");
}

// ---- Config file ---------------------------------------------------------------------------------------

TEST(SettingsFile, ReadsStringsNumbersAndBooleans) {
  const ConfigFile file(R"({"commit_interval": "2s", "http_port": 9100, "create_output_topics": false,
                           "instance_id": "node-1", "kafka": {"linger.ms": 5, "enable.idempotence": true}})");
  const Settings settings = load_ok(file.sources());
  EXPECT_EQ(settings.duration_ms("commit_interval"), 2'000);
  EXPECT_EQ(settings.integer("http_port"), 9100);
  EXPECT_FALSE(settings.boolean("create_output_topics"));
  EXPECT_EQ(settings.string("instance_id"), "node-1");
  EXPECT_EQ(settings.kafka().at("linger.ms"), "5");
  EXPECT_EQ(settings.kafka().at("enable.idempotence"), "true");
  EXPECT_EQ(source_of(settings, "http_port"), "file");
  EXPECT_EQ(source_of(settings, "kafka.linger.ms"), "file");
  EXPECT_EQ(source_of(settings, "log_level"), "default");
}

TEST(SettingsFile, NestedAndDottedNamesAreTheSame) {
  const ConfigFile nested(R"({"kafka": {"security.protocol": "SSL", "ssl": {"ca": {"location": "/ca.pem"}}}})");
  const Settings from_nested = load_ok(nested.sources());
  const ConfigFile dotted(R"({"kafka.security.protocol": "SSL", "kafka.ssl.ca.location": "/ca.pem"})");
  const Settings from_dotted = load_ok(dotted.sources());
  EXPECT_EQ(from_nested.kafka(), from_dotted.kafka());
  EXPECT_EQ(from_nested.kafka(), (std::map<std::string, std::string>{{"security.protocol", "SSL"},
                                                                      {"ssl.ca.location", "/ca.pem"}}));
}

TEST(SettingsFile, SameNameNestedAndDottedIsAnError) {
  const ConfigFile file(R"({"kafka": {"acks": "1"}, "kafka.acks": "all"})");
  EXPECT_EQ(single_error(file.sources()),
            file.path() + ": /kafka.acks: kafka.acks is also set at /kafka/acks; set it once");
}

TEST(SettingsFile, ErrorsNameTheFileAndJsonPointer) {
  const ConfigFile file(R"({"http_port": 70000, "log_level": null, "kafka": {"a/b~c": [1]}, "http": {"port": 1}})");
  const auto errors = load_errors(file.sources());
  std::vector<std::string> texts;
  for (const auto& error : errors) texts.push_back(error.to_string());
  const std::string& path = file.path();
  EXPECT_EQ(texts, (std::vector<std::string>{
                       path + ": /http/port: unknown setting; did you mean http_port?",
                       path + ": /http_port: \"70000\" is out of range; valid range 0..65535",
                       path + ": /kafka/a~1b~0c: must be a string, number or boolean, not array",
                       path + ": /log_level: must be a string, number or boolean, not null",
                   }));
}

TEST(SettingsFile, NumbersForDurationsNeedAUnit) {
  const ConfigFile file(R"({"commit_interval": 100})");
  EXPECT_EQ(single_error(file.sources()),
            file.path() + ": /commit_interval: \"100\" is not a duration (e.g. 100ms, 30s, 5m); valid range 1ms..1h");
}

TEST(SettingsFile, SyntaxErrorIsOneErrorWithLineAndColumn) {
  const ConfigFile file("{\n  \"http_port\": 80,\n  oops\n}\n");
  const std::string error = single_error(file.sources());
  EXPECT_EQ(error.find(file.path() + ": not valid JSON at line 3, column 3: "), 0U) << error;
}

TEST(SettingsFile, SyntaxErrorDoesNotEchoTheFile) {
  const ConfigFile file("{\"kafka.sasl.password\": \"hunter2\" \"commit_interval\": \"1s\"}");
  const std::string error = single_error(file.sources());
  EXPECT_EQ(error.find("hunter2"), std::string::npos) << error;
  EXPECT_EQ(error, file.path() + ": not valid JSON at line 1, column 51: syntax error while parsing object - "
                                 "unexpected string literal; expected '}'");
}

TEST(SettingsFile, TopLevelMustBeAnObject) {
  const ConfigFile file("[1, 2]");
  const std::string error = single_error(file.sources());
  EXPECT_EQ(error.find(file.path() + ": the config file must hold a JSON object of settings"), 0U) << error;
}

TEST(SettingsFile, MissingFileIsOneErrorNamingThePath) {
  SettingsSources sources;
  sources.config_file = "/nonexistent/sluice/config.json";
  EXPECT_EQ(single_error(sources),
            "/nonexistent/sluice/config.json: cannot read the config file: No such file or directory");
}

TEST(SettingsFile, DirectoryIsOneErrorNamingThePath) {
  SettingsSources sources;
  sources.config_file = testing::TempDir();
  EXPECT_EQ(single_error(sources), testing::TempDir() + ": cannot read the config file: it is a directory");
}

// ---- Precedence and reporting ----------------------------------------------------------------------------

TEST(SettingsPrecedence, DefaultsThenFileThenEnvironmentThenSet) {
  const ConfigFile file(R"({"http_port": 1001, "log_level": "warn", "commit_interval": "1s",
                           "kafka": {"acks": "0", "linger.ms": "1"}})");
  SettingsSources sources = file.sources();
  sources.environment = {{"SLUICE_LOG_LEVEL", "error"}, {"SLUICE_COMMIT_INTERVAL", "2s"}, {"SLUICE_KAFKA_ACKS", "1"}};
  sources.assignments = {"commit_interval=3s", "kafka.acks=all"};
  const Settings settings = load_ok(sources);

  EXPECT_EQ(settings.string("http_address"), "0.0.0.0");
  EXPECT_EQ(source_of(settings, "http_address"), "default");
  EXPECT_EQ(settings.integer("http_port"), 1001);
  EXPECT_EQ(source_of(settings, "http_port"), "file");
  EXPECT_EQ(settings.string("log_level"), "error");
  EXPECT_EQ(source_of(settings, "log_level"), "env");
  EXPECT_EQ(settings.duration_ms("commit_interval"), 3'000);
  EXPECT_EQ(source_of(settings, "commit_interval"), "--set");
  EXPECT_EQ(settings.kafka().at("acks"), "all");
  EXPECT_EQ(source_of(settings, "kafka.acks"), "--set");
  EXPECT_EQ(settings.kafka().at("linger.ms"), "1");
  EXPECT_EQ(source_of(settings, "kafka.linger.ms"), "file");
}

TEST(SettingsReporting, EveryErrorIsReportedTogetherInSourceOrder) {
  const ConfigFile file(R"({"http_port": "eighty"})");
  SettingsSources sources = file.sources();
  sources.environment = {{"SLUICE_LOG_LEVEL", "loud"}, {"SLUICE_COMIT_INTERVAL", "1s"}};  // the typo only warns
  sources.assignments = {"commit_interval=5x", "shutdown_timeout=1h", "kafka.group.id=g", "no_equals",
                         "typo_setting=1"};
  const auto errors = load_errors(sources);
  std::vector<std::string> origins;
  for (const auto& error : errors) origins.push_back(error.origin);
  // File (in key order), then environment (by variable name), then --set (in command-line order).
  EXPECT_EQ(origins, (std::vector<std::string>{file.path() + ": /http_port", "SLUICE_LOG_LEVEL", "--set commit_interval", "--set shutdown_timeout",
                                               "--set kafka.group.id", "--set no_equals", "--set typo_setting"}));
}

TEST(SettingsReporting, InvalidValueIsReportedEvenWhenOverridden) {
  SettingsSources sources = with_set({"http_port=99999", "http_port=80"});
  EXPECT_EQ(single_error(sources), "--set http_port: \"99999\" is out of range; valid range 0..65535");
}

TEST(SettingsReporting, ErrorToStringJoinsOriginAndMessage) {
  const SettingsError error{"SLUICE_HTTP_PORT", "bad"};
  EXPECT_EQ(error.to_string(), "SLUICE_HTTP_PORT: bad");
}

// ---- Reference documentation -----------------------------------------------------------------------------

TEST(SettingsReference, MentionsEverySettingAndVariable) {
  const std::string markdown = settings_reference_markdown();
  for (const auto& definition : setting_definitions()) {
    EXPECT_NE(markdown.find("| `" + definition.name + "` |"), std::string::npos) << definition.name;
    EXPECT_NE(markdown.find(environment_variable_for(definition.name)), std::string::npos) << definition.name;
  }
  for (const std::string variable : {"SLUICE_TEST_BOOTSTRAP", "SLUICE_KAFKA_PORT", "SLUICE_KAFKA_DIR",
                                     "SLUICE_KAFKA_HEAP", "SLUICE_CACHE", "SLUICE_BUILD_DIR"}) {
    EXPECT_NE(markdown.find(variable), std::string::npos) << variable;
  }
  EXPECT_NE(markdown.find("`kafka.group.id`"), std::string::npos);
}

// docs/settings.md is generated; this keeps it from drifting from the table.
TEST(SettingsReference, DocsFileIsUpToDate) {
  const std::filesystem::path docs = std::filesystem::path(SLUICE_SOURCE_DIR) / "docs" / "settings.md";
  const std::string expected = settings_reference_markdown();
  const char* regenerate = std::getenv("SLUICE_REGENERATE_DOCS");
  if (regenerate != nullptr && std::string(regenerate) == "1") {
    std::ofstream(docs, std::ios::binary | std::ios::trunc) << expected;
    SUCCEED() << "rewrote " << docs;
    return;
  }
  std::ifstream file(docs, std::ios::binary);
  std::ostringstream actual;
  actual << file.rdbuf();
  EXPECT_TRUE(file.is_open() && actual.str() == expected)
      << docs.string() << " is missing or out of date with settings_reference_markdown(). Regenerate it with:\n"
      << "  SLUICE_REGENERATE_DOCS=1 <build>/tests/unit_app --gtest_filter='SettingsReference.DocsFileIsUpToDate'\n"
      << "and commit the result.";
}

// ---- Hostile text and files (issue 11) ----------------------------------------------------------------------

// True when `text` has a byte a terminal acts on (C0, DEL) or a bidi override (U+202E).
bool has_raw_control(std::string_view text) {
  return std::any_of(text.begin(), text.end(), [](char c) {
           const auto byte = static_cast<unsigned char>(c);
           return byte < 0x20 || byte == 0x7F;
         }) ||
         text.find("\u202e") != std::string_view::npos;
}

TEST(SettingsEscape, AValueWithControlCharactersIsEscapedInItsError) {
  const std::string error = single_error(with_set({"commit_interval=5s\n--set commit_interval: ok\x1b[2K\r\u202e"}));
  EXPECT_FALSE(has_raw_control(error)) << error;
  EXPECT_EQ(error,
            "--set commit_interval: \"5s\\n--set commit_interval: ok\\x1b[2K\\r\\u202e\" is not a duration (e.g. "
            "100ms, 30s, 5m); valid range 1ms..1h");
}

TEST(SettingsEscape, ANameWithControlCharactersIsEscapedInItsError) {
  const std::string error = single_error(with_set({"commit\x1b[2K_interval\n=5s"}));
  EXPECT_FALSE(has_raw_control(error)) << error;
  EXPECT_NE(error.find("commit\\x1b[2K_interval\\n"), std::string::npos) << error;
  const std::string variable = single_error(with_environment({{"SLUICE_COMMIT_INTERVAL", "\x1b]0;title\x07"}}));
  EXPECT_FALSE(has_raw_control(variable)) << variable;
}

TEST(SettingsEscape, ALongValueIsCutWithItsLength) {
  const std::string error = single_error(with_set({"commit_interval=" + std::string(1'000'000, '9') + "x"}));
  EXPECT_LE(error.size(), 400u);
  EXPECT_NE(error.find("...(1000001 bytes)"), std::string::npos) << error;
}

TEST(SettingsEscape, ASecretStaysMaskedNotMerelyEscaped) {
  // No '=': the whole text is the "name", and it looks like a secret.
  const std::string error = single_error(with_set({"kafka.sasl.password\x1b[2Khunter2\n"}));
  EXPECT_EQ(error.find("hunter2"), std::string::npos) << error;
  EXPECT_FALSE(has_raw_control(error)) << error;
}

TEST(SettingsFile, AFileOverTheSizeLimitIsAnErrorNamingTheLimitAndTheSize) {
  // Valid JSON: only the size can be the reason.
  const std::string contents = "{\"instance_id\": \"" + std::string(16u << 20, 'i') + "\"}";
  const ConfigFile file(contents);
  auto loaded = load_settings(file.sources());
  auto* errors = std::get_if<std::vector<SettingsError>>(&loaded);
  ASSERT_NE(errors, nullptr);
  ASSERT_EQ(errors->size(), 1u);
  EXPECT_EQ((*errors)[0].to_string(), file.path() + ": the config file is " + std::to_string(contents.size()) +
                                          " bytes long; the limit is 16 MiB (16777216 bytes)");
}

}  // namespace
}  // namespace sluice::app
