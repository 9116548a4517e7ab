// The store guard (include/sluice/runtime/store_guard.hpp): fingerprints recorded on the cluster, compared at
// start, reset on request.
#include "sluice/runtime/store_guard.hpp"

#include <algorithm>
#include <chrono>
#include <set>
#include <utility>

#include <nlohmann/json.hpp>

#include "sluice/core/backoff.hpp"
#include "sluice/core/printable.hpp"

namespace sluice::runtime {

using namespace std::chrono_literals;

std::string fingerprint_topic(const std::string& application_id) { return application_id + "-store-fingerprints"; }

StoreGuard::StoreGuard(const topology::Topology& topology, StoreGuardOptions options)
    : fingerprints_(topology::store_fingerprints(topology)),
      topic_(fingerprint_topic(topology.application_id)),
      options_(std::move(options)) {}

std::string StoreGuard::mismatch_message(const topology::StoreFingerprint& now, const std::vector<std::string>& changes) {
  std::string what;
  for (const auto& change : changes) what += (what.empty() ? "" : "; ") + change;
  std::string message = now.pointer + ": the state of operator " + core::quoted(now.store) +
                        " was written by another definition (" + what + "), and sluice will not read it as this "
                        "one. Either rename the operator (its state then starts empty under the new name; `sluice "
                        "diff OLD NEW` lists the old topics to delete), or stop every instance of the old version "
                        "and run once with --reset-store " + now.store;
  message += now.owns_changelog ? " (empties its changelog " + now.changelog_topic + ")"
                                : " (its copy of table topic " + now.changelog_topic + " is read again)";
  return message;
}

bool StoreGuard::read_recorded(kafka::Consumer& consumer, std::map<std::string, Recorded>& recorded,
                               std::string& problem) {
  std::int64_t low = 0;
  std::int64_t high = 0;
  if (auto error = consumer.query_watermarks(topic_, 0, low, high, options_.timeout); !error.ok()) {
    problem = "cannot read the end of " + topic_ + ": " + error.message;
    return false;
  }
  if (high <= low) return true;
  if (auto error = consumer.assign({{topic_, 0, kafka::offset_beginning}}); !error.ok()) {
    problem = "cannot read " + topic_ + ": " + error.message;
    return false;
  }
  const auto deadline = std::chrono::steady_clock::now() + options_.timeout;
  std::int64_t next = low;
  while (next < high) {
    if (std::chrono::steady_clock::now() > deadline) {
      problem = "reading " + topic_ + " timed out at offset " + std::to_string(next) + " of " + std::to_string(high);
      return false;
    }
    kafka::Message message = consumer.poll(100ms);
    if (!message) {
      // Compaction leaves gaps: the position says how far the consumer got.
      if (auto position = consumer.position(topic_, 0); position && *position > next) next = *position;
      continue;
    }
    if (!message.ok()) {
      if (message.error() == kafka::ErrorCode::partition_eof) break;
      problem = "reading " + topic_ + ": " + message.error_message();
      return false;
    }
    next = message.offset() + 1;
    const std::string store(message.key());
    if (!message.has_value()) {
      recorded.erase(store);
      continue;
    }
    auto document = nlohmann::ordered_json::parse(message.value(), nullptr, false);
    Recorded entry;
    if (document.is_object() && document.contains("definition") && document["generation"].is_number_integer()) {
      entry.definition = document["definition"].dump();
      entry.generation = document["generation"].get<std::int64_t>();
    } else {
      entry.definition = "(unreadable: " + core::printable(message.value(), 200) + ")";
    }
    recorded[store] = std::move(entry);
  }
  return true;
}

StoreGuard::Attempt StoreGuard::attempt(kafka::ClientFactory& clients, const kafka::ClientSettings& client,
                                        kafka::Admin& admin, observe::Logger& logger, const std::string& component,
                                        std::string& problem) {
  std::map<std::string, Recorded> recorded;
  {
    auto consumer = clients.consumer(kafka::restore_consumer_config(client), {}, nullptr);
    const bool read = read_recorded(*consumer, recorded, problem);
    consumer->close();
    if (!read) return Attempt::retry;
  }
  const std::set<std::string> resets(options_.reset_stores.begin(), options_.reset_stores.end());
  std::vector<const topology::StoreFingerprint*> to_reset;
  std::vector<std::pair<const topology::StoreFingerprint*, std::int64_t>> to_record;
  bool mismatch = false;
  for (const auto& print : fingerprints_) {
    auto found = recorded.find(print.store);
    if (found == recorded.end()) {
      to_record.emplace_back(&print, 0);
      continue;
    }
    if (found->second.definition == print.text()) {
      if (resets.count(print.store) != 0) {
        logger.info(component, "--reset-store " + print.store + ": its definition did not change; its state is kept");
      }
      continue;
    }
    if (resets.count(print.store) != 0) {
      to_reset.push_back(&print);
      to_record.emplace_back(&print, found->second.generation + 1);
      continue;
    }
    auto before = nlohmann::ordered_json::parse(found->second.definition, nullptr, false);
    std::vector<std::string> changes =
        before.is_discarded() ? std::vector<std::string>{"recorded definition " + found->second.definition}
                              : topology::fingerprint_changes(before, print.definition);
    if (changes.empty()) changes.push_back("recorded as " + core::printable(found->second.definition, 512));
    logger.error(component, mismatch_message(print, changes));
    mismatch = true;
  }
  if (mismatch) return Attempt::mismatch;

  if (!to_reset.empty()) {
    std::vector<kafka::TopicInfo> topics;
    if (auto error = admin.list_topics(topics, options_.timeout); !error.ok()) {
      problem = "cannot list topics to reset stores: " + error.message;
      return Attempt::retry;
    }
    auto consumer = clients.consumer(kafka::restore_consumer_config(client), {}, nullptr);
    for (const auto* print : to_reset) {
      if (!print->owns_changelog) {
        logger.warn(component, "--reset-store " + print->store + ": its local copies of table topic " +
                                   print->changelog_topic + " are dropped and read again");
        continue;
      }
      std::vector<kafka::TopicPartition> ends;
      for (const auto& topic : topics) {
        if (topic.name != print->changelog_topic) continue;
        for (std::int32_t partition = 0; partition < topic.partitions; ++partition) {
          ends.push_back({topic.name, partition, kafka::offset_end});
        }
      }
      if (ends.empty()) continue;  // no changelog yet: nothing to empty
      if (auto error = consumer->high_watermarks(ends, options_.timeout); !error.ok()) {
        problem = "cannot read the end of " + print->changelog_topic + ": " + error.message;
        return Attempt::retry;
      }
      if (auto error = admin.delete_records(ends, options_.timeout); !error.ok()) {
        problem = "cannot empty " + print->changelog_topic + ": " + error.message;
        return Attempt::retry;
      }
      std::int64_t records = 0;
      for (const auto& end : ends) records += std::max<std::int64_t>(0, end.offset);
      logger.warn(component, "--reset-store " + print->store + ": emptied changelog " + print->changelog_topic +
                                 " (deleted up to " + std::to_string(records) + " offsets); the store starts empty");
    }
    consumer->close();
  }

  if (!to_record.empty()) {
    kafka::ClientSettings plain = client;
    plain.exactly_once = false;
    kafka::KafkaError delivery;
    auto producer = clients.producer(kafka::producer_config(plain), {},
                                     [&delivery](const kafka::KafkaError& error, const kafka::DeliveryReport&) {
                                       if (!error.ok() && delivery.ok()) delivery = error;
                                     });
    const std::int64_t now_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    for (const auto& [print, generation] : to_record) {
      nlohmann::ordered_json value;
      value["store"] = print->store;
      value["operator"] = print->pointer;
      value["changelog"] = print->changelog_topic;
      value["generation"] = generation;
      value["definition"] = print->definition;
      const std::string text = value.dump();
      if (auto error = producer->produce(topic_, print->store, text, now_ms, nullptr, 0); !error.ok()) {
        problem = "cannot record the fingerprint of " + print->store + ": " + error.message;
        return Attempt::retry;
      }
    }
    kafka::KafkaError flushed = producer->flush(options_.timeout);
    producer->poll(0ms);
    if (!flushed.ok() || !delivery.ok()) {
      problem = "cannot record store fingerprints in " + topic_ + ": " + (flushed.ok() ? delivery : flushed).message;
      return Attempt::retry;
    }
    for (const auto& [print, generation] : to_record) recorded[print->store] = Recorded{print->text(), generation};
    logger.info(component, "recorded the fingerprints of " + std::to_string(to_record.size()) + " store(s) in " + topic_);
  }
  now_ = std::move(recorded);
  return Attempt::done;
}

GuardOutcome StoreGuard::check(kafka::ClientFactory& clients, const kafka::ClientSettings& client, kafka::Admin& admin,
                               const std::function<bool()>& stop_requested,
                               const std::function<void(const std::string&)>& trouble, observe::Logger& logger,
                               const core::Clock& clock, const std::string& component) {
  std::lock_guard lock(mutex_);
  if (outcome_) return *outcome_;
  if (fingerprints_.empty()) return *(outcome_ = GuardOutcome::ready);
  core::Backoff backoff(clock, 200, options_.backoff_max_ms);
  for (;;) {
    std::string problem;
    switch (attempt(clients, client, admin, logger, component, problem)) {
      case Attempt::done: return *(outcome_ = GuardOutcome::ready);
      case Attempt::mismatch: return *(outcome_ = GuardOutcome::mismatch);
      case Attempt::retry: break;
    }
    logger.warn(component, "store fingerprints: " + problem + "; retrying in " + std::to_string(backoff.next_ms()) +
                               " ms");
    trouble("checking store fingerprints: " + problem);
    if (!backoff.wait(stop_requested)) return GuardOutcome::stopped;
  }
}

std::string StoreGuard::marker(const std::vector<std::string>& changelogs) const {
  std::lock_guard lock(mutex_);
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const auto& changelog : changelogs) {
    for (const auto& print : fingerprints_) {
      if (print.changelog_topic != changelog) continue;
      auto found = now_.find(print.store);
      out.push_back({{"store", print.store},
                     {"definition", print.text()},
                     {"generation", found == now_.end() ? 0 : found->second.generation}});
    }
  }
  return out.dump();
}

std::int64_t StoreGuard::generation(const std::string& store) const {
  std::lock_guard lock(mutex_);
  auto found = now_.find(store);
  return found == now_.end() ? -1 : found->second.generation;
}

}  // namespace sluice::runtime
