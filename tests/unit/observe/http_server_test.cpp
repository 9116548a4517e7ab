// The HTTP server against real sockets on loopback: probes stay answered while idle and slow clients hold
// connections (issue 11, finding 1: two idle connections used to block /healthz for 10 s), a slow /metrics
// never delays a probe, timeouts and the connection cap hold, and credentials and TLS work.
#include "sluice/observe/http_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <future>
#include <string>
#include <thread>
#include <vector>

namespace sluice::observe {
namespace {

using namespace std::chrono_literals;

int connect_to(int port, std::chrono::milliseconds timeout = 2s) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  timeval limit{};
  limit.tv_sec = timeout.count() / 1000;
  limit.tv_usec = static_cast<suseconds_t>(timeout.count() % 1000 * 1000);
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// Everything the server sends until it closes, or until `timeout` passes without a byte.
std::string read_all(int fd) {
  std::string text;
  char buffer[4096];
  while (true) {
    const ssize_t got = recv(fd, buffer, sizeof buffer, 0);
    if (got <= 0) break;
    text.append(buffer, static_cast<std::size_t>(got));
  }
  return text;
}

int status_of(const std::string& response) {
  if (response.rfind("HTTP/1.1 ", 0) != 0 || response.size() < 12) return 0;
  return std::stoi(response.substr(9, 3));
}

std::string body_of(const std::string& response) {
  const auto end = response.find("\r\n\r\n");
  return end == std::string::npos ? "" : response.substr(end + 4);
}

std::string exchange(int port, const std::string& request, std::chrono::milliseconds timeout = 2s) {
  const int fd = connect_to(port, timeout);
  if (fd < 0) return "";
  send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  std::string response = read_all(fd);
  close(fd);
  return response;
}

std::string get(int port, const std::string& path, const std::string& fields = "",
                std::chrono::milliseconds timeout = 2s) {
  return exchange(port, "GET " + path + " HTTP/1.1\r\nHost: localhost\r\n" + fields + "\r\n", timeout);
}

HttpResponse ok(std::string body) { return HttpResponse{200, "text/plain; charset=utf-8", std::move(body)}; }

HttpServerOptions loopback() {
  HttpServerOptions options;
  options.address = "127.0.0.1";
  options.port = 0;
  return options;
}

void add_routes(HttpServer& server) {
  server.handle("/healthz", [] { return ok("alive\n"); }, HttpRoute::probe);
  server.handle("/readyz", [] { return ok("ready\n"); }, HttpRoute::probe);
  server.handle("/metrics", [] { return ok("sluice_up 1\n"); });
}

TEST(HttpServer, AnswersGetAndHeadAndRefusesTheRest) {
  HttpServer server(loopback());
  add_routes(server);
  server.start();
  const int port = server.port();
  ASSERT_GT(port, 0);

  const std::string probe = get(port, "/healthz");
  EXPECT_EQ(status_of(probe), 200);
  EXPECT_EQ(body_of(probe), "alive\n");
  EXPECT_NE(probe.find("Connection: close\r\n"), std::string::npos);
  EXPECT_EQ(body_of(get(port, "/metrics?x=1")), "sluice_up 1\n");

  const std::string head = exchange(port, "HEAD /metrics HTTP/1.1\r\n\r\n");
  EXPECT_EQ(status_of(head), 200);
  EXPECT_NE(head.find("Content-Length: 12\r\n"), std::string::npos);
  EXPECT_EQ(body_of(head), "");

  EXPECT_EQ(status_of(get(port, "/nope")), 404);
  const std::string post = exchange(port, "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(status_of(post), 405);
  EXPECT_NE(post.find("Allow: GET, HEAD\r\n"), std::string::npos);
  EXPECT_EQ(status_of(exchange(port, "GET /healthz HTTP/1.1\r\nX: a\r\n b\r\n\r\n")), 400);
  EXPECT_EQ(status_of(get(port, "/healthz", "X-Big: " + std::string(10'000, 'a') + "\r\n")), 431);
  EXPECT_EQ(server.stats().answered, 7U);
}

TEST(HttpServer, ProbesAreAnsweredWhileIdleAndSlowClientsHoldConnections) {
  HttpServerOptions options = loopback();
  options.max_connections = 64;
  options.request_timeout = 2s;
  HttpServer server(options);
  add_routes(server);
  server.start();
  const int port = server.port();

  // 300 idle connections (more than the cap: the oldest are evicted as new ones come) ...
  std::vector<int> idle;
  for (int i = 0; i < 300; ++i) {
    const int fd = connect_to(port);
    ASSERT_GE(fd, 0);
    idle.push_back(fd);
  }
  // ... and 20 slowloris clients, each sending one header line every 50 ms and never finishing its request.
  std::atomic<bool> done{false};
  std::vector<std::thread> slow;
  for (int i = 0; i < 20; ++i) {
    slow.emplace_back([&, port] {
      while (!done) {
        const int fd = connect_to(port);
        if (fd < 0) continue;
        const std::string start = "GET /healthz HTTP/1.1\r\n";
        send(fd, start.data(), start.size(), MSG_NOSIGNAL);
        for (int line = 0; !done && line < 100; ++line) {
          const std::string field = "X-Slow-" + std::to_string(line) + ": x\r\n";
          if (send(fd, field.data(), field.size(), MSG_NOSIGNAL) <= 0) break;
          std::this_thread::sleep_for(50ms);
        }
        close(fd);
      }
    });
  }
  int answered = 0;
  for (int probe = 0; probe < 20; ++probe) {
    if (status_of(get(port, probe % 2 == 0 ? "/healthz" : "/readyz", "", 1s)) == 200) ++answered;
  }
  done = true;
  for (auto& thread : slow) thread.join();
  for (int fd : idle) close(fd);
  EXPECT_EQ(answered, 20);
  EXPECT_GT(server.stats().evicted, 0U);
}

TEST(HttpServer, ClosesAConnectionThatSendsNoRequestWithinTheTimeout) {
  HttpServerOptions options = loopback();
  options.request_timeout = 200ms;
  HttpServer server(options);
  add_routes(server);
  server.start();
  const int fd = connect_to(server.port(), 5s);
  ASSERT_GE(fd, 0);
  const auto started = std::chrono::steady_clock::now();
  char byte = 0;
  const ssize_t got = recv(fd, &byte, 1, 0);  // blocks until the server closes (or 5 s pass)
  const auto waited = std::chrono::steady_clock::now() - started;
  close(fd);
  EXPECT_EQ(got, 0);  // an orderly close by the server, not our receive timeout
  EXPECT_LT(waited, 3s);
  EXPECT_EQ(server.stats().timed_out, 1U);
}

TEST(HttpServer, ASlowGuardedHandlerNeverDelaysTheProbes) {
  HttpServer server(loopback());
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  server.handle("/healthz", [] { return ok("alive\n"); }, HttpRoute::probe);
  server.handle("/metrics", [released] {
    released.wait();
    return ok("late\n");
  });
  server.start();
  const int port = server.port();
  auto scrape = std::async(std::launch::async, [port] { return get(port, "/metrics", "", 10s); });
  // The worker is now blocked inside /metrics; probes are still answered, and so is a second scrape's refusal
  // (or queueing) without touching the probes.
  for (int i = 0; i < 5; ++i) EXPECT_EQ(status_of(get(port, "/healthz", "", 1s)), 200);
  release.set_value();
  EXPECT_EQ(body_of(scrape.get()), "late\n");
}

TEST(HttpServer, AtTheCapWithNothingToEvictNewConnectionsAreTurnedAway) {
  HttpServerOptions options = loopback();
  options.max_connections = 16;
  options.max_queued_requests = 64;
  HttpServer server(options);
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  server.handle("/healthz", [] { return ok("alive\n"); }, HttpRoute::probe);
  server.handle("/metrics", [released] {
    released.wait();
    return ok("late\n");
  });
  server.start();
  const int port = server.port();
  // 16 scrapes hold every slot (one in the worker, 15 queued); a 17th connection cannot evict any of them.
  std::vector<int> scrapes;
  for (int i = 0; i < 16; ++i) {
    const int fd = connect_to(port, 10s);
    ASSERT_GE(fd, 0);
    const std::string request = "GET /metrics HTTP/1.1\r\n\r\n";
    send(fd, request.data(), request.size(), MSG_NOSIGNAL);
    scrapes.push_back(fd);
  }
  // Wait until all 16 requests are in (answered probes would evict nothing; a turned-away probe shows it).
  std::string refused;
  for (int attempt = 0; attempt < 100 && status_of(refused) != 503; ++attempt) refused = get(port, "/healthz");
  EXPECT_EQ(status_of(refused), 503);
  EXPECT_GT(server.stats().rejected, 0U);
  release.set_value();
  for (int fd : scrapes) {
    EXPECT_EQ(body_of(read_all(fd)), "late\n");
    close(fd);
  }
  EXPECT_EQ(status_of(get(port, "/healthz")), 200);
}

TEST(HttpServer, GuardedRoutesNeedCredentialsProbesDoNot) {
  HttpServerOptions options = loopback();
  options.bearer_token = "t0ken";
  options.basic_credentials = "prom:pa:ss";
  HttpServer server(options);
  add_routes(server);
  server.start();
  const int port = server.port();
  EXPECT_TRUE(server.authentication_required());
  const std::string refused = get(port, "/metrics");
  EXPECT_EQ(status_of(refused), 401);
  EXPECT_NE(refused.find("WWW-Authenticate: Bearer realm=\"sluice\"\r\n"), std::string::npos);
  EXPECT_EQ(body_of(refused).find("sluice_up"), std::string::npos);
  EXPECT_EQ(status_of(get(port, "/metrics", "Authorization: Bearer wrong\r\n")), 401);
  EXPECT_EQ(status_of(get(port, "/metrics", "Authorization: Bearer t0ken\r\n")), 200);
  EXPECT_EQ(status_of(get(port, "/metrics", "Authorization: Basic cHJvbTpwYTpzcw==\r\n")), 200);
  EXPECT_EQ(status_of(get(port, "/healthz")), 200);
  EXPECT_EQ(status_of(get(port, "/readyz")), 200);
}

// A self-signed certificate for "localhost", written as PEM files in a fresh directory.
struct TestCertificate {
  std::filesystem::path directory;
  std::filesystem::path certificate;
  std::filesystem::path key;

  TestCertificate() {
    directory = std::filesystem::temp_directory_path() /
                ("sluice-tls-" + std::to_string(getpid()) + "-" + std::to_string(counter()++));
    std::filesystem::create_directories(directory);
    certificate = directory / "tls.crt";
    key = directory / "tls.key";
    EVP_PKEY* pair = EVP_EC_gen("P-256");
    X509* x509 = X509_new();
    X509_set_version(x509, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x509), 1);
    X509_gmtime_adj(X509_getm_notBefore(x509), -60);
    X509_gmtime_adj(X509_getm_notAfter(x509), 3600);
    X509_set_pubkey(x509, pair);
    X509_NAME* name = X509_get_subject_name(x509);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("localhost"), -1, -1,
                               0);
    X509_set_issuer_name(x509, name);
    X509_sign(x509, pair, EVP_sha256());
    FILE* out = std::fopen(certificate.c_str(), "w");
    PEM_write_X509(out, x509);
    std::fclose(out);
    out = std::fopen(key.c_str(), "w");
    PEM_write_PrivateKey(out, pair, nullptr, nullptr, 0, nullptr, nullptr);
    std::fclose(out);
    X509_free(x509);
    EVP_PKEY_free(pair);
  }
  ~TestCertificate() { std::filesystem::remove_all(directory); }
  static int& counter() {
    static int value = 0;
    return value;
  }
};

// GET over TLS, trusting `certificate` only; "" when the handshake or the exchange fails.
std::string get_tls(int port, const std::string& path, const std::filesystem::path& certificate) {
  SSL_CTX* context = SSL_CTX_new(TLS_client_method());
  SSL_CTX_load_verify_locations(context, certificate.c_str(), nullptr);
  SSL_CTX_set_verify(context, SSL_VERIFY_PEER, nullptr);
  const int fd = connect_to(port);
  SSL* tls = SSL_new(context);
  SSL_set_fd(tls, fd);
  SSL_set_tlsext_host_name(tls, "localhost");
  std::string response;
  if (SSL_connect(tls) == 1) {
    const std::string request = "GET " + path + " HTTP/1.1\r\nHost: localhost\r\n\r\n";
    SSL_write(tls, request.data(), static_cast<int>(request.size()));
    char buffer[4096];
    int got = 0;
    while ((got = SSL_read(tls, buffer, sizeof buffer)) > 0) response.append(buffer, static_cast<std::size_t>(got));
  }
  ERR_clear_error();
  SSL_free(tls);
  close(fd);
  SSL_CTX_free(context);
  return response;
}

TEST(HttpServer, ServesHttpsOnlyWhenGivenACertificateAndKey) {
  TestCertificate files;
  HttpServerOptions options = loopback();
  options.tls_certificate_file = files.certificate.string();
  options.tls_key_file = files.key.string();
  options.bearer_token = "t0ken";
  HttpServer server(options);
  add_routes(server);
  server.start();
  const int port = server.port();
  const std::string probe = get_tls(port, "/healthz", files.certificate);
  EXPECT_EQ(status_of(probe), 200);
  EXPECT_EQ(body_of(probe), "alive\n");
  EXPECT_EQ(status_of(get_tls(port, "/metrics", files.certificate)), 401);
  // Plain HTTP on the TLS port gets no HTTP answer.
  EXPECT_EQ(status_of(get(port, "/healthz")), 0);
}

TEST(HttpServer, AMissingOrWrongTlsFileStopsTheStartWithItsName) {
  TestCertificate files;
  HttpServerOptions options = loopback();
  options.tls_certificate_file = (files.directory / "missing.crt").string();
  options.tls_key_file = files.key.string();
  HttpServer missing(options);
  try {
    missing.start();
    FAIL() << "started without its certificate";
  } catch (const std::runtime_error& error) {
    EXPECT_NE(std::string(error.what()).find("missing.crt"), std::string::npos) << error.what();
  }
  options.tls_certificate_file = files.certificate.string();
  options.tls_key_file = files.certificate.string();  // a certificate where the key should be
  HttpServer wrong(options);
  EXPECT_THROW(wrong.start(), std::runtime_error);
}

TEST(HttpServer, AnAddressInUseIsAnErrorNotAHang) {
  HttpServer first(loopback());
  first.start();
  HttpServerOptions options = loopback();
  options.port = first.port();
  HttpServer second(options);
  EXPECT_THROW(second.start(), std::runtime_error);
}

}  // namespace
}  // namespace sluice::observe
