// The one HTTP port (CivetWeb): GET handlers for /metrics, /healthz, /readyz, /topology. Handlers run on
// CivetWeb's worker threads and must be thread-safe. Lifecycle: construct, add handlers, start(), stop()
// (also done by the destructor).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>

struct mg_context;
struct mg_connection;

namespace sluice::observe {

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

using HttpHandler = std::function<HttpResponse()>;

class HttpServer {
 public:
  // port 0: an ephemeral port chosen by the OS (see port() after start()).
  HttpServer(std::string address, int port);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  void handle(const std::string& path, HttpHandler handler);  // before start()
  // Throws std::runtime_error if the address cannot be bound.
  void start();
  void stop();
  int port() const noexcept { return bound_port_; }

 private:
  static int dispatch(mg_connection* connection, void* opaque);
  std::string address_;
  int port_;
  int bound_port_ = 0;
  std::map<std::string, HttpHandler> handlers_;
  mg_context* context_ = nullptr;
};

}  // namespace sluice::observe
