// sluice-http-siege: how the HTTP port's probes fare while hostile clients hold connections (issue 11).
//
//   sluice-http-siege [--seconds N] [--idle N] [--slow N] NAME=HOST:PORT[:PID] ...
//
// For each target in turn, three phases of N seconds (default 20): quiet, N_slow slowloris clients (each sends
// one header line a second and never ends its request; reconnects when closed), and N_idle idle connections
// (connect and send nothing; reconnect when closed). Throughout, a prober GETs /healthz every 100 ms with a
// 1 s timeout. Printed per target and phase: probes answered 200 / sent, latency p50 / p99 / max, attacker
// connections (re)opened, and with a PID the CPU seconds the target used in the phase. Side by side, so a
// baseline (an older build) and the current build are measured in one run.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

struct Target {
  std::string name;
  std::string host;
  int port = 0;
  int pid = 0;
};

sockaddr_in address_of(const Target& target) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(target.port));
  inet_pton(AF_INET, target.host.c_str(), &address.sin_addr);
  return address;
}

double cpu_seconds(int pid) {
  if (pid <= 0) return 0;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const auto close_paren = text.rfind(')');
  if (close_paren == std::string::npos) return 0;
  std::istringstream fields(text.substr(close_paren + 2));
  std::string field;
  double ticks = 0;
  for (int index = 3; fields >> field; ++index) {
    if (index == 14 || index == 15) ticks += std::stod(field);  // utime, stime
    if (index == 15) break;
  }
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// One probe: connect, GET /healthz, read the status line; the latency in ms, or -1 when it failed or took
// longer than a second.
double probe(const Target& target) {
  const auto started = Clock::now();
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  timeval limit{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
  sockaddr_in address = address_of(target);
  std::string response;
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0) {
    const std::string request = "GET /healthz HTTP/1.1\r\nHost: probe\r\n\r\n";
    send(fd, request.data(), request.size(), MSG_NOSIGNAL);
    char buffer[1024];
    ssize_t got = 0;
    while (response.size() < 12 && (got = recv(fd, buffer, sizeof buffer, 0)) > 0) {
      response.append(buffer, static_cast<std::size_t>(got));
    }
  }
  close(fd);
  const double elapsed = std::chrono::duration<double, std::milli>(Clock::now() - started).count();
  if (elapsed > 1000 || response.rfind("HTTP/1.1 200", 0) != 0) return -1;
  return elapsed;
}

// The attackers: `count` non-blocking connections kept open (reopened when the server closes one); slow ones
// send a header line a second.
class Attack {
 public:
  Attack(const Target& target, int count, bool slow) : target_(target), count_(count), slow_(slow) {}

  void run(const std::atomic<bool>& stop) {
    epoll_ = epoll_create1(EPOLL_CLOEXEC);
    for (int i = 0; i < count_; ++i) open_one();
    started_ = true;
    std::vector<epoll_event> events(1024);
    auto next_drip = Clock::now() + 1s;
    while (!stop) {
      const int ready = epoll_wait(epoll_, events.data(), static_cast<int>(events.size()), 50);
      for (int i = 0; i < ready; ++i) {
        const int fd = events[static_cast<std::size_t>(i)].data.fd;
        char buffer[4096];
        const ssize_t got = recv(fd, buffer, sizeof buffer, 0);
        if (got == 0 || (got < 0 && errno != EAGAIN && errno != ENOTCONN)) reopen(fd);
        if ((events[static_cast<std::size_t>(i)].events & (EPOLLHUP | EPOLLERR)) != 0) reopen(fd);
      }
      if (slow_ && Clock::now() >= next_drip) {
        next_drip += 1s;
        std::vector<int> fds;
        for (const auto& [fd, lines] : lines_) fds.push_back(fd);
        for (int fd : fds) {
          const std::string line = "X-Slow-" + std::to_string(lines_[fd]++) + ": x\r\n";
          if (send(fd, line.data(), line.size(), MSG_NOSIGNAL) < 0 && errno != EAGAIN && errno != ENOTCONN) reopen(fd);
        }
      }
    }
    for (const auto& [fd, lines] : lines_) close(fd);
    close(epoll_);
  }
  long opened() const { return opened_; }
  bool started() const { return started_; }

 private:
  void open_one() {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return;
    sockaddr_in address = address_of(target_);
    connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);  // EINPROGRESS
    epoll_event event{};
    event.events = EPOLLIN | EPOLLRDHUP;
    event.data.fd = fd;
    epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &event);
    lines_[fd] = 0;
    ++opened_;
    if (slow_) {
      const std::string start = "GET /healthz HTTP/1.1\r\n";
      send(fd, start.data(), start.size(), MSG_NOSIGNAL);  // may fail while connecting: the drip follows
    }
  }
  void reopen(int fd) {
    if (lines_.erase(fd) == 0) return;
    epoll_ctl(epoll_, EPOLL_CTL_DEL, fd, nullptr);
    close(fd);
    open_one();
  }

  const Target& target_;
  int count_;
  bool slow_;
  int epoll_ = -1;
  long opened_ = 0;
  std::atomic<bool> started_{false};
  std::unordered_map<int, int> lines_;  // fd -> header lines sent
};

struct PhaseResult {
  std::string phase;
  int sent = 0;
  std::vector<double> latencies;  // answered probes
  long attackers_opened = 0;
  double cpu = 0;
};

PhaseResult measure(const Target& target, const std::string& phase, int attackers, bool slow,
                    std::chrono::seconds length) {
  PhaseResult result;
  result.phase = phase;
  std::atomic<bool> stop{false};
  Attack attack(target, attackers, slow);
  std::thread attacker;
  if (attackers > 0) {
    attacker = std::thread([&] { attack.run(stop); });
    while (!attack.started()) std::this_thread::sleep_for(10ms);  // every attacker connection initiated
  }
  const double cpu_before = cpu_seconds(target.pid);
  const auto end = Clock::now() + length;
  auto next = Clock::now();
  while (Clock::now() < end) {
    next += 100ms;
    ++result.sent;
    const double latency = probe(target);
    if (latency >= 0) result.latencies.push_back(latency);
    std::this_thread::sleep_until(next);
  }
  result.cpu = cpu_seconds(target.pid) - cpu_before;
  stop = true;
  if (attacker.joinable()) attacker.join();
  result.attackers_opened = attack.opened();
  return result;
}

double percentile(std::vector<double> values, double p) {
  if (values.empty()) return -1;
  std::sort(values.begin(), values.end());
  const auto index = static_cast<std::size_t>(p * static_cast<double>(values.size() - 1) + 0.5);
  return values[std::min(index, values.size() - 1)];
}

}  // namespace

int main(int argc, char** argv) {
  int seconds = 20;
  int idle = 10'000;
  int slow = 100;
  std::vector<Target> targets;
  for (int i = 1; i < argc; ++i) {
    const std::string argument = argv[i];
    if (argument == "--seconds" && i + 1 < argc) {
      seconds = std::stoi(argv[++i]);
    } else if (argument == "--idle" && i + 1 < argc) {
      idle = std::stoi(argv[++i]);
    } else if (argument == "--slow" && i + 1 < argc) {
      slow = std::stoi(argv[++i]);
    } else if (const auto equals = argument.find('='); equals != std::string::npos) {
      Target target;
      target.name = argument.substr(0, equals);
      std::istringstream parts(argument.substr(equals + 1));
      std::string port;
      std::string pid;
      std::getline(parts, target.host, ':');
      std::getline(parts, port, ':');
      std::getline(parts, pid, ':');
      target.port = std::stoi(port);
      target.pid = pid.empty() ? 0 : std::stoi(pid);
      targets.push_back(target);
    } else {
      std::cerr << "usage: sluice-http-siege [--seconds N] [--idle N] [--slow N] NAME=HOST:PORT[:PID] ...\n";
      return 2;
    }
  }
  if (targets.empty()) {
    std::cerr << "usage: sluice-http-siege [--seconds N] [--idle N] [--slow N] NAME=HOST:PORT[:PID] ...\n";
    return 2;
  }
  rlimit files{};
  getrlimit(RLIMIT_NOFILE, &files);
  files.rlim_cur = files.rlim_max;
  setrlimit(RLIMIT_NOFILE, &files);
  if (static_cast<long>(files.rlim_cur) < idle + slow + 64) {
    std::cerr << "sluice-http-siege: the descriptor limit (" << files.rlim_cur << ") is below " << idle + slow + 64
              << "; lower --idle\n";
    return 2;
  }

  std::printf("| target | phase | probes 200/sent | p50 ms | p99 ms | max ms | attacker connections opened | target CPU s |\n");
  std::printf("|---|---|---|---|---|---|---|---|\n");
  const std::chrono::seconds length(seconds);
  for (const auto& target : targets) {
    for (const auto& [phase, attackers, is_slow] :
         {std::tuple{std::string("quiet"), 0, false}, std::tuple{std::to_string(slow) + " slow clients", slow, true},
          std::tuple{std::to_string(idle) + " idle connections", idle, false}}) {
      const PhaseResult result = measure(target, phase, attackers, is_slow, length);
      std::printf("| %s | %s | %zu/%d | %.2f | %.2f | %.2f | %ld | %.2f |\n", target.name.c_str(), phase.c_str(),
                  result.latencies.size(), result.sent, percentile(result.latencies, 0.5),
                  percentile(result.latencies, 0.99), percentile(result.latencies, 1.0), result.attackers_opened,
                  result.cpu);
      std::fflush(stdout);
    }
  }
  return 0;
}
