// The Schema Registry client (include/sluice/formats/registry.hpp) over libcurl: one easy handle per request
// (requests are rare: the cache answers the rest), so threads never share a handle.
#include "sluice/formats/registry.hpp"

#include <curl/curl.h>

#include <mutex>

#include <nlohmann/json.hpp>

namespace sluice::formats {

std::optional<Framed> unframe(std::string_view bytes) {
  if (bytes.size() < 5 || bytes[0] != 0) return std::nullopt;
  std::uint32_t id = 0;
  for (std::size_t i = 1; i < 5; ++i) id = (id << 8) | static_cast<std::uint8_t>(bytes[i]);
  return Framed{static_cast<std::int32_t>(id), bytes.substr(5)};
}

void frame(std::int32_t schema_id, std::string& out) {
  out.push_back('\0');
  const auto id = static_cast<std::uint32_t>(schema_id);
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((id >> shift) & 0xff));
}

std::string_view to_string(SchemaKind kind) noexcept {
  switch (kind) {
    case SchemaKind::avro: return "AVRO";
    case SchemaKind::protobuf: return "PROTOBUF";
    case SchemaKind::json: return "JSON";
  }
  return "?";
}

struct SchemaRegistry::Http {
  Http() {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  }
};

namespace {

std::size_t append_body(char* data, std::size_t size, std::size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

std::string escaped_path_part(std::string_view text) {
  std::string out;
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (std::isalnum(byte) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(c);
    } else {
      static constexpr char hex[] = "0123456789ABCDEF";
      out += {'%', hex[byte >> 4], hex[byte & 15]};
    }
  }
  return out;
}

std::optional<SchemaKind> kind_of(const nlohmann::json& document) {
  if (!document.contains("schemaType")) return SchemaKind::avro;  // the registry leaves it out for Avro
  const auto& type = document.at("schemaType");
  if (!type.is_string()) return std::nullopt;
  if (type == "AVRO") return SchemaKind::avro;
  if (type == "PROTOBUF") return SchemaKind::protobuf;
  if (type == "JSON") return SchemaKind::json;
  return std::nullopt;
}

}  // namespace

SchemaRegistry::SchemaRegistry(RegistryOptions options) : options_(std::move(options)), http_(std::make_unique<Http>()) {
  for (auto& url : options_.urls) {
    while (!url.empty() && url.back() == '/') url.pop_back();
  }
}

SchemaRegistry::~SchemaRegistry() = default;

SchemaRegistry::Response SchemaRegistry::request(const std::string& method, const std::string& path,
                                                 const std::string& body) {
  Response response;
  for (const auto& base : options_.urls) {
    ++counters_.fetches;
    CURL* curl = curl_easy_init();
    if (curl == nullptr) {
      response.transport_error = "cannot create an HTTP handle";
      continue;
    }
    std::string received;
    const std::string url = base + path;
    curl_slist* headers = curl_slist_append(nullptr, "Accept: application/vnd.schemaregistry.v1+json, application/json");
    headers = curl_slist_append(headers, "Content-Type: application/vnd.schemaregistry.v1+json");
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.timeout.count()));
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options_.timeout.count()));
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, append_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &received);
    curl_easy_setopt(curl, CURLOPT_MAXFILESIZE, 16L << 20);  // a schema is small; a huge answer is refused
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    if (!options_.basic_auth.empty()) {
      curl_easy_setopt(curl, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
      curl_easy_setopt(curl, CURLOPT_USERPWD, options_.basic_auth.c_str());
    }
    if (!options_.ca_file.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, options_.ca_file.c_str());
    if (method == "POST") {
      curl_easy_setopt(curl, CURLOPT_POST, 1L);
      curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
      curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
    } else if (method != "GET") {
      curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
      if (!body.empty()) curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
    }
    const CURLcode code = curl_easy_perform(curl);
    long status = 0;
    if (code == CURLE_OK) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    if (code != CURLE_OK) {
      response.transport_error = base + ": " + curl_easy_strerror(code);
      ++counters_.errors;
      continue;  // the next URL
    }
    response.status = static_cast<int>(status);
    response.body = std::move(received);
    response.transport_error.clear();
    if (response.status >= 500 || response.status == 429) {
      ++counters_.errors;
      continue;  // another instance of the registry may answer
    }
    if (response.status >= 400) ++counters_.errors;
    return response;
  }
  return response;
}

RegistryError SchemaRegistry::error_of(const Response& response) {
  RegistryError error;
  error.http_status = response.status;
  if (response.status == 0) {
    error.kind = RegistryError::Kind::unavailable;
    error.message = response.transport_error.empty() ? "no registry URL" : response.transport_error;
    return error;
  }
  auto document = nlohmann::json::parse(response.body, nullptr, false);
  if (document.is_object() && document.contains("message") && document.at("message").is_string()) {
    error.message = document.at("message").get<std::string>();
  } else {
    error.message = "HTTP " + std::to_string(response.status);
  }
  if (response.status >= 500 || response.status == 429 || response.status == 401 || response.status == 403) {
    error.kind = RegistryError::Kind::unavailable;
  } else if (response.status == 404) {
    error.kind = RegistryError::Kind::not_found;
  } else {
    error.kind = RegistryError::Kind::refused;
  }
  return error;
}

RegistryResult<std::shared_ptr<const RegisteredSchema>> SchemaRegistry::schema(std::int32_t id) {
  {
    std::lock_guard lock(mutex_);
    if (auto found = cache_.find(id); found != cache_.end()) {
      recency_.splice(recency_.begin(), recency_, found->second.second);
      ++counters_.cache_hits;
      return {found->second.first, {}};
    }
  }
  Response response = request("GET", "/schemas/ids/" + std::to_string(id), "");
  if (response.status != 200) return {std::nullopt, error_of(response)};
  auto document = nlohmann::json::parse(response.body, nullptr, false);
  auto kind = document.is_object() ? kind_of(document) : std::nullopt;
  if (!kind || !document.contains("schema") || !document.at("schema").is_string()) {
    return {std::nullopt, RegistryError{RegistryError::Kind::refused, 200, "the registry's answer for schema id " +
                                                                              std::to_string(id) + " has no schema"}};
  }
  auto schema = std::make_shared<RegisteredSchema>();
  schema->id = id;
  schema->kind = *kind;
  schema->text = document.at("schema").get<std::string>();
  std::lock_guard lock(mutex_);
  if (cache_.count(id) == 0) {
    recency_.push_front(id);
    cache_[id] = {schema, recency_.begin()};
    while (cache_.size() > std::max<std::size_t>(1, options_.cache_max)) {
      cache_.erase(recency_.back());
      recency_.pop_back();
    }
  }
  return {std::shared_ptr<const RegisteredSchema>(schema), {}};
}

RegistryResult<std::int32_t> SchemaRegistry::register_schema(const std::string& subject, SchemaKind kind,
                                                              const std::string& text) {
  nlohmann::json body = {{"schema", text}};
  if (kind != SchemaKind::avro) body["schemaType"] = std::string(to_string(kind));
  Response response = request("POST", "/subjects/" + escaped_path_part(subject) + "/versions", body.dump());
  if (response.status != 200) return {std::nullopt, error_of(response)};
  auto document = nlohmann::json::parse(response.body, nullptr, false);
  if (!document.is_object() || !document.contains("id") || !document.at("id").is_number_integer()) {
    return {std::nullopt, RegistryError{RegistryError::Kind::refused, 200, "the registry's answer has no id"}};
  }
  return {document.at("id").get<std::int32_t>(), {}};
}

RegistryResult<bool> SchemaRegistry::set_compatibility(const std::string& subject, const std::string& level) {
  Response response =
      request("PUT", "/config/" + escaped_path_part(subject), nlohmann::json{{"compatibility", level}}.dump());
  if (response.status != 200) return {std::nullopt, error_of(response)};
  return {true, {}};
}

RegistryResult<RegisteredSchema> SchemaRegistry::subject_version(const std::string& subject, const std::string& version) {
  Response response =
      request("GET", "/subjects/" + escaped_path_part(subject) + "/versions/" + escaped_path_part(version), "");
  if (response.status != 200) return {std::nullopt, error_of(response)};
  auto document = nlohmann::json::parse(response.body, nullptr, false);
  auto kind = document.is_object() ? kind_of(document) : std::nullopt;
  if (!kind || !document.contains("id") || !document.at("id").is_number_integer() || !document.contains("schema") ||
      !document.at("schema").is_string()) {
    return {std::nullopt, RegistryError{RegistryError::Kind::refused, 200, "the registry's answer has no schema"}};
  }
  RegisteredSchema schema;
  schema.id = document.at("id").get<std::int32_t>();
  schema.kind = *kind;
  schema.text = document.at("schema").get<std::string>();
  return {std::move(schema), {}};
}

}  // namespace sluice::formats
