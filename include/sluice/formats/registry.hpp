// A client of a Confluent-compatible Schema Registry (Confluent's, Apicurio's /apis/ccompat/v6, Karapace): schemas
// fetched by id and cached, schemas registered or looked up under a subject, and the Confluent wire format that
// puts a schema id in front of every record. Thread-safe: one client per instance, shared by its threads.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::formats {

// ---- the Confluent wire format: magic byte 0, the schema id as 4 bytes big-endian, then the body ----
struct Framed {
  std::int32_t schema_id = 0;
  std::string_view body;
};
// nullopt when `bytes` does not start with the magic byte and an id (fewer than 5 bytes, or another first byte).
std::optional<Framed> unframe(std::string_view bytes);
void frame(std::int32_t schema_id, std::string& out);  // appends the 5-byte header

enum class SchemaKind : std::uint8_t { avro, protobuf, json };
std::string_view to_string(SchemaKind kind) noexcept;

struct RegisteredSchema {
  std::int32_t id = 0;
  SchemaKind kind = SchemaKind::avro;
  std::string text;  // the schema as the registry holds it (Avro JSON, a .proto file, JSON Schema)
};

struct RegistryOptions {
  std::vector<std::string> urls;       // base URLs, tried in order: "http://registry:8081", ".../apis/ccompat/v6"
  std::string basic_auth;              // "user:password", empty: none
  std::string ca_file;                 // PEM bundle for https, empty: the system's
  std::chrono::milliseconds timeout{10'000};  // per request
  std::size_t cache_max = 10'000;      // schemas kept by id (least recently used dropped)
};

// What a request came to. `unavailable` (no answer, 5xx, 429, and 401/403: credentials are fixed by an operator,
// not by the record) is worth retrying; the others are answers.
struct RegistryError {
  enum class Kind : std::uint8_t { not_found, refused, unavailable };
  Kind kind = Kind::unavailable;
  int http_status = 0;  // 0: no HTTP answer
  std::string message;  // the registry's own message when it gave one
};

template <typename T>
struct RegistryResult {
  std::optional<T> value;
  RegistryError error;
  bool ok() const noexcept { return value.has_value(); }
};

struct RegistryCounters {
  std::atomic<std::uint64_t> fetches{0};    // requests sent
  std::atomic<std::uint64_t> cache_hits{0};
  std::atomic<std::uint64_t> errors{0};     // requests that failed (not_found included)
};

class SchemaRegistry {
 public:
  explicit SchemaRegistry(RegistryOptions options);
  ~SchemaRegistry();
  SchemaRegistry(const SchemaRegistry&) = delete;
  SchemaRegistry& operator=(const SchemaRegistry&) = delete;

  // GET /schemas/ids/{id}, from the cache when it holds it (a warm cache makes a registry outage invisible).
  RegistryResult<std::shared_ptr<const RegisteredSchema>> schema(std::int32_t id);
  // POST /subjects/{subject}/versions: registers (or finds) the schema, returns its id. A schema the subject's
  // compatibility rules refuse is `refused` with the registry's reason (HTTP 409).
  RegistryResult<std::int32_t> register_schema(const std::string& subject, SchemaKind kind, const std::string& text);
  // GET /subjects/{subject}/versions/{version} ("latest" or a number).
  RegistryResult<RegisteredSchema> subject_version(const std::string& subject, const std::string& version);
  // PUT /config/{subject} {"compatibility": level}: BACKWARD, FORWARD, FULL, NONE (and *_TRANSITIVE).
  RegistryResult<bool> set_compatibility(const std::string& subject, const std::string& level);

  const RegistryCounters& counters() const noexcept { return counters_; }
  // A schema by id answered by a cache above this client (the decoders' parsed schemas).
  void note_cache_hit() noexcept { ++counters_.cache_hits; }
  std::size_t cache_max() const noexcept { return std::max<std::size_t>(1, options_.cache_max); }

  struct Http;  // the transport (libcurl), private

 private:
  struct Response {
    int status = 0;  // 0: no answer
    std::string body;
    std::string transport_error;
  };
  Response request(const std::string& method, const std::string& path, const std::string& body);
  static RegistryError error_of(const Response& response);

  RegistryOptions options_;
  std::unique_ptr<Http> http_;
  RegistryCounters counters_;
  std::mutex mutex_;  // the cache
  std::list<std::int32_t> recency_;
  std::map<std::int32_t, std::pair<std::shared_ptr<const RegisteredSchema>, std::list<std::int32_t>::iterator>> cache_;
};

}  // namespace sluice::formats
