// State store throughput on RocksDB, through the sluice API (write buffer included), beside a plain RocksDB
// baseline for the one operation the API does not have yet: dropping a time range of keys.
//
//   put + apply   puts of distinct keys in random order through the write buffer, apply() every 10,000
//                 (the commit path: changes() is timed separately, as the runtime would produce them)
//   point get     every key once, in another random order, after a close/reopen (data in table files)
//   scan          one full scan of the family
//   drop range    the oldest 10% of keys by time: scan + remove + apply through the API (one tombstone per
//                 key), versus one RocksDB DeleteRange on an identically loaded plain database; then the cost
//                 of the first read that has to get past the dropped range (first 1,000 remaining keys)
//
// Keys are 16 bytes: an 8-byte big-endian event time, then an 8-byte big-endian id, the shape of a window
// store's key. Values are 60 bytes. Prints every run and the median, since the machine is shared and noisy.
// Usage: bench_state [keys=1000000] [runs=3]
#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/table.h>
#include <rocksdb/version.h>
#include <rocksdb/write_batch.h>
#include <stdlib.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "sluice/state/store.hpp"

namespace {

using Clock = std::chrono::steady_clock;
namespace state = sluice::state;

constexpr std::size_t kBatch = 10'000;
constexpr std::int64_t kMemoryBytes = 256ll << 20;
constexpr std::int64_t kBaseTimeMs = 1'795'255'200'000;

void append_big_endian(std::string& out, std::uint64_t value) {
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>((value >> shift) & 0xffu));
}

std::uint64_t mix(std::uint64_t value) {  // splitmix64: ids that do not follow the time order
  value += 0x9e3779b97f4a7c15ull;
  value = (value ^ (value >> 30)) * 0xbf58476d1ce4e5b9ull;
  value = (value ^ (value >> 27)) * 0x94d049bb133111ebull;
  return value ^ (value >> 31);
}

// Key i has event time base + i ms: the first 10% of indexes are the oldest 10% of keys.
void make_key(std::size_t index, std::string& key) {
  key.clear();
  append_big_endian(key, static_cast<std::uint64_t>(kBaseTimeMs) + index);
  append_big_endian(key, mix(index));
}

// 60 bytes: the index in decimal, then letters, about as compressible as a small JSON aggregate.
void make_value(std::size_t index, std::string& value) {
  value = std::to_string(index);
  std::uint64_t bits = mix(index ^ 0x5555);
  while (value.size() < 60) {
    value.push_back(static_cast<char>('a' + bits % 26));
    bits = bits / 26 == 0 ? mix(bits + value.size()) : bits / 26;
  }
}

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

double peak_rss_mib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

struct Run {
  double put_apply_per_s = 0;
  double changes_ms = 0;  // total time in changes() over all batches
  double get_per_s = 0;
  double scan_per_s = 0;
  double drop_deletes_ms = 0;
  double drop_delete_range_ms = 0;
  double read_after_deletes_ms = 0;
  double read_after_delete_range_ms = 0;
  double peak_rss_mib = 0;
};

std::vector<std::uint32_t> shuffled(std::size_t count, std::uint32_t seed) {
  std::vector<std::uint32_t> order(count);
  std::iota(order.begin(), order.end(), 0u);
  std::shuffle(order.begin(), order.end(), std::mt19937(seed));
  return order;
}

// The plain-RocksDB baseline for DeleteRange, with the module's main options (no WAL, 4 MiB memtables, bloom
// filters, a 256 MiB LRU cache).
std::unique_ptr<rocksdb::DB> open_plain(const std::string& path) {
  rocksdb::Options options;
  options.create_if_missing = true;
  options.write_buffer_size = 4u << 20;
  options.max_open_files = 64;
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = rocksdb::NewLRUCache(static_cast<std::size_t>(kMemoryBytes));
  table.cache_index_and_filter_blocks = true;
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  rocksdb::DB* db = nullptr;
  const rocksdb::Status status = rocksdb::DB::Open(options, path, &db);
  if (!status.ok()) throw std::runtime_error(status.ToString());
  return std::unique_ptr<rocksdb::DB>(db);
}

void check(const rocksdb::Status& status) {
  if (!status.ok()) throw std::runtime_error(status.ToString());
}

// Time to read the first `count` keys of the family: what the next window expiry or range fetch pays.
double first_keys_ms(const std::function<void(const state::Visitor&)>& scan, std::size_t count) {
  const auto start = Clock::now();
  std::size_t seen = 0;
  scan([&](std::string_view, std::string_view) { return ++seen < count; });
  if (seen != count) throw std::runtime_error("too few keys after the drop");
  return seconds_since(start) * 1e3;
}

Run run_once(std::size_t key_count, const std::filesystem::path& directory, std::uint32_t seed) {
  Run run;
  std::string key;
  std::string value;
  const auto resources = state::make_state_resources({directory.string(), kMemoryBytes});
  auto stores = state::open_rocksdb_task_stores(resources, "0_0", {1});

  // put + apply
  {
    const std::vector<std::uint32_t> order = shuffled(key_count, seed);
    const auto start = Clock::now();
    for (std::size_t done = 0; done < key_count;) {
      const std::size_t end = std::min(key_count, done + kBatch);
      for (; done < end; ++done) {
        make_key(order[done], key);
        make_value(order[done], value);
        stores->store(0).put(0, key, value);
      }
      const auto changes_start = Clock::now();
      std::size_t bytes = 0;  // consumed, as a producer would, so the loop is not optimized away
      stores->changes(0, [&](const state::ChangelogRecord& record) {
        bytes += record.key.size() + (record.value ? record.value->size() : 0);
      });
      run.changes_ms += seconds_since(changes_start) * 1e3;
      if (bytes == 0) throw std::runtime_error("no changes to apply");
      // As if each change had been produced to the changelog at offset = its index in the put order.
      stores->apply({static_cast<std::int64_t>(done) - 1}, kBaseTimeMs + static_cast<std::int64_t>(done));
    }
    run.put_apply_per_s = static_cast<double>(key_count) / (seconds_since(start) - run.changes_ms / 1e3);
  }
  stores->close();  // flushes: reads below come from table files, as for a store that has been running a while
  stores = state::open_rocksdb_task_stores(resources, "0_0", {1});

  // point get
  {
    const std::vector<std::uint32_t> order = shuffled(key_count, seed + 1);
    const auto start = Clock::now();
    for (const std::uint32_t index : order) {
      make_key(index, key);
      if (!stores->store(0).get(0, key, value)) throw std::runtime_error("a key is missing");
    }
    run.get_per_s = static_cast<double>(key_count) / seconds_since(start);
  }

  // scan
  {
    std::size_t count = 0;
    std::size_t bytes = 0;
    const auto start = Clock::now();
    stores->store(0).scan(0, "", "", [&](std::string_view k, std::string_view v) {
      ++count;
      bytes += k.size() + v.size();
      return true;
    });
    run.scan_per_s = static_cast<double>(count) / seconds_since(start);
    if (count != key_count) throw std::runtime_error("the scan missed keys");
  }

  // drop the oldest 10%: through the API (scan the range, remove each key, apply) ...
  const std::size_t dropped = key_count / 10;
  std::string cut;
  append_big_endian(cut, static_cast<std::uint64_t>(kBaseTimeMs) + dropped);
  {
    const auto start = Clock::now();
    std::vector<std::string> doomed;
    doomed.reserve(dropped);
    stores->store(0).scan(0, "", cut, [&](std::string_view k, std::string_view) {
      doomed.emplace_back(k);
      return true;
    });
    for (const std::string& k : doomed) stores->store(0).remove(0, k);
    stores->apply({-1}, 0);
    run.drop_deletes_ms = seconds_since(start) * 1e3;
    if (doomed.size() != dropped) throw std::runtime_error("the range scan missed keys");
    run.read_after_deletes_ms =
        first_keys_ms([&](const state::Visitor& visitor) { stores->store(0).scan(0, "", "", visitor); }, 1'000);
  }
  stores->close();

  // ... versus DeleteRange on a plain database holding the same keys
  {
    const auto plain = open_plain((directory / "plain").string());
    rocksdb::WriteOptions write_options;
    write_options.disableWAL = true;
    rocksdb::WriteBatch batch;
    for (std::size_t index = 0; index < key_count; ++index) {
      make_key(index, key);
      make_value(index, value);
      check(batch.Put(key, value));
      if (batch.Count() == kBatch || index + 1 == key_count) {
        check(plain->Write(write_options, &batch));
        batch.Clear();
      }
    }
    check(plain->Flush(rocksdb::FlushOptions()));
    std::string first;
    append_big_endian(first, static_cast<std::uint64_t>(kBaseTimeMs));
    const auto start = Clock::now();
    check(plain->DeleteRange(write_options, plain->DefaultColumnFamily(), first, cut));
    run.drop_delete_range_ms = seconds_since(start) * 1e3;
    run.read_after_delete_range_ms = first_keys_ms(
        [&](const state::Visitor& visitor) {
          const std::unique_ptr<rocksdb::Iterator> iterator(plain->NewIterator(rocksdb::ReadOptions()));
          for (iterator->SeekToFirst(); iterator->Valid(); iterator->Next()) {
            if (!visitor(iterator->key().ToStringView(), iterator->value().ToStringView())) break;
          }
          check(iterator->status());
        },
        1'000);
    check(plain->Close());
  }
  run.peak_rss_mib = peak_rss_mib();
  return run;
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

void print_row(const char* label, const std::vector<Run>& runs, double Run::*field, const char* format) {
  std::printf("%-44s", label);
  std::vector<double> values;
  for (const Run& run : runs) {
    values.push_back(run.*field);
    std::printf(format, run.*field);
  }
  std::printf(format, median(values));
  std::printf("\n");
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t key_count = argc > 1 ? std::stoul(argv[1]) : 1'000'000;
  const int run_count = argc > 2 ? std::stoi(argv[2]) : 3;
  if (key_count < 10'000 || run_count < 1) {
    std::fprintf(stderr, "usage: bench_state [keys >= 10000] [runs >= 1]\n");
    return 2;
  }
  std::string pattern = (std::filesystem::temp_directory_path() / "sluice-state-bench-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) {
    std::perror("mkdtemp");
    return 1;
  }
  const std::filesystem::path root = pattern;

  std::printf("sluice state bench: %zu distinct keys of 16 B, values of 60 B, apply every %zu, RocksDB %d.%d.%d, "
              "memory budget %lld MiB\n\n",
              key_count, kBatch, ROCKSDB_MAJOR, ROCKSDB_MINOR, ROCKSDB_PATCH,
              static_cast<long long>(kMemoryBytes >> 20));
  std::vector<Run> runs;
  for (int index = 0; index < run_count; ++index) {
    const std::filesystem::path directory = root / ("run" + std::to_string(index));
    runs.push_back(run_once(key_count, directory, 42u + static_cast<std::uint32_t>(index)));
    std::filesystem::remove_all(directory);
  }
  std::filesystem::remove_all(root);

  std::printf("%-44s", "");
  for (int index = 0; index < run_count; ++index) std::printf("%12s", ("run " + std::to_string(index + 1)).c_str());
  std::printf("%12s\n", "median");
  print_row("put + apply (records/s)", runs, &Run::put_apply_per_s, "%12.0f");
  print_row("  changes() over all batches (ms)", runs, &Run::changes_ms, "%12.1f");
  print_row("point get, after reopen (records/s)", runs, &Run::get_per_s, "%12.0f");
  print_row("full scan (records/s)", runs, &Run::scan_per_s, "%12.0f");
  std::printf("drop oldest 10%% (%zu keys):\n", key_count / 10);
  print_row("  scan + remove + apply, per key (ms)", runs, &Run::drop_deletes_ms, "%12.1f");
  print_row("  RocksDB DeleteRange, one call (ms)", runs, &Run::drop_delete_range_ms, "%12.3f");
  print_row("  then first 1,000 keys, per-key deletes (ms)", runs, &Run::read_after_deletes_ms, "%12.2f");
  print_row("  then first 1,000 keys, DeleteRange (ms)", runs, &Run::read_after_delete_range_ms, "%12.2f");
  print_row("peak RSS after the run (MiB)", runs, &Run::peak_rss_mib, "%12.0f");
  return 0;
}
