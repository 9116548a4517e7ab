#include "sluice/observe/http_server.hpp"

#include <civetweb.h>

#include <cstring>
#include <stdexcept>

namespace sluice::observe {

HttpServer::HttpServer(std::string address, int port) : address_(std::move(address)), port_(port) {}

HttpServer::~HttpServer() { stop(); }

void HttpServer::handle(const std::string& path, HttpHandler handler) { handlers_[path] = std::move(handler); }

int HttpServer::dispatch(mg_connection* connection, void* opaque) {
  auto* handler = static_cast<HttpHandler*>(opaque);
  const mg_request_info* request = mg_get_request_info(connection);
  HttpResponse response;
  if (std::strcmp(request->request_method, "GET") != 0 && std::strcmp(request->request_method, "HEAD") != 0) {
    response = HttpResponse{405, "text/plain; charset=utf-8", "only GET is supported\n"};
  } else {
    try {
      response = (*handler)();
    } catch (const std::exception& error) {
      response = HttpResponse{500, "text/plain; charset=utf-8", std::string("internal error: ") + error.what() + "\n"};
    }
  }
  mg_printf(connection,
            "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nCache-Control: no-store\r\n"
            "Connection: close\r\n\r\n",
            response.status, mg_get_response_code_text(connection, response.status), response.content_type.c_str(),
            response.body.size());
  if (std::strcmp(request->request_method, "HEAD") != 0) mg_write(connection, response.body.data(), response.body.size());
  return response.status;
}

void HttpServer::start() {
  if (context_ != nullptr) return;
  mg_init_library(0);
  std::string listening = address_ + ":" + std::to_string(port_);
  // Two worker threads: probes and scrapes are light, and the processing threads need the cores.
  const char* options[] = {"listening_ports", listening.c_str(), "num_threads", "2", "enable_keep_alive", "no",
                           "request_timeout_ms", "10000", nullptr};
  mg_callbacks callbacks{};
  context_ = mg_start(&callbacks, nullptr, options);
  if (context_ == nullptr) {
    mg_exit_library();
    throw std::runtime_error("cannot listen for HTTP on " + listening + " (address in use or not local?)");
  }
  for (auto& [path, handler] : handlers_) mg_set_request_handler(context_, path.c_str(), &HttpServer::dispatch, &handler);
  mg_server_port ports[4];
  int count = mg_get_server_ports(context_, 4, ports);
  bound_port_ = count > 0 ? ports[0].port : port_;
}

void HttpServer::stop() {
  if (context_ == nullptr) return;
  mg_stop(context_);
  context_ = nullptr;
  mg_exit_library();
}

}  // namespace sluice::observe
