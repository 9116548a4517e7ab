// TaskInputQueue: event-time order across a task's input partitions, and how long an empty partition holds the
// task back (include/sluice/runtime/input_queue.hpp).
#include <gtest/gtest.h>

#include <set>

#include "sluice/runtime/input_queue.hpp"

using namespace sluice;
using runtime::InputQueueOptions;
using runtime::TaskInputQueue;

namespace {

kafka::Message record(std::int64_t offset, std::int64_t timestamp_ms) {
  kafka::Message::Fields fields;
  fields.offset = offset;
  fields.timestamp_ms = timestamp_ms;
  return kafka::Message(std::move(fields), {});
}

// Which inputs are caught up (nothing left to fetch); the others lag.
struct Fetched {
  std::set<std::size_t> caught_up;
  TaskInputQueue::CaughtUp callback() const {
    return [this](std::size_t input) { return caught_up.contains(input); };
  }
};

}  // namespace

TEST(TaskInputQueue, TakesTheOldestHeadAcrossInputsOnceEveryInputHasARecord) {
  TaskInputQueue queue(2, InputQueueOptions{});
  Fetched fetched{{0, 1}};
  queue.push(0, record(0, 200));
  queue.push(0, record(1, 400));
  queue.push(1, record(0, 100));
  queue.push(1, record(1, 300));
  std::vector<std::int64_t> order;
  while (auto next = queue.next(0, fetched.callback())) {
    order.push_back(next->message.timestamp_ms());
    EXPECT_FALSE(next->enforced);
  }
  EXPECT_EQ(order, (std::vector<std::int64_t>{100, 200, 300, 400}));
  EXPECT_EQ(queue.buffered(), 0u);
}

TEST(TaskInputQueue, EqualTimestampsGoInInputOrderAndEachInputStaysFifo) {
  TaskInputQueue queue(2, InputQueueOptions{});
  Fetched fetched{{0, 1}};
  queue.push(1, record(0, 100));
  queue.push(0, record(0, 100));
  queue.push(0, record(1, 50));  // out of order within its partition: a partition is never reordered
  std::vector<std::pair<std::size_t, std::int64_t>> order;
  while (auto next = queue.next(0, fetched.callback())) order.emplace_back(next->input, next->message.offset());
  EXPECT_EQ(order, (std::vector<std::pair<std::size_t, std::int64_t>>{{0, 0}, {0, 1}, {1, 0}}));
}

TEST(TaskInputQueue, ACaughtUpEmptyInputDoesNotHoldTheTaskBackWithoutMaxTaskIdle) {
  TaskInputQueue queue(2, InputQueueOptions{.max_task_idle_ms = 0});
  Fetched fetched{{1}};
  queue.push(0, record(0, 500));
  auto next = queue.next(0, fetched.callback());
  ASSERT_TRUE(next.has_value());
  EXPECT_FALSE(next->enforced);
  EXPECT_FALSE(queue.wait_left_ms(0).has_value());
}

TEST(TaskInputQueue, ALaggingEmptyInputIsWaitedForUntilItsRecordsArrive) {
  TaskInputQueue queue(2, InputQueueOptions{.max_task_idle_ms = 0, .lagging_wait_ms = 500});
  Fetched fetched{{0}};  // input 1 has records the consumer has not fetched yet
  queue.push(0, record(0, 500));
  EXPECT_FALSE(queue.next(1'000, fetched.callback()).has_value());
  EXPECT_EQ(queue.wait_left_ms(1'200), 300);
  EXPECT_FALSE(queue.next(1'499, fetched.callback()).has_value());
  // The older table row arrives within the wait: it goes first.
  queue.push(1, record(0, 100));
  fetched.caught_up.insert(1);
  auto first = queue.next(1'499, fetched.callback());
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->input, 1u);
  EXPECT_FALSE(first->enforced);
  auto second = queue.next(1'499, fetched.callback());
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->input, 0u);
}

TEST(TaskInputQueue, AfterMaxTaskIdleTheTaskGoesOnWithWhatIsBufferedUntilTheEmptyInputHasRecordsAgain) {
  TaskInputQueue queue(2, InputQueueOptions{.max_task_idle_ms = 2'000});
  Fetched fetched{{0, 1}};  // caught up: only max_task_idle makes it wait
  queue.push(0, record(0, 500));
  queue.push(0, record(1, 600));
  EXPECT_FALSE(queue.next(10'000, fetched.callback()).has_value());
  EXPECT_FALSE(queue.next(11'999, fetched.callback()).has_value());
  EXPECT_EQ(queue.wait_left_ms(11'000), 1'000);
  auto first = queue.next(12'000, fetched.callback());
  ASSERT_TRUE(first.has_value());
  EXPECT_TRUE(first->enforced);
  // The wait is over for this episode: what arrives on input 0 meanwhile goes on at once.
  queue.push(0, record(2, 700));
  EXPECT_TRUE(queue.next(12'001, fetched.callback()).has_value());
  EXPECT_TRUE(queue.next(12'001, fetched.callback()).has_value());
  EXPECT_FALSE(queue.next(12'001, fetched.callback()).has_value());  // nothing buffered
  // Input 1 has a record again, then empties: a new wait starts.
  queue.push(1, record(0, 800));
  queue.push(0, record(3, 900));
  auto ordered = queue.next(20'000, fetched.callback());
  ASSERT_TRUE(ordered.has_value());
  EXPECT_EQ(ordered->input, 1u);
  EXPECT_FALSE(ordered->enforced);
  EXPECT_FALSE(queue.next(20'000, fetched.callback()).has_value());
  EXPECT_TRUE(queue.next(22'000, fetched.callback()).has_value());
}

TEST(TaskInputQueue, ALaggingInputIsWaitedForAtMostTheLongerOfTheTwoWaits) {
  TaskInputQueue queue(2, InputQueueOptions{.max_task_idle_ms = 100, .lagging_wait_ms = 500});
  Fetched fetched{{0}};
  queue.push(0, record(0, 1));
  EXPECT_FALSE(queue.next(0, fetched.callback()).has_value());
  EXPECT_FALSE(queue.next(499, fetched.callback()).has_value());
  auto next = queue.next(500, fetched.callback());
  ASSERT_TRUE(next.has_value());
  EXPECT_TRUE(next->enforced);
}

TEST(TaskInputQueue, ClearDropsEverythingAndEndsTheWait) {
  TaskInputQueue queue(3, InputQueueOptions{.max_task_idle_ms = 1'000});
  Fetched fetched{};
  queue.push(0, record(0, 1));
  queue.push(2, record(0, 2));
  EXPECT_FALSE(queue.next(0, fetched.callback()).has_value());
  queue.clear();
  EXPECT_EQ(queue.buffered(), 0u);
  EXPECT_EQ(queue.buffered(0), 0u);
  EXPECT_FALSE(queue.wait_left_ms(0).has_value());
  queue.push(0, record(1, 3));
  EXPECT_FALSE(queue.next(5'000, fetched.callback()).has_value());  // a new wait starts at 5'000
  EXPECT_TRUE(queue.next(6'000, fetched.callback()).has_value());
}
