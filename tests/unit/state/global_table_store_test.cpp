// The store of a global table (issue 12, item 5): exact row counts, rows and next offsets durable together,
// resumed after a reopen, nothing uncommitted kept, reset() wipes, and readers on other threads while it is
// written.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "sluice/state/global_table_store.hpp"

namespace {

using namespace sluice::state;

class GlobalTableDir {
 public:
  GlobalTableDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "sluice-global-test-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~GlobalTableDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  GlobalTableDir(const GlobalTableDir&) = delete;
  GlobalTableDir& operator=(const GlobalTableDir&) = delete;
  std::shared_ptr<StateResources> resources() const {
    StateOptions options;
    options.directory = path_.string();
    options.memory_bytes = 16 << 20;
    return make_state_resources(options);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

std::optional<std::string> row(const GlobalTableStore& store, std::string_view key) {
  std::string value;
  if (!store.get(key, value)) return std::nullopt;
  return value;
}

TEST(GlobalTableStoreTest, CountsRowsExactlyAndSeesItsOwnWritesAtOnce) {
  auto store = make_memory_global_table();
  EXPECT_EQ(store->rows(), 0);
  store->put("c1", "a");
  store->put("c2", "b");
  store->put("c1", "a2");  // an update, not a new row
  EXPECT_EQ(row(*store, "c1"), "a2");
  EXPECT_EQ(store->rows(), 2);
  store->remove("c9");  // absent: no change
  EXPECT_EQ(store->rows(), 2);
  store->remove("c2");
  EXPECT_EQ(row(*store, "c2"), std::nullopt);
  EXPECT_EQ(store->rows(), 1);
  store->commit();
  EXPECT_EQ(row(*store, "c1"), "a2");
  EXPECT_EQ(store->rows(), 1);
}

TEST(GlobalTableStoreTest, RowsOffsetsAndCountAreResumedTogetherAfterAReopen) {
  GlobalTableDir directory;
  const auto resources = directory.resources();
  {
    auto store = open_rocksdb_global_table(resources, "cards");
    EXPECT_TRUE(store->next_offsets().empty());
    store->put("c1", "v1");
    store->put("c2", "v2");
    store->set_next_offset(0, 2);
    store->set_next_offset(3, 7);
    store->commit();
    EXPECT_EQ(store->next_offsets(), (std::map<std::int32_t, std::int64_t>{{0, 2}, {3, 7}}));
    // Written after the last commit: gone after the reopen, rows and offsets alike.
    store->put("c3", "v3");
    store->remove("c1");
    store->set_next_offset(0, 5);
    EXPECT_EQ(store->next_offsets().at(0), 2);  // the durable one until commit()
    store->close();
  }
  EXPECT_TRUE(std::filesystem::exists(directory.path() / "global-cards"));
  auto store = open_rocksdb_global_table(resources, "cards");
  EXPECT_EQ(store->next_offsets(), (std::map<std::int32_t, std::int64_t>{{0, 2}, {3, 7}}));
  EXPECT_EQ(row(*store, "c1"), "v1");
  EXPECT_EQ(row(*store, "c2"), "v2");
  EXPECT_EQ(row(*store, "c3"), std::nullopt);
  EXPECT_EQ(store->rows(), 2);
}

TEST(GlobalTableStoreTest, ResetWipesRowsAndOffsetsOnDisk) {
  GlobalTableDir directory;
  const auto resources = directory.resources();
  {
    auto store = open_rocksdb_global_table(resources, "cards");
    store->put("c1", "v1");
    store->set_next_offset(0, 1);
    store->commit();
    store->reset();
    EXPECT_EQ(row(*store, "c1"), std::nullopt);
    EXPECT_TRUE(store->next_offsets().empty());
    EXPECT_EQ(store->rows(), 0);
    store->put("c2", "v2");
    store->set_next_offset(0, 1);
    store->commit();
  }
  auto store = open_rocksdb_global_table(resources, "cards");
  EXPECT_EQ(row(*store, "c1"), std::nullopt);
  EXPECT_EQ(row(*store, "c2"), "v2");
  EXPECT_EQ(store->rows(), 1);
}

TEST(GlobalTableStoreTest, ReadersOnOtherThreadsSeeOnlyValuesThatWereWritten) {
  GlobalTableDir directory;
  auto store = open_rocksdb_global_table(directory.resources(), "cards");
  std::atomic<bool> done{false};
  std::atomic<int> bad{0};
  std::atomic<long> reads{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 3; ++r) {
    readers.emplace_back([&] {
      std::string value;
      while (!done.load()) {
        for (int k = 0; k < 50; ++k) {
          const std::string key = "k" + std::to_string(k);
          // Every value ever written for key k is "k<k>-v<n>".
          if (store->get(key, value) && value.rfind(key + "-v", 0) != 0) ++bad;
          ++reads;
        }
      }
    });
  }
  for (int round = 0; round < 200; ++round) {
    for (int k = 0; k < 50; ++k) {
      const std::string key = "k" + std::to_string(k);
      if ((round + k) % 7 == 0) {
        store->remove(key);
      } else {
        store->put(key, key + "-v" + std::to_string(round));
      }
    }
    store->set_next_offset(0, round);
    if (round % 10 == 0) store->commit();
  }
  store->commit();
  done = true;
  for (auto& reader : readers) reader.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_GT(reads.load(), 0);
  EXPECT_EQ(row(*store, "k1"), "k1-v199");
  int present = 0;
  for (int k = 0; k < 50; ++k) present += row(*store, "k" + std::to_string(k)).has_value() ? 1 : 0;
  EXPECT_EQ(store->rows(), present);
}

}  // namespace
