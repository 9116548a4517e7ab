#include "sluice/runtime/committer.hpp"

#include <algorithm>

#include "sluice/core/backoff.hpp"

namespace sluice::runtime {

using namespace std::chrono_literals;

namespace {

// Each blocking call waits at most this long, so the loop's heartbeat and readiness stay truthful while the
// cluster does not answer; a call that timed out is repeated (librdkafka resumes the same operation).
constexpr std::chrono::milliseconds kSlice{500};

// How many slices fit in `budget` (at least one): a bound on attempts as well as on time, so a client that
// fails at once cannot spin.
int slices_in(std::chrono::milliseconds budget) {
  return static_cast<int>(std::max<std::int64_t>(1, budget.count() / kSlice.count()));
}

}  // namespace

CommitterBase::CommitterBase(RecordCollector& collector, kafka::Consumer& consumer, CommitterOptions options,
                             CommitObserver observer, observe::Metrics& metrics, observe::Logger& logger,
                             const core::Clock& clock, std::string component, TransactionGate* gate)
    : collector_(collector),
      consumer_(consumer),
      options_(std::move(options)),
      observer_(std::move(observer)),
      metrics_(metrics),
      logger_(logger),
      clock_(clock),
      component_(std::move(component)) {
  collector_.set_gate(gate);
}

// ---- exactly-once ----

ExactlyOnceCommitter::ExactlyOnceCommitter(RecordCollector& collector, kafka::Consumer& consumer,
                                           CommitterOptions options, CommitObserver observer,
                                           observe::Metrics& metrics, observe::Logger& logger,
                                           const core::Clock& clock, std::string component)
    : CommitterBase(collector, consumer, std::move(options), std::move(observer), metrics, logger, clock,
                    std::move(component), this) {}

bool ExactlyOnceCommitter::initialize() {
  // Fences an earlier producer with this transactional id and aborts its open transaction, so its uncommitted
  // outputs never become visible and read_committed readers are not held up.
  core::Backoff backoff(clock_, 200, 5'000);
  for (;;) {
    // Short attempts (a timed-out InitProducerId may be repeated), so the loop's heartbeat stays truthful.
    BlockingCall call(observer_.health, "InitProducerId", now_ms());
    kafka::KafkaError error = collector_.producer().init_transactions(std::min(options_.transaction_timeout, 2'000ms));
    if (error.ok()) break;
    if (!error.retriable && !error.unreachable()) {
      logger_.error(component_, "cannot initialise transactions for " + options_.transactional_id + ": " +
                                    error.message);
      fatal_ = true;
      return false;
    }
    if (observer_.trouble) observer_.trouble("initialising transactions: " + error.message);
    logger_.warn(component_, "initialising transactions: " + error.message + "; retrying in " +
                                 std::to_string(backoff.next_ms()) + " ms");
    if (!backoff.wait(observer_.stop_requested, observer_.heartbeat)) return false;
  }
  in_transaction_ = false;
  return true;
}

bool ExactlyOnceCommitter::ensure_open() {
  if (in_transaction_) return true;
  if (fatal_) return false;
  kafka::KafkaError error = collector_.producer().begin_transaction();
  if (!error.ok()) {
    // Only a producer in an unusable state refuses to begin; the commit will replace it.
    logger_.error(component_, "cannot begin a transaction: " + error.message);
    return false;
  }
  in_transaction_ = true;
  return true;
}

CommitResult ExactlyOnceCommitter::fatal(const std::string& message) {
  logger_.error(component_, message);
  fatal_ = true;
  metrics_.commit_failures().Increment();
  return CommitResult::fatal;
}

bool ExactlyOnceCommitter::replace_producer(const char* why) {
  logger_.warn(component_, std::string("replacing the producer (") + why +
                               "): a transaction whose outcome is unknown is never continued with the same producer");
  in_transaction_ = false;
  try {
    collector_.create_producer();
  } catch (const std::exception& error) {
    logger_.error(component_, std::string("cannot create a new producer: ") + error.what());
    fatal_ = true;
    return false;
  }
  return initialize();
}

bool ExactlyOnceCommitter::abort(const char* why) {
  if (!in_transaction_) {
    collector_.reset();
    return !fatal_;
  }
  metrics_.transactions_aborted().Increment();
  kafka::KafkaError error;
  const int attempts = slices_in(options_.transaction_timeout);
  for (int attempt = 0; attempt < attempts; ++attempt) {
    {
      BlockingCall call(observer_.health, "abort_transaction", now_ms());
      error = collector_.producer().abort_transaction(kSlice);
    }
    if (error.ok() || !(error.retriable || error.code == kafka::ErrorCode::timed_out)) break;
    if (observer_.heartbeat) observer_.heartbeat();
  }
  collector_.reset();
  if (error.ok()) {
    in_transaction_ = false;
    return true;
  }
  logger_.warn(component_, std::string("transaction abort (") + why + ") failed: " + error.message);
  return replace_producer("abort failed") && !fatal_;
}

CommitResult ExactlyOnceCommitter::on_failure(const kafka::KafkaError& error, const char* step, const char* why) {
  metrics_.commit_failures().Increment();
  const std::string what = std::string(step) + " (" + why + ") failed: " + error.message;
  if (observer_.trouble) observer_.trouble(what);
  if (error.code == kafka::ErrorCode::fenced) {
    if (fenced_since_commit_) {
      return fatal(what + "; fenced again: another instance with transactional id " + options_.transactional_id +
                   " has taken over, so this one stops");
    }
    // The broker also fences a producer whose transaction it aborted after transaction_timeout (an outage):
    // try once with a new producer; a real zombie is fenced again at once.
    fenced_since_commit_ = true;
    logger_.warn(component_, what);
    collector_.reset();
    if (!replace_producer("fenced")) return fatal_ ? CommitResult::fatal : CommitResult::rolled_back;
    return CommitResult::rolled_back;
  }
  if (++failed_commits_ >= options_.max_failed_commits && error.refusal()) {
    return fatal(what + "; " + std::to_string(failed_commits_) + " commits in a row failed, stopping");
  }
  logger_.warn(component_, what + "; rolling back to the last commit");
  const bool indefinite = error.code == kafka::ErrorCode::timed_out || error.fatal || error.unreachable();
  if (indefinite) {
    collector_.reset();
    if (!replace_producer(step)) return fatal_ ? CommitResult::fatal : CommitResult::rolled_back;
    return CommitResult::rolled_back;
  }
  if (!abort(why)) return fatal_ ? CommitResult::fatal : CommitResult::rolled_back;
  return CommitResult::rolled_back;
}

CommitResult ExactlyOnceCommitter::commit(const std::vector<kafka::TopicPartition>& offsets, const char* why) {
  if (fatal_) return CommitResult::fatal;
  if (!in_transaction_ && offsets.empty() && !collector_.wrote()) return CommitResult::nothing;
  const std::int64_t started = clock_.monotonic_ns();
  if (const auto& failure = collector_.failure()) {
    // An output or changelog record was not written: this transaction must not commit its inputs.
    metrics_.commit_failures().Increment();
    if (++failed_commits_ >= options_.max_failed_commits) {
      return fatal("writes keep failing (" + failure->message + "); " + std::to_string(failed_commits_) +
                   " commits in a row rolled back, stopping");
    }
    if (observer_.trouble) observer_.trouble("writes failing: " + failure->message);
    if (!abort(why)) return fatal_ ? CommitResult::fatal : CommitResult::rolled_back;
    return CommitResult::rolled_back;
  }
  if (!ensure_open()) return on_failure(kafka::KafkaError::make(kafka::ErrorCode::invalid_state, "cannot begin"), "begin", why);

  kafka::KafkaError error;
  const int attempts = slices_in(options_.transaction_timeout);
  if (!offsets.empty()) {
    auto group = consumer_.group_metadata();
    for (int attempt = 0; attempt < attempts; ++attempt) {
      {
        BlockingCall call(observer_.health, "send_offsets_to_transaction", now_ms());
        error = collector_.producer().send_offsets_to_transaction(offsets, *group, kSlice);
      }
      if (error.ok() || error.requires_abort || error.fatal || !error.retriable) break;
      if (observer_.heartbeat) observer_.heartbeat();
      if (attempt == 0 && observer_.trouble) observer_.trouble("committing offsets: " + error.message);
    }
    if (!error.ok()) return on_failure(error, "sending offsets to the transaction", why);
  }
  for (int attempt = 0; attempt < attempts; ++attempt) {
    {
      BlockingCall call(observer_.health, "commit_transaction", now_ms());
      error = collector_.producer().commit_transaction(kSlice);
    }
    if (error.ok() || error.requires_abort || error.fatal || !error.retriable) break;
    if (observer_.heartbeat) observer_.heartbeat();
    if (attempt == 0 && observer_.trouble) observer_.trouble("committing the transaction: " + error.message);
  }
  if (!error.ok()) return on_failure(error, "transaction commit", why);
  // A failed write inside the transaction makes librdkafka refuse the commit; this is the belt to its braces.
  if (collector_.failure()) {
    return fatal("a write failed inside a transaction that committed (" + collector_.failure()->message + ")");
  }
  in_transaction_ = false;
  fenced_since_commit_ = false;
  failed_commits_ = 0;
  collector_.reset();
  metrics_.transactions_committed().Increment();
  metrics_.commits().Increment();
  metrics_.commit_latency().Observe(static_cast<double>(clock_.monotonic_ns() - started) / 1e9);
  if (observer_.recovered) observer_.recovered();
  return CommitResult::committed;
}

// ---- at-least-once ----

AtLeastOnceCommitter::AtLeastOnceCommitter(RecordCollector& collector, kafka::Consumer& consumer,
                                           CommitterOptions options, CommitObserver observer,
                                           observe::Metrics& metrics, observe::Logger& logger,
                                           const core::Clock& clock, std::string component)
    : CommitterBase(collector, consumer, std::move(options), std::move(observer), metrics, logger, clock,
                    std::move(component), nullptr) {}

CommitResult AtLeastOnceCommitter::failed(const std::string& message, bool outage) {
  metrics_.commit_failures().Increment();
  if (observer_.trouble) observer_.trouble(message);
  // An outage is waited out (truthfully not ready); a refusal or a failing write is bounded.
  if (!outage && ++failed_commits_ >= options_.max_failed_commits) {
    logger_.error(component_, message + "; " + std::to_string(failed_commits_) + " commits in a row failed, stopping");
    return CommitResult::fatal;
  }
  logger_.warn(component_, message);
  return CommitResult::nothing;  // replaced by the caller's choice below
}

CommitResult AtLeastOnceCommitter::commit(const std::vector<kafka::TopicPartition>& offsets, const char* why) {
  if (offsets.empty() && !collector_.wrote() && !collector_.failure()) return CommitResult::nothing;
  const std::int64_t started = clock_.monotonic_ns();
  // Outputs first: an input offset may be committed only once everything it produced is acknowledged.
  kafka::KafkaError error;
  const int attempts = slices_in(options_.transaction_timeout);
  for (int attempt = 0; attempt < attempts; ++attempt) {
    {
      BlockingCall call(observer_.health, "flush", now_ms());
      error = collector_.producer().flush(kSlice);
    }
    if (error.ok()) break;
    if (observer_.heartbeat) observer_.heartbeat();
    if (attempt == 0 && observer_.trouble) observer_.trouble("waiting for output acknowledgements: " + error.message);
  }
  if (!error.ok()) {
    CommitResult result = failed(std::string("commit (") + why + ") waits for outputs: " + error.message, true);
    return result == CommitResult::fatal ? result : CommitResult::retry_later;
  }
  if (const auto& failure = collector_.failure()) {
    CommitResult result = failed(std::string("commit (") + why + "): an output failed (" + failure->message +
                                 "); the inputs since the last commit will be processed again",
                                 failure->unreachable());
    collector_.reset();
    return result == CommitResult::fatal ? result : CommitResult::rolled_back;
  }
  {
    BlockingCall call(observer_.health, "offset commit", now_ms());
    error = consumer_.commit(offsets);
  }
  if (!error.ok()) {
    CommitResult result =
        failed(std::string("offset commit (") + why + ") failed: " + error.message, error.retriable || error.unreachable());
    return result == CommitResult::fatal ? result : CommitResult::retry_later;
  }
  failed_commits_ = 0;
  collector_.reset();
  metrics_.commits().Increment();
  metrics_.commit_latency().Observe(static_cast<double>(clock_.monotonic_ns() - started) / 1e9);
  if (observer_.recovered) observer_.recovered();
  return CommitResult::committed;
}

}  // namespace sluice::runtime
