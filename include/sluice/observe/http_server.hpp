// The one HTTP port: GET/HEAD handlers for /metrics, /healthz, /readyz, /topology.
//
// One event-loop thread (epoll) owns every connection, so an idle or slow client costs a file descriptor and a
// few KiB, never a thread: 10,000 idle connections cannot keep a probe from being answered. The loop
// - answers probe routes itself (they must be cheap and never block: they read atomics);
// - hands guarded routes (/metrics, /topology) to one worker thread, so a slow scrape never delays a probe;
// - gives each connection `request_timeout` to deliver its whole request head (and the TLS handshake before
//   it), and the same again to take its response; one request per connection (Connection: close);
// - holds at most `max_connections`: at the cap, a new connection evicts the oldest one that has not yet
//   delivered a request, so a flood of idle connections cycles while a probe (which sends its request at
//   once) gets through; descriptor exhaustion (EMFILE) is handled the same way.
// With TLS files set, every connection is HTTPS. With a bearer token or basic credentials set, guarded
// routes answer 401 without them; probe routes never ask (kubelets send none).
//
// Lifecycle: construct, add handlers, start(), stop() (also done by the destructor). Handlers of probe routes
// run on the loop thread, handlers of guarded routes on the worker thread; both must be thread-safe.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace sluice::observe {

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

using HttpHandler = std::function<HttpResponse()>;

enum class HttpRoute : std::uint8_t {
  probe,    // answered on the loop thread, no credentials asked: /healthz, /readyz
  guarded,  // answered on the worker thread, credentials asked when configured: everything else
};

struct HttpServerOptions {
  std::string address = "0.0.0.0";
  int port = 8080;  // 0: an ephemeral port chosen by the OS (see port() after start())
  std::size_t max_connections = 1024;
  std::chrono::milliseconds request_timeout{5'000};
  std::size_t max_request_head_bytes = 8 * 1024;
  std::size_t max_queued_requests = 32;  // guarded requests waiting for the worker; more get 503
  std::string tls_certificate_file;      // PEM certificate chain; with tls_key_file, HTTPS only
  std::string tls_key_file;              // PEM private key
  std::string bearer_token;              // "Authorization: Bearer <token>" for guarded routes
  std::string basic_credentials;         // "user:password" for "Authorization: Basic ..." on guarded routes
};

struct HttpServerStats {
  std::uint64_t accepted = 0;
  std::uint64_t answered = 0;
  std::uint64_t evicted = 0;    // closed at the connection cap (or at descriptor exhaustion) before a request
  std::uint64_t timed_out = 0;  // closed after request_timeout
  std::uint64_t rejected = 0;   // closed at once: cap reached and nothing to evict, or no descriptor left
};

class HttpServer {
 public:
  explicit HttpServer(HttpServerOptions options);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  void handle(const std::string& path, HttpHandler handler, HttpRoute route = HttpRoute::guarded);  // before start()
  // Throws std::runtime_error if the address cannot be bound or the TLS files cannot be loaded.
  void start();
  void stop();
  int port() const noexcept;
  bool authentication_required() const noexcept;
  HttpServerStats stats() const noexcept;

 private:
  class Loop;
  HttpServerOptions options_;
  std::unique_ptr<Loop> loop_;
};

}  // namespace sluice::observe
