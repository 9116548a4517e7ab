// Scratch reuse: numeric and boolean evaluation must not allocate once the context has warmed up, and one parsed
// expression must be usable from several threads with their own contexts. Counting allocations needs the global
// operator new replaced; it only counts while a test switches counting on.
#include <gtest/gtest.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <string>
#include <string_view>
#include <thread>
#include <variant>
#include <vector>

#include "sluice/core/clock.hpp"
#include "sluice/core/record.hpp"
#include "sluice/expr/expression.hpp"

namespace {

std::atomic<bool> counting_allocations{false};
std::atomic<std::size_t> allocation_count{0};

}  // namespace

// Every replaceable form is replaced so that all allocations pair up with free() (AddressSanitizer checks that
// memory from one family of allocation functions is not released by another).
namespace {

void* allocate(std::size_t size, std::size_t alignment) noexcept {
  if (counting_allocations.load(std::memory_order_relaxed)) allocation_count.fetch_add(1, std::memory_order_relaxed);
  if (size == 0) size = 1;
  if (alignment <= alignof(std::max_align_t)) return std::malloc(size);
  return std::aligned_alloc(alignment, (size + alignment - 1) / alignment * alignment);
}

void* allocate_or_throw(std::size_t size, std::size_t alignment) {
  if (void* memory = allocate(size, alignment)) return memory;
  throw std::bad_alloc();
}

}  // namespace

void* operator new(std::size_t size) { return allocate_or_throw(size, 0); }
void* operator new[](std::size_t size) { return allocate_or_throw(size, 0); }
void* operator new(std::size_t size, const std::nothrow_t&) noexcept { return allocate(size, 0); }
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept { return allocate(size, 0); }
void* operator new(std::size_t size, std::align_val_t alignment) {
  return allocate_or_throw(size, static_cast<std::size_t>(alignment));
}
void* operator new[](std::size_t size, std::align_val_t alignment) {
  return allocate_or_throw(size, static_cast<std::size_t>(alignment));
}
void* operator new(std::size_t size, std::align_val_t alignment, const std::nothrow_t&) noexcept {
  return allocate(size, static_cast<std::size_t>(alignment));
}
void* operator new[](std::size_t size, std::align_val_t alignment, const std::nothrow_t&) noexcept {
  return allocate(size, static_cast<std::size_t>(alignment));
}
void operator delete(void* memory) noexcept { std::free(memory); }
void operator delete[](void* memory) noexcept { std::free(memory); }
void operator delete(void* memory, std::size_t) noexcept { std::free(memory); }
void operator delete[](void* memory, std::size_t) noexcept { std::free(memory); }
void operator delete(void* memory, const std::nothrow_t&) noexcept { std::free(memory); }
void operator delete[](void* memory, const std::nothrow_t&) noexcept { std::free(memory); }
void operator delete(void* memory, std::align_val_t) noexcept { std::free(memory); }
void operator delete[](void* memory, std::align_val_t) noexcept { std::free(memory); }
void operator delete(void* memory, std::size_t, std::align_val_t) noexcept { std::free(memory); }
void operator delete[](void* memory, std::size_t, std::align_val_t) noexcept { std::free(memory); }
void operator delete(void* memory, std::align_val_t, const std::nothrow_t&) noexcept { std::free(memory); }
void operator delete[](void* memory, std::align_val_t, const std::nothrow_t&) noexcept { std::free(memory); }

namespace sluice::expr {
namespace {

using core::Value;

Expression parse_ok(std::string_view text) {
  auto parsed = Expression::parse(text);
  if (auto* error = std::get_if<ParseError>(&parsed)) {
    ADD_FAILURE() << text << ": parse error at " << error->position << ": " << error->message;
  }
  return std::get<Expression>(std::move(parsed));
}

core::Record make_record(std::int64_t amount) {
  core::Record record;
  record.key = Value::string("key");
  record.value = Value::object();
  record.value.set("amount", Value::integer(amount));
  record.value.set("price", Value::floating(2.5));
  record.value.set("name", Value::string("Ada"));
  record.value.set("nothing", Value());
  Value user = Value::object();
  Value address = Value::object();
  address.set("city", Value::string("Paris"));
  user.set("address", std::move(address));
  record.value.set("user", std::move(user));
  record.timestamp_ms = 1'000;
  return record;
}

TEST(ScratchTest, EvaluatingManyRecordsReusesScratch) {
  Expression expression = parse_ok("amount * 3 + price - 1");
  core::ManualClock clock;
  EvalContext context(clock);
  core::Record record = make_record(0);
  const Value* scratch_data = nullptr;
  std::size_t scratch_size = 0;
  for (std::int64_t amount = -500; amount < 500; ++amount) {
    record.value.set("amount", Value::integer(amount));
    core::Result<Value> result = expression.evaluate(record, context);
    ASSERT_TRUE(result.ok());
    ASSERT_TRUE(result.value().is_floating());
    EXPECT_EQ(result.value().as_double(), static_cast<double>(amount * 3) + 1.5);
    if (scratch_data == nullptr) {
      scratch_data = context.scratch().data();
      scratch_size = context.scratch().size();
      EXPECT_GT(scratch_size, 0U);
    }
    EXPECT_EQ(context.scratch().data(), scratch_data);
    EXPECT_EQ(context.scratch().size(), scratch_size);
  }
}

TEST(ScratchTest, ScratchGrowsToTheLargestExpression) {
  Expression small = parse_ok("1");
  Expression large = parse_ok("1 + 2 + 3 + 4 + 5");
  core::ManualClock clock;
  EvalContext context(clock);
  core::Record record;
  ASSERT_TRUE(small.evaluate(record, context).ok());
  std::size_t small_size = context.scratch().size();
  core::Result<Value> sum = large.evaluate(record, context);
  ASSERT_TRUE(sum.ok());
  EXPECT_EQ(sum.value().as_integer(), 15);
  EXPECT_GT(context.scratch().size(), small_size);
  std::size_t large_size = context.scratch().size();
  ASSERT_TRUE(small.evaluate(record, context).ok());
  EXPECT_EQ(context.scratch().size(), large_size);  // never shrinks
}

TEST(ScratchTest, NumericAndBooleanEvaluationDoesNotAllocate) {
  Expression predicate = parse_ok("amount * 2 + 1 > 10 and price < 5.0 or nothing is null");
  Expression arithmetic = parse_ok("amount * 3 - price / 2 + $timestamp % 7 + ($partition ?? 0)");
  Expression lookups = parse_ok("user.address.city == 'Paris' and amount in [1, 2, amount] and not (name < 'A')");
  Expression functions = parse_ok("abs(-amount) + round(price) + length(name) + if(amount > 0, 1, 2) + floor(2.5)");
  core::ManualClock clock;
  EvalContext context(clock);
  core::Origin origin;
  origin.topic = "t";
  origin.partition = 4;
  context.set_origin(&origin);
  std::vector<core::Record> records;
  for (std::int64_t amount = 0; amount < 50; ++amount) records.push_back(make_record(amount));
  // Warm up: the scratch vector is sized on first use.
  (void)predicate.test(records[0], context);
  (void)arithmetic.evaluate(records[0], context);
  (void)lookups.test(records[0], context);
  (void)functions.evaluate(records[0], context);

  bool all_ok = true;
  std::int64_t checksum = 0;
  allocation_count = 0;
  counting_allocations = true;
  for (const core::Record& record : records) {
    core::Result<bool> passed = predicate.test(record, context);
    core::Result<Value> number = arithmetic.evaluate(record, context);
    core::Result<bool> found = lookups.test(record, context);
    core::Result<Value> computed = functions.evaluate(record, context);
    all_ok = all_ok && passed.ok() && number.ok() && found.ok() && computed.ok();
    if (all_ok) {
      checksum += (passed.value() ? 1 : 0) + (found.value() ? 1 : 0) + computed.value().as_integer();
      checksum += static_cast<std::int64_t>(number.value().as_double());
    }
  }
  counting_allocations = false;
  EXPECT_TRUE(all_ok);
  EXPECT_EQ(allocation_count.load(), 0U);
  EXPECT_NE(checksum, 0);

  // The counter does see allocations: a long computed string returned to the caller needs one.
  Expression text = parse_ok("name + ', a string too long for the small-string buffer'");
  (void)text.evaluate(records[0], context);
  allocation_count = 0;
  counting_allocations = true;
  core::Result<Value> greeting = text.evaluate(records[0], context);
  counting_allocations = false;
  ASSERT_TRUE(greeting.ok());
  EXPECT_EQ(greeting.value().as_string(), "Ada, a string too long for the small-string buffer");
  EXPECT_GT(allocation_count.load(), 0U);
}

TEST(ScratchTest, OneExpressionEvaluatedFromSeveralThreads) {
  const Expression expression = parse_ok("if(amount % 2 == 0, concat(name, '-', amount), amount * 10)");
  constexpr int thread_count = 4;
  constexpr std::int64_t records_per_thread = 2000;
  std::vector<int> mismatches(thread_count, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < thread_count; ++t) {
    threads.emplace_back([&expression, &mismatches, t] {
      core::ManualClock clock;
      EvalContext context(clock);
      core::Record record = make_record(0);
      for (std::int64_t i = 0; i < records_per_thread; ++i) {
        std::int64_t amount = t * records_per_thread + i;
        record.value.set("amount", Value::integer(amount));
        core::Result<Value> result = expression.evaluate(record, context);
        bool correct = result.ok() && (amount % 2 == 0 ? result.value().is_string() &&
                                                             result.value().as_string() == "Ada-" + std::to_string(amount)
                                                       : result.value().is_integer() &&
                                                             result.value().as_integer() == amount * 10);
        if (!correct) ++mismatches[static_cast<std::size_t>(t)];
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int t = 0; t < thread_count; ++t) EXPECT_EQ(mismatches[static_cast<std::size_t>(t)], 0) << "thread " << t;
}

}  // namespace
}  // namespace sluice::expr
