// Stateless operators. An Operator is immutable after the topology is built and may be shared by processing
// threads; per-thread state (expression scratch) comes in through the ProcessContext. Records are moved in
// and emitted on numbered output ports (route has one port per branch; the others have port 0).
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "sluice/core/record.hpp"
#include "sluice/core/result.hpp"
#include "sluice/expr/expression.hpp"
#include "sluice/topology/topology.hpp"

namespace sluice::ops {

// Receives what an operator emits. Implemented by the pipeline, which forwards to downstream nodes.
class Emitter {
 public:
  virtual ~Emitter() = default;
  virtual void emit(std::size_t port, core::Record&& record) = 0;
};

struct ProcessContext {
  expr::EvalContext& eval;
  Emitter& out;
};

// What happened to a record that produced no error.
enum class Disposition : std::uint8_t {
  forwarded,  // emitted at least once
  discarded,  // dropped on purpose: a filter that did not match, a route with no matching branch, an empty array
};

class Operator {
 public:
  explicit Operator(std::string name) : name_(std::move(name)) {}
  virtual ~Operator() = default;
  Operator(const Operator&) = delete;
  Operator& operator=(const Operator&) = delete;

  const std::string& name() const noexcept { return name_; }
  virtual std::size_t port_count() const noexcept { return 1; }
  // Processes one record. An error means the record is dead-lettered by the caller; nothing was emitted
  // for it by this operator.
  virtual core::Result<Disposition> process(core::Record&& record, ProcessContext& context) const = 0;

 private:
  std::string name_;
};

// Builds the operator for a validated spec.
std::unique_ptr<Operator> make_operator(const topology::OperatorSpec& spec);

}  // namespace sluice::ops
