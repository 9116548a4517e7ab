// Protobuf schemas and the wire format (include/sluice/formats/protobuf.hpp). libprotobuf compiles the .proto text
// into descriptors; decoding and encoding walk the wire format here against those descriptors.
#include "sluice/formats/protobuf.hpp"

#include <google/protobuf/compiler/parser.h>
#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "sluice/formats/avro.hpp"  // base64

namespace sluice::formats {

namespace pb = google::protobuf;

struct ProtobufSchema::Compiled {
  std::string text;
  std::unique_ptr<pb::DescriptorPool> pool;
  const pb::FileDescriptor* file = nullptr;
};

namespace {

constexpr int kMaxDepth = 64;
constexpr int kMaxIndexes = 64;  // message-index path length accepted from the wire

// ---- parsing ----

class TextErrors : public pb::io::ErrorCollector {
 public:
  void AddError(int line, pb::io::ColumnNumber column, const std::string& message) override {
    if (first.empty()) first = std::to_string(line + 1) + ":" + std::to_string(column + 1) + ": " + message;
  }
  std::string first;
};

class BuildErrors : public pb::DescriptorPool::ErrorCollector {
 public:
  void AddError(const std::string& /*filename*/, const std::string& element, const pb::Message* /*descriptor*/,
                ErrorLocation /*location*/, const std::string& message) override {
    if (first.empty()) first = (element.empty() ? std::string() : element + ": ") + message;
  }
  std::string first;
};

std::string refused_group(const pb::Descriptor& message) {
  for (int i = 0; i < message.field_count(); ++i) {
    if (message.field(i)->type() == pb::FieldDescriptor::TYPE_GROUP) {
      return message.field(i)->full_name() + ": groups are not supported (use a message field)";
    }
  }
  for (int i = 0; i < message.nested_type_count(); ++i) {
    if (auto reason = refused_group(*message.nested_type(i)); !reason.empty()) return reason;
  }
  return {};
}

void collect_names(const pb::Descriptor& message, std::vector<std::string>& out) {
  if (message.options().map_entry()) return;  // map<K, V>'s generated entry type
  out.push_back(message.full_name());
  for (int i = 0; i < message.nested_type_count(); ++i) collect_names(*message.nested_type(i), out);
}

const pb::Descriptor* message_at(const pb::FileDescriptor& file, const MessageIndexes& indexes) {
  if (indexes.empty()) return file.message_type_count() > 0 ? file.message_type(0) : nullptr;
  if (indexes[0] < 0 || indexes[0] >= file.message_type_count()) return nullptr;
  const pb::Descriptor* message = file.message_type(indexes[0]);
  for (std::size_t i = 1; i < indexes.size(); ++i) {
    if (indexes[i] < 0 || indexes[i] >= message->nested_type_count()) return nullptr;
    message = message->nested_type(indexes[i]);
  }
  return message;
}

// ---- error paths, rendered only when an error is returned ----

struct Path {
  const Path* parent = nullptr;
  std::string_view name;
  std::string render() const {
    if (parent == nullptr) return name.empty() ? "/" : "/" + std::string(name);
    std::string prefix = parent->render();
    if (prefix != "/") prefix += "/";
    return prefix + std::string(name);
  }
};

core::RecordError malformed(const Path& path, const std::string& what) {
  return {core::RecordErrorKind::deserialization, "Protobuf " + path.render() + ": " + what};
}
core::RecordError misfit(const Path& path, const std::string& what) {
  return {core::RecordErrorKind::invalid_value, "does not fit the Protobuf schema at " + path.render() + ": " + what};
}

// ---- the wire format ----

enum Wire : int { kVarint = 0, kI64 = 1, kLen = 2, kStartGroup = 3, kEndGroup = 4, kI32 = 5 };

struct Reader {
  const char* at;
  const char* end;
  bool done() const noexcept { return at >= end; }
  bool varint(std::uint64_t& value) {
    value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (at >= end) return false;
      const auto byte = static_cast<std::uint8_t>(*at++);
      value |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) return true;
    }
    return false;
  }
  bool fixed(int width, std::uint64_t& value) {
    if (end - at < width) return false;
    value = 0;
    for (int i = width - 1; i >= 0; --i) value = (value << 8) | static_cast<std::uint8_t>(at[i]);
    at += width;
    return true;
  }
  bool bytes(std::string_view& view) {
    std::uint64_t length = 0;
    if (!varint(length) || length > static_cast<std::uint64_t>(end - at)) return false;
    view = std::string_view(at, static_cast<std::size_t>(length));
    at += length;
    return true;
  }
  bool skip(int wire) {
    std::uint64_t ignored = 0;
    std::string_view view;
    switch (wire) {
      case kVarint: return varint(ignored);
      case kI64: return fixed(8, ignored);
      case kI32: return fixed(4, ignored);
      case kLen: return bytes(view);
      default: return false;  // groups are not read (nor accepted in schemas)
    }
  }
};

void put_varint(std::uint64_t value, std::string& out) {
  while (value >= 0x80) {
    out.push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}
void put_fixed(std::uint64_t value, int width, std::string& out) {
  for (int i = 0; i < width; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}
void put_tag(int number, int wire, std::string& out) {
  put_varint((static_cast<std::uint64_t>(number) << 3) | static_cast<std::uint64_t>(wire), out);
}
std::uint64_t zigzag(std::int64_t value) {
  return (static_cast<std::uint64_t>(value) << 1) ^ static_cast<std::uint64_t>(value >> 63);
}
std::int64_t unzigzag(std::uint64_t value) {
  return static_cast<std::int64_t>(value >> 1) ^ -static_cast<std::int64_t>(value & 1);
}

int wire_of(pb::FieldDescriptor::Type type) {
  using F = pb::FieldDescriptor;
  switch (type) {
    case F::TYPE_DOUBLE:
    case F::TYPE_FIXED64:
    case F::TYPE_SFIXED64: return kI64;
    case F::TYPE_FLOAT:
    case F::TYPE_FIXED32:
    case F::TYPE_SFIXED32: return kI32;
    case F::TYPE_STRING:
    case F::TYPE_BYTES:
    case F::TYPE_MESSAGE: return kLen;
    case F::TYPE_GROUP: return kStartGroup;
    default: return kVarint;
  }
}

bool packable(const pb::FieldDescriptor& field) { return wire_of(field.type()) != kLen && wire_of(field.type()) != kStartGroup; }

std::string wire_name(int wire) {
  switch (wire) {
    case kVarint: return "varint";
    case kI64: return "64-bit";
    case kLen: return "length-delimited";
    case kI32: return "32-bit";
    default: return "group";
  }
}

core::Value unsigned_value(std::uint64_t value) {
  if (value > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
    return core::Value::floating(static_cast<double>(value));
  }
  return core::Value::integer(static_cast<std::int64_t>(value));
}

core::Value enum_value(const pb::EnumDescriptor& type, int number) {
  if (const auto* named = type.FindValueByNumber(number)) return core::Value::string(named->name());
  return core::Value::integer(number);
}

// A scalar (not a message) read from `in`, which is positioned after the tag (or inside a packed run).
bool read_scalar(const pb::FieldDescriptor& field, Reader& in, core::Value& out) {
  using F = pb::FieldDescriptor;
  std::uint64_t raw = 0;
  switch (field.type()) {
    case F::TYPE_DOUBLE: {
      if (!in.fixed(8, raw)) return false;
      double value = 0;
      std::memcpy(&value, &raw, 8);
      out = core::Value::floating(value);
      return true;
    }
    case F::TYPE_FLOAT: {
      if (!in.fixed(4, raw)) return false;
      const auto bits = static_cast<std::uint32_t>(raw);
      float value = 0;
      std::memcpy(&value, &bits, 4);
      out = core::Value::floating(value);
      return true;
    }
    case F::TYPE_FIXED64:
      if (!in.fixed(8, raw)) return false;
      out = unsigned_value(raw);
      return true;
    case F::TYPE_SFIXED64:
      if (!in.fixed(8, raw)) return false;
      out = core::Value::integer(static_cast<std::int64_t>(raw));
      return true;
    case F::TYPE_FIXED32:
      if (!in.fixed(4, raw)) return false;
      out = core::Value::integer(static_cast<std::int64_t>(static_cast<std::uint32_t>(raw)));
      return true;
    case F::TYPE_SFIXED32:
      if (!in.fixed(4, raw)) return false;
      out = core::Value::integer(static_cast<std::int32_t>(static_cast<std::uint32_t>(raw)));
      return true;
    default: break;
  }
  if (!in.varint(raw)) return false;
  switch (field.type()) {
    case F::TYPE_INT64: out = core::Value::integer(static_cast<std::int64_t>(raw)); return true;
    case F::TYPE_UINT64: out = unsigned_value(raw); return true;
    case F::TYPE_INT32: out = core::Value::integer(static_cast<std::int32_t>(static_cast<std::uint32_t>(raw))); return true;
    case F::TYPE_UINT32: out = core::Value::integer(static_cast<std::uint32_t>(raw)); return true;
    case F::TYPE_SINT32: out = core::Value::integer(static_cast<std::int32_t>(unzigzag(raw & 0xffffffffU))); return true;
    case F::TYPE_SINT64: out = core::Value::integer(unzigzag(raw)); return true;
    case F::TYPE_BOOL: out = core::Value::boolean(raw != 0); return true;
    case F::TYPE_ENUM:
      out = enum_value(*field.enum_type(), static_cast<std::int32_t>(static_cast<std::uint32_t>(raw)));
      return true;
    default: return false;
  }
}

core::Value default_of(const pb::FieldDescriptor& field) {
  using C = pb::FieldDescriptor;
  switch (field.cpp_type()) {
    case C::CPPTYPE_INT32: return core::Value::integer(field.default_value_int32());
    case C::CPPTYPE_INT64: return core::Value::integer(field.default_value_int64());
    case C::CPPTYPE_UINT32: return core::Value::integer(field.default_value_uint32());
    case C::CPPTYPE_UINT64: return unsigned_value(field.default_value_uint64());
    case C::CPPTYPE_DOUBLE: return core::Value::floating(field.default_value_double());
    case C::CPPTYPE_FLOAT: return core::Value::floating(field.default_value_float());
    case C::CPPTYPE_BOOL: return core::Value::boolean(field.default_value_bool());
    case C::CPPTYPE_ENUM: return core::Value::string(field.default_value_enum()->name());
    case C::CPPTYPE_STRING:
      return core::Value::string(field.type() == C::TYPE_BYTES ? base64_encode(field.default_value_string())
                                                              : field.default_value_string());
    default: return core::Value();
  }
}

// Map keys are object member names: strings as they are, numbers and booleans in their decimal/JSON form.
std::string key_text(const core::Value& key) {
  if (key.is_string()) return key.as_string();
  if (key.is_bool()) return key.as_bool() ? "true" : "false";
  if (key.is_integer()) return std::to_string(key.as_integer());
  if (key.is_floating()) return std::to_string(static_cast<std::uint64_t>(key.as_double()));
  return {};
}

std::int64_t integer_field(const core::Value& object, std::string_view name) {
  const core::Value* found = object.find(name);
  return found != nullptr && found->is_integer() ? found->as_integer() : 0;
}

// The well-known types, read from their generic form into the value they stand for.
core::Value well_known(const pb::Descriptor& message, core::Value generic) {
  const std::string& name = message.full_name();
  if (name.rfind("google.protobuf.", 0) != 0) return generic;
  const std::string_view type = std::string_view(name).substr(16);
  if (type == "Timestamp" || type == "Duration") {
    std::int64_t ms = 0;
    if (__builtin_mul_overflow(integer_field(generic, "seconds"), 1000, &ms) ||
        __builtin_add_overflow(ms, integer_field(generic, "nanos") / 1'000'000, &ms)) {
      return generic;  // beyond what epoch milliseconds hold (about 292 million years): the fields as written
    }
    return core::Value::integer(ms);
  }
  if (type.size() > 5 && type.substr(type.size() - 5) == "Value" && type != "Value" && type != "ListValue") {
    const core::Value* wrapped = generic.find("value");  // DoubleValue, Int32Value, StringValue, ...
    return wrapped != nullptr ? *wrapped : core::Value();
  }
  if (type == "Struct") {
    core::Value* fields = generic.find("fields");
    return fields != nullptr ? std::move(*fields) : core::Value::object();
  }
  if (type == "ListValue") {
    core::Value* values = generic.find("values");
    return values != nullptr ? std::move(*values) : core::Value::array();
  }
  if (type == "Value") {
    // Read as a oneof: only the member set is in the generic form; null_value (the enum NULL_VALUE) is null.
    for (auto& member : generic.as_object()) {
      if (member.name == "null_value") return core::Value();
      return std::move(member.value);
    }
    return core::Value();
  }
  return generic;
}

core::Result<core::Value> read_message(const pb::Descriptor& message, std::string_view bytes, const Path& path,
                                       int depth, const std::vector<std::string>* fields = nullptr);

// One field's value(s) from the wire into its slot.
core::Status read_field(const pb::FieldDescriptor& field, int wire, Reader& in, std::optional<core::Value>& slot,
                        const Path& path, int depth) {
  const Path here{&path, field.name()};
  const int expected = wire_of(field.type());
  if (field.is_repeated() && wire == kLen && packable(field)) {
    std::string_view run;
    if (!in.bytes(run)) return malformed(here, "packed run past the end");
    if (!slot) slot = core::Value::array();
    Reader inner{run.data(), run.data() + run.size()};
    while (!inner.done()) {
      core::Value item;
      if (!read_scalar(field, inner, item)) return malformed(here, "bad packed " + std::string(field.type_name()));
      slot->as_array().push_back(std::move(item));
    }
    return core::Status::success();
  }
  if (wire != expected) {
    return malformed(here, wire_name(wire) + " value for a " + std::string(field.type_name()) + " field");
  }
  core::Value value;
  if (field.type() == pb::FieldDescriptor::TYPE_MESSAGE) {
    std::string_view body;
    if (!in.bytes(body)) return malformed(here, "length past the end");
    auto read = read_message(*field.message_type(), body, here, depth + 1);
    if (!read.ok()) return std::move(read).error();
    value = std::move(read).value();
  } else if (field.type() == pb::FieldDescriptor::TYPE_STRING || field.type() == pb::FieldDescriptor::TYPE_BYTES) {
    std::string_view body;
    if (!in.bytes(body)) return malformed(here, "length past the end");
    value = core::Value::string(field.type() == pb::FieldDescriptor::TYPE_BYTES ? base64_encode(body)
                                                                              : std::string(body));
  } else if (!read_scalar(field, in, value)) {
    return malformed(here, "bad " + std::string(field.type_name()));
  }
  if (field.is_map()) {
    // An entry {key, value}: the key becomes the member name; a later entry with the same key replaces it.
    if (!slot) slot = core::Value::object();
    const core::Value* key = value.find("key");
    core::Value* entry_value = value.find("value");
    slot->set(key != nullptr ? key_text(*key) : std::string(), entry_value != nullptr ? std::move(*entry_value)
                                                                                     : core::Value());
  } else if (field.is_repeated()) {
    if (!slot) slot = core::Value::array();
    slot->as_array().push_back(std::move(value));
  } else {
    slot = std::move(value);  // the last one written wins
  }
  return core::Status::success();
}

// `fields`: only these fields are built (the others are skipped and left out); nullptr: all.
core::Result<core::Value> read_message(const pb::Descriptor& message, std::string_view bytes, const Path& path,
                                       int depth, const std::vector<std::string>* fields) {
  const auto wanted = [fields](const pb::FieldDescriptor& field) {
    return fields == nullptr || std::find(fields->begin(), fields->end(), field.name()) != fields->end();
  };
  if (depth > kMaxDepth) return malformed(path, "nested deeper than " + std::to_string(kMaxDepth));
  std::vector<std::optional<core::Value>> slots(static_cast<std::size_t>(message.field_count()));
  Reader in{bytes.data(), bytes.data() + bytes.size()};
  while (!in.done()) {
    std::uint64_t tag = 0;
    if (!in.varint(tag) || (tag >> 3) == 0 || (tag >> 3) > 536'870'911U) return malformed(path, "bad field tag");
    const int number = static_cast<int>(tag >> 3);
    const int wire = static_cast<int>(tag & 7);
    const pb::FieldDescriptor* field = message.FindFieldByNumber(number);
    if (field == nullptr || !wanted(*field)) {  // unknown to this schema (a newer writer), or not read: skipped
      if (!in.skip(wire)) return malformed(path, "bad unknown field " + std::to_string(number));
      continue;
    }
    auto& slot = slots[static_cast<std::size_t>(field->index())];
    if (const auto* oneof = field->real_containing_oneof(); oneof != nullptr && !slot) {
      for (int i = 0; i < oneof->field_count(); ++i) slots[static_cast<std::size_t>(oneof->field(i)->index())].reset();
    }
    auto status = read_field(*field, wire, in, slot, path, depth);
    if (!status.ok()) return std::move(status).error();
  }
  core::Object built;
  built.reserve(slots.size());
  for (int i = 0; i < message.field_count(); ++i) {
    const pb::FieldDescriptor& field = *message.field(i);
    auto& slot = slots[static_cast<std::size_t>(i)];
    if (!wanted(field)) continue;
    if (slot) {
      built.push_back({field.name(), std::move(*slot)});
    } else if (field.is_map()) {
      built.push_back({field.name(), core::Value::object()});
    } else if (field.is_repeated()) {
      built.push_back({field.name(), core::Value::array()});
    } else if (field.real_containing_oneof() != nullptr) {
      continue;
    } else if (field.type() == pb::FieldDescriptor::TYPE_MESSAGE || field.has_presence()) {
      built.push_back({field.name(), core::Value()});
    } else {
      built.push_back({field.name(), default_of(field)});
    }
  }
  return well_known(message, core::Value::object(std::move(built)));
}

// ---- encoding ----

std::string shown_type(const core::Value& value) {
  switch (value.type()) {
    case core::ValueType::null: return "null";
    case core::ValueType::boolean: return "a boolean";
    case core::ValueType::integer: return "an integer";
    case core::ValueType::floating: return "a number";
    case core::ValueType::string: return "a string";
    case core::ValueType::array: return "an array";
    case core::ValueType::object: return "an object";
  }
  return "a value";
}

// An integral value within [low, high] (an integer, or a floating number with no fraction).
bool integral(const core::Value& value, double low, double high, std::int64_t& out) {
  if (value.is_integer()) {
    out = value.as_integer();
    return static_cast<double>(out) >= low && static_cast<double>(out) <= high;
  }
  if (!value.is_floating()) return false;
  const double number = value.as_double();
  if (number != std::floor(number) || number < low || number > high || number >= 9.2e18 || number <= -9.2e18) {
    return false;
  }
  out = static_cast<std::int64_t>(number);
  return true;
}

core::Status write_message(const pb::Descriptor& message, const core::Value& value, std::string& out,
                           const Path& path, int depth);

// A map key from its member name, written as the entry's field 1.
core::Status write_key(const pb::FieldDescriptor& key_field, const std::string& name, std::string& out,
                       const Path& path) {
  using F = pb::FieldDescriptor;
  if (key_field.type() == F::TYPE_STRING) {
    put_tag(1, kLen, out);
    put_varint(name.size(), out);
    out += name;
    return core::Status::success();
  }
  if (key_field.type() == F::TYPE_BOOL) {
    if (name != "true" && name != "false") return misfit(path, "map key " + name + " is not true or false");
    put_tag(1, kVarint, out);
    put_varint(name == "true" ? 1 : 0, out);
    return core::Status::success();
  }
  char* end = nullptr;
  errno = 0;
  const long long number = std::strtoll(name.c_str(), &end, 10);
  if (name.empty() || *end != '\0' || errno != 0) return misfit(path, "map key " + name + " is not an integer");
  const Wire wire = static_cast<Wire>(wire_of(key_field.type()));
  put_tag(1, wire, out);
  if (key_field.type() == F::TYPE_SINT32 || key_field.type() == F::TYPE_SINT64) {
    put_varint(zigzag(number), out);
  } else if (wire == kVarint) {
    put_varint(static_cast<std::uint64_t>(number), out);
  } else {
    put_fixed(static_cast<std::uint64_t>(number), wire == kI64 ? 8 : 4, out);
  }
  return core::Status::success();
}

// A scalar's bytes without its tag (wire type: wire_of(field.type())).
core::Status write_scalar(const pb::FieldDescriptor& field, const core::Value& value, std::string& out,
                          const Path& path) {
  using F = pb::FieldDescriptor;
  std::int64_t number = 0;
  const auto expected = [&](const std::string& what) { return misfit(path, "expected " + what + ", got " + shown_type(value)); };
  switch (field.type()) {
    case F::TYPE_DOUBLE: {
      if (!value.is_number()) return expected("a number");
      const double d = value.as_double();
      std::uint64_t bits = 0;
      std::memcpy(&bits, &d, 8);
      put_fixed(bits, 8, out);
      return core::Status::success();
    }
    case F::TYPE_FLOAT: {
      if (!value.is_number()) return expected("a number");
      const auto f = static_cast<float>(value.as_double());
      std::uint32_t bits = 0;
      std::memcpy(&bits, &f, 4);
      put_fixed(bits, 4, out);
      return core::Status::success();
    }
    case F::TYPE_BOOL:
      if (!value.is_bool()) return expected("a boolean");
      out.push_back(value.as_bool() ? 1 : 0);
      return core::Status::success();
    case F::TYPE_STRING:
      if (!value.is_string()) return expected("a string");
      put_varint(value.as_string().size(), out);
      out += value.as_string();
      return core::Status::success();
    case F::TYPE_BYTES: {
      std::string bytes;
      if (!value.is_string() || !base64_decode(value.as_string(), bytes)) return expected("bytes in base64");
      put_varint(bytes.size(), out);
      out += bytes;
      return core::Status::success();
    }
    case F::TYPE_ENUM: {
      if (value.is_string()) {
        const auto* named = field.enum_type()->FindValueByName(value.as_string());
        if (named == nullptr) {
          return misfit(path, "\"" + value.as_string() + "\" is not a value of " + field.enum_type()->full_name());
        }
        number = named->number();
      } else if (!integral(value, INT32_MIN, INT32_MAX, number) ||
                 (field.enum_type()->file()->syntax() != pb::FileDescriptor::SYNTAX_PROTO3 && field.enum_type()->FindValueByNumber(static_cast<int>(number)) == nullptr)) {
        return expected("a value of " + field.enum_type()->full_name());
      }
      put_varint(static_cast<std::uint64_t>(number), out);  // negative: sign-extended to 10 bytes, as protobuf does
      return core::Status::success();
    }
    case F::TYPE_INT32:
    case F::TYPE_SINT32:
    case F::TYPE_SFIXED32:
      if (!integral(value, INT32_MIN, INT32_MAX, number)) return expected("a 32-bit integer");
      break;
    case F::TYPE_UINT32:
    case F::TYPE_FIXED32:
      if (!integral(value, 0, UINT32_MAX, number)) return expected("an unsigned 32-bit integer");
      break;
    case F::TYPE_UINT64:
    case F::TYPE_FIXED64:
      if (value.is_floating() && value.as_double() >= 9.2e18 && value.as_double() < 18446744073709551616.0 &&
          value.as_double() == std::floor(value.as_double())) {
        const auto big = static_cast<std::uint64_t>(value.as_double());
        if (field.type() == F::TYPE_UINT64) put_varint(big, out); else put_fixed(big, 8, out);
        return core::Status::success();
      }
      if (!integral(value, 0, 9.3e18, number)) return expected("an unsigned integer");
      break;
    default:  // int64, sint64, sfixed64
      if (!integral(value, -9.3e18, 9.3e18, number)) return expected("an integer");
      break;
  }
  switch (field.type()) {
    case F::TYPE_SINT32:
    case F::TYPE_SINT64: put_varint(zigzag(number), out); break;
    case F::TYPE_SFIXED32:
    case F::TYPE_FIXED32: put_fixed(static_cast<std::uint64_t>(number), 4, out); break;
    case F::TYPE_SFIXED64:
    case F::TYPE_FIXED64: put_fixed(static_cast<std::uint64_t>(number), 8, out); break;
    default: put_varint(static_cast<std::uint64_t>(number), out); break;
  }
  return core::Status::success();
}

// One value of `field` with its tag (a message: length-delimited).
core::Status write_one(const pb::FieldDescriptor& field, const core::Value& value, std::string& out, const Path& path,
                       int depth) {
  if (field.type() == pb::FieldDescriptor::TYPE_MESSAGE) {
    std::string body;
    auto status = write_message(*field.message_type(), value, body, path, depth + 1);
    if (!status.ok()) return status;
    put_tag(field.number(), kLen, out);
    put_varint(body.size(), out);
    out += body;
    return core::Status::success();
  }
  put_tag(field.number(), wire_of(field.type()), out);
  return write_scalar(field, value, out, path);
}

core::Status write_field(const pb::FieldDescriptor& field, const core::Value& value, std::string& out,
                         const Path& path, int depth) {
  if (field.is_map()) {
    if (!value.is_object()) return misfit(path, "expected an object (a map), got " + shown_type(value));
    const pb::Descriptor& entry = *field.message_type();
    for (const auto& member : value.as_object()) {
      const Path at{&path, member.name};
      std::string body;
      auto status = write_key(*entry.map_key(), member.name, body, at);
      if (!status.ok()) return status;
      const pb::FieldDescriptor& value_field = *entry.map_value();
      const bool json_value = value_field.type() == pb::FieldDescriptor::TYPE_MESSAGE &&
                              value_field.message_type()->full_name() == "google.protobuf.Value";
      if (!member.value.is_null() || json_value) {  // a Struct's null is a Value; other nulls leave the value out
        status = write_one(*entry.map_value(), member.value, body, at, depth + 1);
        if (!status.ok()) return status;
      }
      put_tag(field.number(), kLen, out);
      put_varint(body.size(), out);
      out += body;
    }
    return core::Status::success();
  }
  if (field.is_repeated()) {
    if (!value.is_array()) return misfit(path, "expected an array, got " + shown_type(value));
    const auto& items = value.as_array();
    if (field.is_packed() && packable(field)) {
      if (items.empty()) return core::Status::success();
      std::string run;
      for (std::size_t i = 0; i < items.size(); ++i) {
        const std::string index = std::to_string(i);
        auto status = write_scalar(field, items[i], run, Path{&path, index});
        if (!status.ok()) return core::RecordError{status.error().kind, status.error().message};
      }
      put_tag(field.number(), kLen, out);
      put_varint(run.size(), out);
      out += run;
      return core::Status::success();
    }
    for (std::size_t i = 0; i < items.size(); ++i) {
      const std::string index = std::to_string(i);
      auto status = write_one(field, items[i], out, Path{&path, index}, depth);
      if (!status.ok()) return core::RecordError{status.error().kind, status.error().message};
    }
    return core::Status::success();
  }
  return write_one(field, value, out, path, depth);
}

// The well-known types from the value they stand for; false when `message` is not one written specially.
bool write_well_known(const pb::Descriptor& message, const core::Value& value, std::string& out, const Path& path,
                      int depth, core::Status& status) {
  const std::string& name = message.full_name();
  if (name.rfind("google.protobuf.", 0) != 0) return false;
  const std::string_view type = std::string_view(name).substr(16);
  status = core::Status::success();
  if (type == "Timestamp" || type == "Duration") {
    std::int64_t ms = 0;
    if (!integral(value, -9.2e15, 9.2e15, ms)) {
      status = misfit(path, "expected an integer (epoch milliseconds), got " + shown_type(value));
      return true;
    }
    std::int64_t seconds = ms / 1000;
    std::int64_t millis = ms % 1000;
    if (type == "Timestamp" && millis < 0) {  // a Timestamp's nanos are never negative
      seconds -= 1;
      millis += 1000;
    }
    if (seconds != 0) {
      put_tag(1, kVarint, out);
      put_varint(static_cast<std::uint64_t>(seconds), out);
    }
    if (millis != 0) {
      put_tag(2, kVarint, out);
      put_varint(static_cast<std::uint64_t>(millis * 1'000'000), out);
    }
    return true;
  }
  if (type.size() > 5 && type.substr(type.size() - 5) == "Value" && type != "Value" && type != "ListValue") {
    if (!value.is_null()) status = write_one(*message.field(0), value, out, path, depth);
    return true;
  }
  if (type == "Struct") {
    if (!value.is_object()) {
      status = misfit(path, "expected an object, got " + shown_type(value));
    } else {
      status = write_field(*message.FindFieldByName("fields"), value, out, path, depth);
    }
    return true;
  }
  if (type == "ListValue") {
    if (!value.is_array()) {
      status = misfit(path, "expected an array, got " + shown_type(value));
    } else {
      status = write_field(*message.FindFieldByName("values"), value, out, path, depth);
    }
    return true;
  }
  if (type == "Value") {
    const char* member = nullptr;
    switch (value.type()) {
      case core::ValueType::null: put_tag(1, kVarint, out); put_varint(0, out); return true;
      case core::ValueType::boolean: member = "bool_value"; break;
      case core::ValueType::integer:
      case core::ValueType::floating: member = "number_value"; break;
      case core::ValueType::string: member = "string_value"; break;
      case core::ValueType::array: member = "list_value"; break;
      case core::ValueType::object: member = "struct_value"; break;
    }
    status = write_one(*message.FindFieldByName(member), value, out, path, depth);
    return true;
  }
  return false;
}

core::Status write_message(const pb::Descriptor& message, const core::Value& value, std::string& out,
                           const Path& path, int depth) {
  if (depth > kMaxDepth) return misfit(path, "nested deeper than " + std::to_string(kMaxDepth));
  core::Status special;
  if (write_well_known(message, value, out, path, depth, special)) return special;
  if (!value.is_object()) return misfit(path, "expected an object (" + message.full_name() + "), got " + shown_type(value));
  for (int i = 0; i < message.field_count(); ++i) {
    const pb::FieldDescriptor& field = *message.field(i);
    const Path here{&path, field.name()};
    const core::Value* member = value.find(field.name());
    if (member == nullptr || member->is_null()) {
      if (field.is_required()) return misfit(here, "required field missing");
      continue;
    }
    auto status = write_field(field, *member, out, here, depth);
    if (!status.ok()) return status;
  }
  return core::Status::success();
}

}  // namespace

std::variant<ProtobufSchema, std::string> ProtobufSchema::parse(std::string_view proto_text) {
  TextErrors text_errors;
  pb::io::ArrayInputStream stream(proto_text.data(), static_cast<int>(proto_text.size()));
  pb::io::Tokenizer tokenizer(&stream, &text_errors);
  pb::compiler::Parser parser;
  parser.RecordErrorsTo(&text_errors);
  pb::FileDescriptorProto file;
  if (proto_text.size() > static_cast<std::size_t>(std::numeric_limits<int>::max()) ||
      !parser.Parse(&tokenizer, &file) || !text_errors.first.empty()) {
    return text_errors.first.empty() ? std::string("not a .proto file") : text_errors.first;
  }
  if (file.name().empty()) file.set_name("sluice-schema.proto");
  for (const auto& dependency : file.dependency()) {
    if (dependency.rfind("google/protobuf/", 0) != 0 || pb::DescriptorPool::generated_pool()->FindFileByName(dependency) == nullptr) {
      return "import \"" + dependency +
             "\": only the well-known types (google/protobuf/*.proto) can be imported; schema references are not "
             "supported";
    }
  }
  auto compiled = std::make_shared<Compiled>();
  compiled->text = std::string(proto_text);
  compiled->pool = std::make_unique<pb::DescriptorPool>(pb::DescriptorPool::generated_pool());
  BuildErrors build_errors;
  compiled->file = compiled->pool->BuildFileCollectingErrors(file, &build_errors);
  if (compiled->file == nullptr) return build_errors.first.empty() ? std::string("does not compile") : build_errors.first;
  if (compiled->file->message_type_count() == 0) return std::string("declares no message");
  for (int i = 0; i < compiled->file->message_type_count(); ++i) {
    if (auto reason = refused_group(*compiled->file->message_type(i)); !reason.empty()) return reason;
  }
  return ProtobufSchema(std::move(compiled));
}

core::Result<core::Value> ProtobufSchema::decode(const MessageIndexes& indexes, std::string_view bytes,
                                                 const std::vector<std::string>* fields) const {
  const pb::Descriptor* message = message_at(*compiled_->file, indexes);
  if (message == nullptr) {
    std::string shown;
    for (int index : indexes) shown += (shown.empty() ? "" : ", ") + std::to_string(index);
    return core::make_error(core::RecordErrorKind::deserialization,
                            "Protobuf: message indexes [" + shown + "] name no message of the schema");
  }
  return read_message(*message, bytes, Path{}, 0, fields);
}

core::Status ProtobufSchema::encode(const MessageIndexes& indexes, const core::Value& value, std::string& out) const {
  const pb::Descriptor* message = message_at(*compiled_->file, indexes);
  if (message == nullptr) return core::make_error(core::RecordErrorKind::invalid_value, "no such message in the schema");
  return write_message(*message, value, out, Path{}, 0);
}

std::optional<MessageIndexes> ProtobufSchema::indexes_of(std::string_view full_name) const {
  const pb::Descriptor* wanted = compiled_->pool->FindMessageTypeByName(std::string(full_name));
  if (wanted == nullptr || wanted->file() != compiled_->file) return std::nullopt;
  MessageIndexes reversed;
  for (const pb::Descriptor* at = wanted; at != nullptr; at = at->containing_type()) reversed.push_back(at->index());
  return MessageIndexes(reversed.rbegin(), reversed.rend());
}

std::string ProtobufSchema::message_name(const MessageIndexes& indexes) const {
  const pb::Descriptor* message = message_at(*compiled_->file, indexes);
  return message != nullptr ? message->full_name() : std::string();
}

std::vector<std::string> ProtobufSchema::message_names() const {
  std::vector<std::string> names;
  for (int i = 0; i < compiled_->file->message_type_count(); ++i) collect_names(*compiled_->file->message_type(i), names);
  return names;
}

const std::string& ProtobufSchema::text() const noexcept { return compiled_->text; }

bool read_message_indexes(std::string_view& body, MessageIndexes& indexes) {
  Reader in{body.data(), body.data() + body.size()};
  std::uint64_t raw = 0;
  if (!in.varint(raw)) return false;
  const std::int64_t count = unzigzag(raw);
  indexes.clear();
  if (count == 0) {
    indexes.push_back(0);
  } else {
    if (count < 0 || count > kMaxIndexes) return false;
    for (std::int64_t i = 0; i < count; ++i) {
      if (!in.varint(raw)) return false;
      const std::int64_t index = unzigzag(raw);
      if (index < 0 || index > std::numeric_limits<int>::max()) return false;
      indexes.push_back(static_cast<int>(index));
    }
  }
  body = std::string_view(in.at, static_cast<std::size_t>(in.end - in.at));
  return true;
}

void write_message_indexes(const MessageIndexes& indexes, std::string& out) {
  if (indexes.empty() || (indexes.size() == 1 && indexes[0] == 0)) {
    out.push_back(0);
    return;
  }
  put_varint(zigzag(static_cast<std::int64_t>(indexes.size())), out);
  for (int index : indexes) put_varint(zigzag(index), out);
}

}  // namespace sluice::formats
