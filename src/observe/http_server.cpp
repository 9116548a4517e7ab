#include "sluice/observe/http_server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <unordered_map>
#include <utility>

#include "sluice/observe/http_request.hpp"

namespace sluice::observe {
namespace {

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string_view reason_phrase(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Unknown";
  }
}

std::string serialize(const HttpResponse& response, bool head_only, std::string_view extra_fields = {}) {
  std::string text = "HTTP/1.1 " + std::to_string(response.status) + " ";
  text += reason_phrase(response.status);
  text += "\r\nContent-Type: " + response.content_type;
  text += "\r\nContent-Length: " + std::to_string(response.body.size());
  text += "\r\nCache-Control: no-store\r\nConnection: close\r\n";
  text += extra_fields;
  text += "\r\n";
  if (!head_only) text += response.body;
  return text;
}

HttpResponse plain(int status, std::string body) {
  return HttpResponse{status, "text/plain; charset=utf-8", std::move(body)};
}

std::string openssl_errors() {
  std::string text;
  while (const unsigned long code = ERR_get_error()) {
    std::array<char, 256> buffer{};
    ERR_error_string_n(code, buffer.data(), buffer.size());
    if (!text.empty()) text += "; ";
    text += buffer.data();
  }
  return text.empty() ? "unknown TLS error" : text;
}

}  // namespace

class HttpServer::Loop {
 public:
  explicit Loop(const HttpServerOptions& options) : options_(options) {}
  ~Loop() { stop(); }

  void add(const std::string& path, HttpHandler handler, HttpRoute route) {
    routes_[path] = Route{std::move(handler), route};
  }
  void start();
  void stop();
  int port() const noexcept { return port_; }
  HttpServerStats stats() const noexcept {
    return HttpServerStats{accepted_.load(), answered_.load(), evicted_.load(), timed_out_.load(), rejected_.load()};
  }
  bool authentication_required() const noexcept {
    return !options_.bearer_token.empty() || !options_.basic_credentials.empty();
  }

 private:
  struct Route {
    HttpHandler handler;
    HttpRoute kind = HttpRoute::guarded;
  };
  // draining: the response is sent and our side shut down; what the client still sends is read and dropped
  // until it closes, so that closing with unread input does not reset the connection and destroy the response
  // before the client has read it (a "lingering close").
  enum class Phase : std::uint8_t { handshake, reading, working, writing, draining };
  struct Connection {
    std::uint64_t id = 0;  // unique for the life of the server, unlike the descriptor
    SSL* tls = nullptr;
    Phase phase = Phase::reading;
    std::string in;
    std::string out;
    std::size_t sent = 0;
    std::int64_t deadline_ms = 0;
    std::uint64_t drain_key = 0;  // its key in draining_
    std::uint32_t interest = EPOLLIN;
  };
  struct Job {
    int fd;
    std::uint64_t id;
    const Route* route;
    bool head_only;
  };
  struct Done {
    int fd;
    std::uint64_t id;
    std::string bytes;
  };
  enum class Io : std::uint8_t { progress, want_read, want_write, closed };

  void run();
  void work();
  void accept_all();
  void open_connection(int fd);
  void on_event(int fd, std::uint32_t events);
  void read_request(int fd, Connection& connection);
  void route(int fd, Connection& connection, const HttpRequestHead& request);
  void respond(int fd, Connection& connection, std::string bytes);
  void write_response(int fd, Connection& connection);
  void drain(int fd);
  void collect_done();
  void expire(std::int64_t now);
  bool make_room();
  void close_connection(int fd);
  void set_interest(int fd, Connection& connection, std::uint32_t interest);
  Io receive(Connection& connection, int fd, std::size_t& received);
  static Io tls_failure(SSL* tls, int result);
  Io transmit(Connection& connection, int fd);

  const HttpServerOptions& options_;
  std::map<std::string, Route, std::less<>> routes_;
  int listen_fd_ = -1;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  int reserve_fd_ = -1;  // a spare descriptor, released to accept-and-close when the process has none left
  int port_ = 0;
  SSL_CTX* tls_context_ = nullptr;
  std::atomic<bool> stopping_{false};
  std::thread loop_thread_;
  std::thread worker_thread_;

  // Loop thread only.
  std::unordered_map<int, Connection> connections_;
  std::map<std::uint64_t, int> pending_;  // connections without a complete request, oldest first (id -> fd)
  std::map<std::uint64_t, int> writing_;   // connections sending a response (id -> fd)
  std::map<std::uint64_t, int> draining_;  // connections whose response is sent (drain_key -> fd), oldest first
  std::uint64_t next_drain_key_ = 1;
  std::uint64_t next_id_ = 1;

  // Shared between the loop and the worker.
  std::mutex mutex_;
  std::condition_variable work_ready_;
  std::deque<Job> jobs_;
  std::deque<Done> done_;

  std::atomic<std::uint64_t> accepted_{0}, answered_{0}, evicted_{0}, timed_out_{0}, rejected_{0};
};

void HttpServer::Loop::start() {
  if (loop_thread_.joinable()) return;
  const std::string where = options_.address + ":" + std::to_string(options_.port);
  if (!options_.tls_certificate_file.empty() || !options_.tls_key_file.empty()) {
    if (options_.tls_certificate_file.empty() || options_.tls_key_file.empty()) {
      throw std::runtime_error("TLS needs both a certificate file and a key file");
    }
    tls_context_ = SSL_CTX_new(TLS_server_method());
    if (tls_context_ == nullptr) throw std::runtime_error("cannot create a TLS context: " + openssl_errors());
    SSL_CTX_set_min_proto_version(tls_context_, TLS1_2_VERSION);
    SSL_CTX_set_mode(tls_context_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (SSL_CTX_use_certificate_chain_file(tls_context_, options_.tls_certificate_file.c_str()) != 1) {
      const std::string reason = openssl_errors();
      stop();
      throw std::runtime_error("cannot load the TLS certificate " + options_.tls_certificate_file + ": " + reason);
    }
    if (SSL_CTX_use_PrivateKey_file(tls_context_, options_.tls_key_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(tls_context_) != 1) {
      const std::string reason = openssl_errors();
      stop();
      throw std::runtime_error("cannot load the TLS key " + options_.tls_key_file + " (or it does not match the "
                               "certificate): " + reason);
    }
  }

  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(options_.port));
  if (inet_pton(AF_INET, options_.address.c_str(), &address.sin_addr) != 1) {
    stop();
    throw std::runtime_error("cannot listen for HTTP on " + where + ": not an IPv4 address");
  }
  listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  const int yes = 1;
  if (listen_fd_ < 0 || setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes) != 0 ||
      bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      listen(listen_fd_, SOMAXCONN) != 0) {
    const std::string reason = std::strerror(errno);
    stop();
    throw std::runtime_error("cannot listen for HTTP on " + where + ": " + reason);
  }
  socklen_t length = sizeof address;
  getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length);
  port_ = ntohs(address.sin_port);

  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  reserve_fd_ = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (epoll_fd_ < 0 || wake_fd_ < 0) {
    const std::string reason = std::strerror(errno);
    stop();
    throw std::runtime_error("cannot start the HTTP event loop: " + reason);
  }
  for (const int fd : {listen_fd_, wake_fd_}) {
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.fd = fd;
    epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event);
  }
  stopping_ = false;
  worker_thread_ = std::thread([this] { work(); });
  loop_thread_ = std::thread([this] { run(); });
}

void HttpServer::Loop::stop() {
  stopping_ = true;
  if (wake_fd_ >= 0) {
    const std::uint64_t one = 1;
    [[maybe_unused]] auto written = write(wake_fd_, &one, sizeof one);
  }
  work_ready_.notify_all();
  if (loop_thread_.joinable()) loop_thread_.join();
  if (worker_thread_.joinable()) worker_thread_.join();
  while (!connections_.empty()) close_connection(connections_.begin()->first);
  for (int* fd : {&listen_fd_, &epoll_fd_, &wake_fd_, &reserve_fd_}) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
  }
  if (tls_context_ != nullptr) SSL_CTX_free(tls_context_);
  tls_context_ = nullptr;
  jobs_.clear();
  done_.clear();
}

void HttpServer::Loop::run() {
  std::array<epoll_event, 256> events{};
  while (!stopping_) {
    // The wait is short so that timeouts are enforced within a tenth of a second.
    const int count = epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()), 100);
    // New connections are accepted after the others' events are handled, so a connection accepted in an
    // earlier round has had its request read before it can be evicted to make room for a new one.
    bool accept_ready = false;
    for (int i = 0; i < count && !stopping_; ++i) {
      const int fd = events[static_cast<std::size_t>(i)].data.fd;
      if (fd == listen_fd_) {
        accept_ready = true;
      } else if (fd == wake_fd_) {
        std::uint64_t ignored = 0;
        [[maybe_unused]] auto bytes = read(wake_fd_, &ignored, sizeof ignored);
        collect_done();
      } else {
        on_event(fd, events[static_cast<std::size_t>(i)].events);
      }
    }
    if (accept_ready && !stopping_) accept_all();
    expire(now_ms());
  }
}

void HttpServer::Loop::work() {
  while (true) {
    Job job{};
    {
      std::unique_lock lock(mutex_);
      work_ready_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
      if (stopping_) return;
      job = jobs_.front();
      jobs_.pop_front();
    }
    HttpResponse response;
    try {
      response = job.route->handler();
    } catch (const std::exception& error) {
      response = plain(500, std::string("internal error: ") + error.what() + "\n");
    } catch (...) {
      response = plain(500, "internal error\n");
    }
    {
      std::lock_guard lock(mutex_);
      done_.push_back(Done{job.fd, job.id, serialize(response, job.head_only)});
    }
    const std::uint64_t one = 1;
    [[maybe_unused]] auto written = write(wake_fd_, &one, sizeof one);
  }
}

void HttpServer::Loop::accept_all() {
  // Bounded per wake-up so that a flood of connections cannot keep the loop from serving the ones it has.
  // At the cap, a connection accepted in this same round is never evicted for the next one: the rest of the
  // backlog waits for the next round, after their requests (if any) have been read.
  const std::uint64_t first_of_round = next_id_;
  for (int round = 0; round < 512; ++round) {
    if (connections_.size() >= options_.max_connections && draining_.empty() && !pending_.empty() &&
        pending_.begin()->first >= first_of_round) {
      return;
    }
    const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      open_connection(fd);
      continue;
    }
    if (errno == EINTR || errno == ECONNABORTED) continue;
    if (errno == EMFILE || errno == ENFILE) {
      // No descriptor left. Free one by evicting the oldest idle connection, or else take the connection
      // with the spare descriptor and close it, so that it does not sit in the backlog making epoll spin.
      if (make_room()) continue;
      if (reserve_fd_ >= 0) {
        close(reserve_fd_);
        const int refused = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (refused >= 0) close(refused);
        ++rejected_;
        reserve_fd_ = open("/dev/null", O_RDONLY | O_CLOEXEC);
      }
    }
    return;  // EAGAIN: the backlog is empty; anything else: try again at the next readiness
  }
}

void HttpServer::Loop::open_connection(int fd) {
  ++accepted_;
  if (connections_.size() >= options_.max_connections && !make_room()) {
    {
      // Every connection holds a request being answered: turn this one away with a best-effort 503.
      ++rejected_;  // counted before the client can see the close
      const std::string busy = serialize(plain(503, "too many connections\n"), false);
      if (tls_context_ == nullptr) [[maybe_unused]] auto sent = send(fd, busy.data(), busy.size(), MSG_NOSIGNAL);
      close(fd);
      return;
    }
  }
  Connection connection;
  connection.id = next_id_++;
  connection.deadline_ms = now_ms() + options_.request_timeout.count();
  if (tls_context_ != nullptr) {
    connection.tls = SSL_new(tls_context_);
    if (connection.tls == nullptr || SSL_set_fd(connection.tls, fd) != 1) {
      if (connection.tls != nullptr) SSL_free(connection.tls);
      ERR_clear_error();
      close(fd);
      ++rejected_;
      return;
    }
    SSL_set_accept_state(connection.tls);
    connection.phase = Phase::handshake;
  }
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.fd = fd;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event) != 0) {
    if (connection.tls != nullptr) SSL_free(connection.tls);
    close(fd);
    ++rejected_;
    return;
  }
  pending_.emplace(connection.id, fd);
  connections_.emplace(fd, std::move(connection));
}

void HttpServer::Loop::on_event(int fd, std::uint32_t events) {
  const auto found = connections_.find(fd);
  if (found == connections_.end()) return;
  Connection& connection = found->second;
  if (connection.phase == Phase::working) {
    // Waiting for the worker: only a hang-up matters (the answer is then dropped).
    if ((events & (EPOLLHUP | EPOLLERR)) != 0) close_connection(fd);
    return;
  }
  if (connection.phase == Phase::handshake) {
    const int result = SSL_do_handshake(connection.tls);
    if (result != 1) {
      const Io io = tls_failure(connection.tls, result);
      if (io == Io::closed) return close_connection(fd);
      return set_interest(fd, connection, io == Io::want_read ? EPOLLIN : EPOLLOUT);
    }
    connection.phase = Phase::reading;
    set_interest(fd, connection, EPOLLIN);
  }
  if (connection.phase == Phase::reading) return read_request(fd, connection);
  if (connection.phase == Phase::writing) return write_response(fd, connection);
  if (connection.phase == Phase::draining) return drain(fd);
}

// What an unsuccessful TLS call (result <= 0) asks for: more input, room to write, or the end.
HttpServer::Loop::Io HttpServer::Loop::tls_failure(SSL* tls, int result) {
  const int error = SSL_get_error(tls, result);
  ERR_clear_error();
  if (error == SSL_ERROR_WANT_READ) return Io::want_read;
  if (error == SSL_ERROR_WANT_WRITE) return Io::want_write;
  return Io::closed;
}

HttpServer::Loop::Io HttpServer::Loop::receive(Connection& connection, int fd, std::size_t& received) {
  std::array<char, 4096> buffer{};
  // Never hold more than the head limit (plus one byte, to tell "too large" from "exactly full").
  const std::size_t room = options_.max_request_head_bytes + 1 - std::min(connection.in.size(),
                                                                          options_.max_request_head_bytes + 1);
  if (room == 0) return Io::progress;
  const std::size_t wanted = std::min(room, buffer.size());
  if (connection.tls != nullptr) {
    const int result = SSL_read(connection.tls, buffer.data(), static_cast<int>(wanted));
    if (result > 0) {
      connection.in.append(buffer.data(), static_cast<std::size_t>(result));
      received = static_cast<std::size_t>(result);
      return Io::progress;
    }
    return tls_failure(connection.tls, result);
  }
  const ssize_t result = recv(fd, buffer.data(), wanted, 0);
  if (result > 0) {
    connection.in.append(buffer.data(), static_cast<std::size_t>(result));
    received = static_cast<std::size_t>(result);
    return Io::progress;
  }
  if (result < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return Io::want_read;
  return Io::closed;
}

void HttpServer::Loop::read_request(int fd, Connection& connection) {
  Io io = Io::progress;
  bool peer_closed = false;
  while (true) {
    std::size_t received = 0;
    io = receive(connection, fd, received);
    if (io == Io::closed) peer_closed = true;
    if (io != Io::progress || received == 0) break;
  }
  const HttpParseResult parsed = parse_http_request(connection.in, options_.max_request_head_bytes);
  switch (parsed.outcome) {
    case HttpParse::complete: return route(fd, connection, parsed.request);
    case HttpParse::malformed:
      return respond(fd, connection, serialize(plain(400, std::string(parsed.problem) + "\n"), false));
    case HttpParse::too_large:
      return respond(fd, connection, serialize(plain(431, std::string(parsed.problem) + "\n"), false));
    case HttpParse::incomplete: break;
  }
  if (peer_closed) return close_connection(fd);
  set_interest(fd, connection, io == Io::want_write ? EPOLLOUT : EPOLLIN);
}

void HttpServer::Loop::route(int fd, Connection& connection, const HttpRequestHead& request) {
  const bool head_only = request.method == "HEAD";
  if (request.method != "GET" && !head_only) {
    return respond(fd, connection, serialize(plain(405, "only GET and HEAD are supported\n"), false,
                                             "Allow: GET, HEAD\r\n"));
  }
  const auto found = routes_.find(request.path);
  if (found == routes_.end()) return respond(fd, connection, serialize(plain(404, "not found\n"), head_only));
  const Route& target = found->second;
  if (target.kind == HttpRoute::probe) {
    HttpResponse response;
    try {
      response = target.handler();
    } catch (const std::exception& error) {
      response = plain(500, std::string("internal error: ") + error.what() + "\n");
    }
    return respond(fd, connection, serialize(response, head_only));
  }
  if (authentication_required() &&
      !http_authorized(request.field("authorization").value_or(""), options_.bearer_token,
                       options_.basic_credentials)) {
    const std::string challenge = options_.bearer_token.empty() ? "WWW-Authenticate: Basic realm=\"sluice\"\r\n"
                                                                 : "WWW-Authenticate: Bearer realm=\"sluice\"\r\n";
    return respond(fd, connection, serialize(plain(401, "credentials required\n"), head_only, challenge));
  }
  bool queued = false;
  {
    std::lock_guard lock(mutex_);
    if (jobs_.size() < options_.max_queued_requests) {
      jobs_.push_back(Job{fd, connection.id, &target, head_only});
      queued = true;
    }
  }
  if (!queued) return respond(fd, connection, serialize(plain(503, "busy: too many requests queued\n"), head_only));
  work_ready_.notify_one();
  pending_.erase(connection.id);
  connection.phase = Phase::working;
  connection.in.clear();
  connection.in.shrink_to_fit();
  set_interest(fd, connection, 0);
}

void HttpServer::Loop::respond(int fd, Connection& connection, std::string bytes) {
  pending_.erase(connection.id);
  connection.phase = Phase::writing;
  connection.in.clear();
  connection.in.shrink_to_fit();
  connection.out = std::move(bytes);
  connection.sent = 0;
  connection.deadline_ms = now_ms() + options_.request_timeout.count();
  writing_.emplace(connection.id, fd);
  write_response(fd, connection);
}

HttpServer::Loop::Io HttpServer::Loop::transmit(Connection& connection, int fd) {
  const char* data = connection.out.data() + connection.sent;
  const std::size_t size = connection.out.size() - connection.sent;
  if (connection.tls != nullptr) {
    const int result = SSL_write(connection.tls, data, static_cast<int>(std::min<std::size_t>(size, 1 << 20)));
    if (result > 0) {
      connection.sent += static_cast<std::size_t>(result);
      return Io::progress;
    }
    return tls_failure(connection.tls, result);
  }
  const ssize_t result = send(fd, data, size, MSG_NOSIGNAL);
  if (result > 0) {
    connection.sent += static_cast<std::size_t>(result);
    return Io::progress;
  }
  if (result < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return Io::want_write;
  return Io::closed;
}

void HttpServer::Loop::write_response(int fd, Connection& connection) {
  while (connection.sent < connection.out.size()) {
    const Io io = transmit(connection, fd);
    if (io == Io::progress) continue;
    if (io == Io::closed) return close_connection(fd);
    return set_interest(fd, connection, io == Io::want_read ? EPOLLIN : EPOLLOUT);
  }
  ++answered_;
  if (connection.tls != nullptr) {
    SSL_shutdown(connection.tls);  // best effort: the close_notify, without waiting for the peer's
    ERR_clear_error();
  }
  shutdown(fd, SHUT_WR);
  writing_.erase(connection.id);
  connection.deadline_ms = now_ms() + options_.request_timeout.count();
  connection.drain_key = next_drain_key_++;
  draining_.emplace(connection.drain_key, fd);
  connection.phase = Phase::draining;
  connection.out.clear();
  connection.out.shrink_to_fit();
  set_interest(fd, connection, EPOLLIN);
  drain(fd);
}

void HttpServer::Loop::drain(int fd) {
  // Raw reads: after our close_notify the TLS layer has nothing more to say, and the bytes are dropped anyway.
  std::array<char, 4096> buffer{};
  for (int round = 0; round < 16; ++round) {
    const ssize_t got = recv(fd, buffer.data(), buffer.size(), 0);
    if (got > 0) continue;
    if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
    return close_connection(fd);  // the client closed (or failed): done
  }
}

void HttpServer::Loop::collect_done() {
  std::deque<Done> done;
  {
    std::lock_guard lock(mutex_);
    done.swap(done_);
  }
  for (auto& item : done) {
    const auto found = connections_.find(item.fd);
    // The client may have gone (and the descriptor been reused) while the worker ran.
    if (found == connections_.end() || found->second.id != item.id) continue;
    respond(item.fd, found->second, std::move(item.bytes));
  }
}

void HttpServer::Loop::expire(std::int64_t now) {
  // pending_ is in accept order and every pending deadline is accept time + request_timeout, so the expired
  // ones are a prefix.
  while (!pending_.empty()) {
    const int fd = pending_.begin()->second;
    if (connections_.at(fd).deadline_ms > now) break;
    ++timed_out_;
    close_connection(fd);
  }
  for (auto it = writing_.begin(); it != writing_.end();) {
    const int fd = it->second;
    ++it;  // close_connection() erases the current entry
    if (connections_.at(fd).deadline_ms <= now) {
      ++timed_out_;
      close_connection(fd);
    }
  }
  // A draining deadline is set when the response is sent, so these are in order too.
  while (!draining_.empty()) {
    const int fd = draining_.begin()->second;
    if (connections_.at(fd).deadline_ms > now) break;
    close_connection(fd);
  }
}

bool HttpServer::Loop::make_room() {
  // First a connection whose response is already sent: only its lingering close is cut short.
  if (!draining_.empty()) {
    close_connection(draining_.begin()->second);
    return true;
  }
  // Then the oldest connection without a request. Its request may have arrived since the last wake-up, so
  // read it first: a client that did send one is answered, not evicted. A few tries, then evict regardless.
  for (int tries = 0; tries < 8 && !pending_.empty(); ++tries) {
    const auto [id, fd] = *pending_.begin();
    on_event(fd, 0);
    if (connections_.size() < options_.max_connections) return true;  // it was served (or closed) at once
    if (!pending_.empty() && pending_.begin()->first == id) break;     // nothing arrived: this is the one
  }
  if (pending_.empty()) return false;
  ++evicted_;
  close_connection(pending_.begin()->second);
  return true;
}

void HttpServer::Loop::set_interest(int fd, Connection& connection, std::uint32_t interest) {
  if (connection.interest == interest) return;
  epoll_event event{};
  event.events = interest;
  event.data.fd = fd;
  epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &event);
  connection.interest = interest;
}

void HttpServer::Loop::close_connection(int fd) {
  const auto found = connections_.find(fd);
  if (found == connections_.end()) return;
  pending_.erase(found->second.id);
  writing_.erase(found->second.id);
  if (found->second.phase == Phase::draining) draining_.erase(found->second.drain_key);
  if (found->second.tls != nullptr) SSL_free(found->second.tls);
  if (epoll_fd_ >= 0) epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
  close(fd);
  connections_.erase(found);
}

HttpServer::HttpServer(HttpServerOptions options)
    : options_(std::move(options)), loop_(std::make_unique<Loop>(options_)) {}

HttpServer::~HttpServer() { stop(); }

void HttpServer::handle(const std::string& path, HttpHandler handler, HttpRoute route) {
  loop_->add(path, std::move(handler), route);
}

void HttpServer::start() { loop_->start(); }
void HttpServer::stop() { loop_->stop(); }
int HttpServer::port() const noexcept { return loop_->port(); }
bool HttpServer::authentication_required() const noexcept { return loop_->authentication_required(); }
HttpServerStats HttpServer::stats() const noexcept { return loop_->stats(); }

}  // namespace sluice::observe
