// The Schema Registry client against a scripted HTTP server on 127.0.0.1 (the real registry's interoperability is
// an integration test): the cache, failover between URLs, what each kind of answer becomes, the wire format.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "sluice/core/json.hpp"
#include "sluice/formats/registry_codec.hpp"
#include "sluice/formats/registry.hpp"

namespace sluice::formats {
namespace {

// Answers each request with what `answer` returns for its request line and body; records the requests.
class ScriptedServer {
 public:
  struct Reply {
    int status = 200;
    std::string body;
  };
  explicit ScriptedServer(std::function<Reply(const std::string& line, const std::string& request)> answer)
      : answer_(std::move(answer)) {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;
    EXPECT_EQ(::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    EXPECT_EQ(::listen(listener_, 16), 0);
    socklen_t length = sizeof address;
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~ScriptedServer() {
    stopping_ = true;
    ::shutdown(listener_, SHUT_RDWR);
    ::close(listener_);
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<std::string> requests() {
    std::lock_guard lock(mutex_);
    return requests_;
  }

 private:
  void serve() {
    while (!stopping_) {
      const int client = ::accept(listener_, nullptr, nullptr);
      if (client < 0) return;
      std::string request;
      char buffer[4096];
      // Read the head, then the body by Content-Length.
      std::size_t head_end = std::string::npos;
      std::size_t wanted = 0;
      for (;;) {
        const ssize_t got = ::recv(client, buffer, sizeof buffer, 0);
        if (got <= 0) break;
        request.append(buffer, static_cast<std::size_t>(got));
        if (head_end == std::string::npos && (head_end = request.find("\r\n\r\n")) != std::string::npos) {
          const auto at = request.find("Content-Length: ");
          const std::size_t body = at == std::string::npos ? 0 : std::stoul(request.substr(at + 16));
          wanted = head_end + 4 + body;
        }
        if (head_end != std::string::npos && request.size() >= wanted) break;
      }
      const std::string line = request.substr(0, request.find("\r\n"));
      {
        std::lock_guard lock(mutex_);
        requests_.push_back(request);
      }
      const Reply reply = answer_(line, request);
      const std::string response = "HTTP/1.1 " + std::to_string(reply.status) + " X\r\nContent-Type: application/json\r\n" +
                                   "Content-Length: " + std::to_string(reply.body.size()) +
                                   "\r\nConnection: close\r\n\r\n" + reply.body;
      (void)::send(client, response.data(), response.size(), MSG_NOSIGNAL);
      ::close(client);
    }
  }

  std::function<Reply(const std::string&, const std::string&)> answer_;
  int listener_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::mutex mutex_;
  std::vector<std::string> requests_;
  std::thread thread_;
};

constexpr const char* kSchema = R"({"schema": "{\"type\": \"string\"}"})";

TEST(WireFormat, FramesAndUnframes) {
  std::string framed;
  frame(0x01020304, framed);
  framed += "body";
  EXPECT_EQ(framed.substr(0, 5), std::string("\0\x01\x02\x03\x04", 5));
  auto read = unframe(framed);
  ASSERT_TRUE(read);
  EXPECT_EQ(read->schema_id, 0x01020304);
  EXPECT_EQ(read->body, "body");
  EXPECT_FALSE(unframe(std::string("\0\x01\x02\x03", 4)));   // too short
  EXPECT_FALSE(unframe(std::string("\x01\0\0\0\x01x", 6)));  // another magic byte
  EXPECT_FALSE(unframe("{\"json\": 1}"));
}

TEST(SchemaRegistryClient, FetchesByIdOnceThenFromTheCache) {
  ScriptedServer server([](const std::string& line, const std::string&) -> ScriptedServer::Reply {
    if (line == "GET /apis/ccompat/v6/schemas/ids/7 HTTP/1.1") return {200, kSchema};
    if (line == "GET /apis/ccompat/v6/schemas/ids/8 HTTP/1.1") {
      return {200, R"({"schema": "syntax = \"proto3\"; message M {}", "schemaType": "PROTOBUF"})"};
    }
    return {404, R"({"error_code": 40403, "message": "Schema not found"})"};
  });
  SchemaRegistry registry({{server.url() + "/apis/ccompat/v6/"}, "user:secret", "", std::chrono::milliseconds(2000), 10});
  auto first = registry.schema(7);
  ASSERT_TRUE(first.ok()) << first.error.message;
  EXPECT_EQ((*first.value)->text, R"({"type": "string"})");
  EXPECT_EQ((*first.value)->kind, SchemaKind::avro);
  auto again = registry.schema(7);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(server.requests().size(), 1U);
  EXPECT_EQ(registry.counters().cache_hits.load(), 1U);
  // Basic auth as configured: "user:secret" in base64.
  EXPECT_NE(server.requests()[0].find("Authorization: Basic dXNlcjpzZWNyZXQ="), std::string::npos);
  auto proto = registry.schema(8);
  ASSERT_TRUE(proto.ok());
  EXPECT_EQ((*proto.value)->kind, SchemaKind::protobuf);

  auto missing = registry.schema(9);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error.kind, RegistryError::Kind::not_found);
  EXPECT_EQ(missing.error.http_status, 404);
  EXPECT_EQ(missing.error.message, "Schema not found");
  EXPECT_EQ(registry.counters().errors.load(), 1U);
}

TEST(SchemaRegistryClient, TheCacheIsBounded) {
  ScriptedServer server([](const std::string&, const std::string&) -> ScriptedServer::Reply { return {200, kSchema}; });
  SchemaRegistry registry({{server.url()}, "", "", std::chrono::milliseconds(2000), 2});
  for (int id : {1, 2, 1, 3, 1, 2}) ASSERT_TRUE(registry.schema(id).ok());
  // 1, 2 fetched; 1 hit; 3 fetched (2 dropped, least recently used); 1 hit; 2 fetched again.
  EXPECT_EQ(server.requests().size(), 4U);
  EXPECT_EQ(registry.counters().cache_hits.load(), 2U);
}

TEST(SchemaRegistryClient, AnUnavailableRegistryIsRetriedOnTheNextUrlAndReportedAsUnavailable) {
  ScriptedServer failing([](const std::string&, const std::string&) -> ScriptedServer::Reply {
    return {503, R"({"message": "down for maintenance"})"};
  });
  ScriptedServer working([](const std::string&, const std::string&) -> ScriptedServer::Reply { return {200, kSchema}; });
  SchemaRegistry registry({{failing.url(), working.url()}, "", "", std::chrono::milliseconds(2000), 10});
  EXPECT_TRUE(registry.schema(1).ok());
  EXPECT_EQ(failing.requests().size(), 1U);

  SchemaRegistry only_failing({{failing.url()}, "", "", std::chrono::milliseconds(2000), 10});
  auto answer = only_failing.schema(1);
  ASSERT_FALSE(answer.ok());
  EXPECT_EQ(answer.error.kind, RegistryError::Kind::unavailable);
  EXPECT_EQ(answer.error.message, "down for maintenance");

  // Nothing listens: no HTTP answer at all.
  int closed_port = 0;
  {
    ScriptedServer gone([](const std::string&, const std::string&) -> ScriptedServer::Reply { return {200, ""}; });
    closed_port = std::stoi(gone.url().substr(gone.url().rfind(':') + 1));
  }
  SchemaRegistry unreachable({{"http://127.0.0.1:" + std::to_string(closed_port)}, "", "",
                              std::chrono::milliseconds(2000), 10});
  auto none = unreachable.schema(1);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error.kind, RegistryError::Kind::unavailable);
  EXPECT_EQ(none.error.http_status, 0);
  EXPECT_NE(none.error.message.find("127.0.0.1"), std::string::npos) << none.error.message;
}

TEST(SchemaRegistryClient, RegistersUnderAnEscapedSubjectAndReportsAnIncompatibleSchema) {
  ScriptedServer server([](const std::string& line, const std::string& request) -> ScriptedServer::Reply {
    if (line == "POST /subjects/orders%2Fv1-value/versions HTTP/1.1") {
      if (request.find(R"("schemaType":"PROTOBUF")") != std::string::npos) return {200, R"({"id": 12})"};
      return {409, R"({"error_code": 409, "message": "Schema being registered is incompatible with an earlier schema"})"};
    }
    if (line == "GET /subjects/orders-value/versions/latest HTTP/1.1") {
      return {200, R"({"subject": "orders-value", "version": 3, "id": 5, "schema": "\"long\""})"};
    }
    return {404, "{}"};
  });
  SchemaRegistry registry({{server.url()}, "", "", std::chrono::milliseconds(2000), 10});
  auto incompatible = registry.register_schema("orders/v1-value", SchemaKind::avro, R"("long")");
  ASSERT_FALSE(incompatible.ok());
  EXPECT_EQ(incompatible.error.kind, RegistryError::Kind::refused);
  EXPECT_EQ(incompatible.error.http_status, 409);
  EXPECT_EQ(incompatible.error.message, "Schema being registered is incompatible with an earlier schema");
  auto registered = registry.register_schema("orders/v1-value", SchemaKind::protobuf, "syntax = \"proto3\";");
  ASSERT_TRUE(registered.ok());
  EXPECT_EQ(*registered.value, 12);
  auto latest = registry.subject_version("orders-value", "latest");
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(latest.value->id, 5);
  EXPECT_EQ(latest.value->text, R"("long")");
}

// ---- Avro values in the wire format, schemas from the registry ----

std::string framed(std::int32_t id, std::string body) {
  std::string out;
  frame(id, out);
  return out + body;
}

TEST(RegistryDecoder, DecodesWithTheWritersSchemaAndNamesTheIdInEveryFailure) {
  ScriptedServer server([](const std::string& line, const std::string&) -> ScriptedServer::Reply {
    if (line.find("/schemas/ids/1 ") != std::string::npos) {
      return {200, R"({"schema": "{\"type\": \"record\", \"name\": \"R\", \"fields\": [{\"name\": \"n\", \"type\": \"long\"}]}"})"};
    }
    if (line.find("/schemas/ids/2 ") != std::string::npos) {
      return {200, R"({"schema": "syntax = \"proto3\";", "schemaType": "PROTOBUF"})"};
    }
    return {404, R"({"message": "Schema 3 not found"})"};
  });
  SchemaRegistry registry({{server.url()}, "", "", std::chrono::milliseconds(2000), 10});
  RegistryDecoder decoder(registry, {});
  auto value = decoder.decode(framed(1, std::string("\x36", 1)));
  ASSERT_TRUE(value.ok()) << value.error().message;
  std::string json;
  core::append_json(value.value(), json);
  EXPECT_EQ(json, R"({"n":27})");
  EXPECT_EQ(decoder.decode(framed(1, std::string("\x80", 1))).error().message, "value: schema id 1: Avro /n: bad long");
  EXPECT_EQ(decoder.decode(framed(2, "x")).error().message, "value: schema id 2 is a PROTOBUF schema, not Avro");
  EXPECT_EQ(decoder.decode(framed(3, "x")).error().message,
            "value: schema id 3 is unknown to the schema registry (Schema 3 not found)");
  EXPECT_EQ(decoder.decode(framed(3, "x")).error().kind, core::RecordErrorKind::deserialization);
  // Parsed schemas are kept: the id is asked once.
  std::size_t asked_for_1 = 0;
  for (const auto& request : server.requests()) asked_for_1 += request.find("/schemas/ids/1 ") != std::string::npos;
  EXPECT_EQ(asked_for_1, 1U);
}

TEST(RegistryDecoder, WaitsWhileTheRegistryIsUnavailableAndGivesUpOnlyWhenTold) {
  std::atomic<int> failures_left{2};
  ScriptedServer server([&](const std::string&, const std::string&) -> ScriptedServer::Reply {
    if (failures_left.fetch_sub(1) > 0) return {503, R"({"message": "starting"})"};
    return {200, R"({"schema": "\"long\""})"};
  });
  SchemaRegistry registry({{server.url()}, "", "", std::chrono::milliseconds(2000), 10});
  std::vector<std::string> calls;
  RegistryDecoder patient(registry, [&](const RegistryError* error, int attempt) {
    calls.push_back(error == nullptr ? "recovered after " + std::to_string(attempt)
                                     : error->message + " " + std::to_string(attempt));
    return true;
  });
  auto value = patient.decode(framed(5, std::string("\x02", 1)));
  ASSERT_TRUE(value.ok());
  EXPECT_EQ(value.value().as_integer(), 1);
  EXPECT_EQ(calls, (std::vector<std::string>{"starting 1", "starting 2", "recovered after 3"}));

  // Refused credentials are an operator's to fix, not the record's: waited out too, never dead-lettered.
  std::atomic<int> refusals_left{1};
  ScriptedServer guarded([&](const std::string&, const std::string&) -> ScriptedServer::Reply {
    if (refusals_left.fetch_sub(1) > 0) return {401, R"({"message": "Unauthorized"})"};
    return {200, R"({"schema": "\"long\""})"};
  });
  SchemaRegistry guarded_registry({{guarded.url()}, "", "", std::chrono::milliseconds(2000), 10});
  calls.clear();
  RegistryDecoder waits_for_credentials(guarded_registry, [&](const RegistryError* error, int attempt) {
    calls.push_back(error == nullptr ? "recovered" : error->message + " " + std::to_string(attempt));
    return true;
  });
  EXPECT_TRUE(waits_for_credentials.decode(framed(7, std::string("\x02", 1))).ok());
  EXPECT_EQ(calls, (std::vector<std::string>{"Unauthorized 1", "recovered"}));

  failures_left = 1'000'000;
  RegistryDecoder stopping(registry, [](const RegistryError*, int attempt) { return attempt < 3; });
  EXPECT_THROW((void)stopping.decode(framed(6, std::string("\x02", 1))), RegistryUnavailable);
  // Not the wire format: a record fault, whatever the registry's state.
  EXPECT_EQ(stopping.decode("{}").error().message,
            "value: not in the schema registry's wire format (expected a 0 byte and a 4-byte schema id, got 2 bytes)");
}

}  // namespace
}  // namespace sluice::formats
