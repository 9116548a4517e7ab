// Avro schemas and the binary encoding (include/sluice/formats/avro.hpp), written from the specification
// (https://avro.apache.org/docs/1.11.1/specification/): zig-zag varints for int and long, little-endian IEEE
// floats, length-prefixed bytes and strings, blocks of items for arrays and maps (a negative count is followed by
// the block's byte size), the branch index before a union's value.
//
// Decoding never trusts a length: every count and size is checked against the bytes left before anything is
// allocated, and nesting is bounded, so a hostile record costs at most its own size.
#include "sluice/formats/avro.hpp"

#include <cmath>
#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

namespace sluice::formats {

enum class AvroType : std::uint8_t {
  null, boolean, int_, long_, float_, double_, bytes, string, record, enum_, array, map, union_, fixed
};

enum class Logical : std::uint8_t { none, decimal, uuid, date, time_millis, time_micros, timestamp_millis,
                                    timestamp_micros };

class AvroNode {
 public:
  AvroType type = AvroType::null;
  Logical logical = Logical::none;
  int scale = 0;                 // decimal
  std::string name;              // named types: the full name
  std::vector<std::string> field_names;       // record
  std::vector<const AvroNode*> children;      // record fields, array/map items (one), union branches
  std::vector<std::string> symbols;           // enum
  std::int64_t size = 0;                      // fixed
};

namespace {

using Json = nlohmann::json;
using Nodes = std::vector<std::unique_ptr<AvroNode>>;
constexpr int kMaxDepth = 64;

std::string type_name(AvroType type) {
  switch (type) {
    case AvroType::null: return "null";
    case AvroType::boolean: return "boolean";
    case AvroType::int_: return "int";
    case AvroType::long_: return "long";
    case AvroType::float_: return "float";
    case AvroType::double_: return "double";
    case AvroType::bytes: return "bytes";
    case AvroType::string: return "string";
    case AvroType::record: return "record";
    case AvroType::enum_: return "enum";
    case AvroType::array: return "array";
    case AvroType::map: return "map";
    case AvroType::union_: return "union";
    case AvroType::fixed: return "fixed";
  }
  return "?";
}

class SchemaParser {
 public:
  explicit SchemaParser(Nodes& nodes) : nodes_(nodes) {}

  const AvroNode* parse(const Json& json, const std::string& path, const std::string& space, int depth) {
    if (depth > kMaxDepth) throw std::runtime_error(path + ": nested deeper than " + std::to_string(kMaxDepth));
    if (json.is_string()) return named_or_primitive(json.get<std::string>(), path, space);
    if (json.is_array()) {
      AvroNode& node = add(AvroType::union_);
      std::set<std::string> seen;
      for (std::size_t i = 0; i < json.size(); ++i) {
        const AvroNode* branch = parse(json[i], path + "/" + std::to_string(i), space, depth + 1);
        if (branch->type == AvroType::union_) throw std::runtime_error(path + ": a union may not hold a union");
        const std::string key = branch->name.empty() ? type_name(branch->type) : branch->name;
        if (!seen.insert(key).second) throw std::runtime_error(path + ": the union holds " + key + " twice");
        node.children.push_back(branch);
      }
      if (node.children.empty()) throw std::runtime_error(path + ": an empty union");
      return &node;
    }
    if (!json.is_object() || !json.contains("type")) {
      throw std::runtime_error(path + ": expected a type name, a union (array) or an object with \"type\"");
    }
    const Json& type = json.at("type");
    if (!type.is_string()) return parse(type, path + "/type", space, depth + 1);
    const std::string kind = type.get<std::string>();
    if (kind == "record" || kind == "error" || kind == "enum" || kind == "fixed") return named(json, kind, path, space, depth);
    if (kind == "array" || kind == "map") {
      const char* items = kind == "array" ? "items" : "values";
      if (!json.contains(items)) throw std::runtime_error(path + ": " + kind + " needs \"" + items + "\"");
      AvroNode& node = add(kind == "array" ? AvroType::array : AvroType::map);
      node.children.push_back(parse(json.at(items), path + "/" + items, space, depth + 1));
      return &node;
    }
    const AvroNode* base = named_or_primitive(kind, path + "/type", space);
    return with_logical(json, base, path);
  }

  std::map<std::string, const AvroNode*> names;

 private:
  AvroNode& add(AvroType type) {
    nodes_.push_back(std::make_unique<AvroNode>());
    nodes_.back()->type = type;
    return *nodes_.back();
  }

  static std::string full_name(const Json& json, const std::string& space) {
    std::string name = json.value("name", "");
    if (name.find('.') != std::string::npos) return name;
    std::string ns = json.contains("namespace") && json.at("namespace").is_string() ? json.at("namespace").get<std::string>() : space;
    return ns.empty() ? name : ns + "." + name;
  }

  const AvroNode* named_or_primitive(const std::string& name, const std::string& path, const std::string& space) {
    static const std::map<std::string, AvroType> primitives{
        {"null", AvroType::null},     {"boolean", AvroType::boolean}, {"int", AvroType::int_},
        {"long", AvroType::long_},    {"float", AvroType::float_},    {"double", AvroType::double_},
        {"bytes", AvroType::bytes},   {"string", AvroType::string}};
    if (auto primitive = primitives.find(name); primitive != primitives.end()) return &add(primitive->second);
    for (const std::string& candidate : {space.empty() ? name : space + "." + name, name}) {
      if (auto found = names.find(candidate); found != names.end()) return found->second;
    }
    throw std::runtime_error(path + ": unknown type \"" + name + "\"");
  }

  const AvroNode* named(const Json& json, const std::string& kind, const std::string& path, const std::string& space,
                        int depth) {
    const std::string name = full_name(json, space);
    if (json.value("name", "").empty()) throw std::runtime_error(path + ": a " + kind + " needs a name");
    if (names.count(name) != 0) throw std::runtime_error(path + ": the type " + name + " is defined twice");
    const std::string inner_space = name.find('.') == std::string::npos ? "" : name.substr(0, name.rfind('.'));
    AvroNode& node = add(kind == "enum" ? AvroType::enum_ : kind == "fixed" ? AvroType::fixed : AvroType::record);
    node.name = name;
    names[name] = &node;  // before the fields: a record may refer to itself
    if (node.type == AvroType::enum_) {
      if (!json.contains("symbols") || !json.at("symbols").is_array()) throw std::runtime_error(path + ": an enum needs \"symbols\"");
      for (const auto& symbol : json.at("symbols")) {
        if (!symbol.is_string()) throw std::runtime_error(path + "/symbols: expected strings");
        node.symbols.push_back(symbol.get<std::string>());
      }
      if (node.symbols.empty()) throw std::runtime_error(path + ": an enum needs at least one symbol");
      return &node;
    }
    if (node.type == AvroType::fixed) {
      if (!json.contains("size") || !json.at("size").is_number_integer() || json.at("size").get<std::int64_t>() < 0) {
        throw std::runtime_error(path + ": a fixed needs a \"size\" >= 0");
      }
      node.size = json.at("size").get<std::int64_t>();
      return with_logical(json, &node, path);
    }
    if (!json.contains("fields") || !json.at("fields").is_array()) throw std::runtime_error(path + ": a record needs \"fields\"");
    const Json& fields = json.at("fields");
    for (std::size_t i = 0; i < fields.size(); ++i) {
      const std::string field_path = path + "/fields/" + std::to_string(i);
      const Json& field = fields[i];
      if (!field.is_object() || !field.contains("name") || !field.at("name").is_string() || !field.contains("type")) {
        throw std::runtime_error(field_path + ": a field needs \"name\" and \"type\"");
      }
      node.field_names.push_back(field.at("name").get<std::string>());
      node.children.push_back(parse(field.at("type"), field_path + "/type", inner_space, depth + 1));
    }
    return &node;
  }

  const AvroNode* with_logical(const Json& json, const AvroNode* base, const std::string& path) {
    if (!json.contains("logicalType") || !json.at("logicalType").is_string()) return base;
    const std::string logical = json.at("logicalType").get<std::string>();
    auto annotated = [&](Logical kind) {
      AvroNode& node = add(base->type);
      node = *base;
      node.logical = kind;
      return &node;
    };
    const AvroType type = base->type;
    if (logical == "decimal" && (type == AvroType::bytes || type == AvroType::fixed)) {
      const int scale = json.value("scale", 0);
      if (scale < 0 || scale > 76) throw std::runtime_error(path + ": decimal scale must be 0..76");
      AvroNode* node = const_cast<AvroNode*>(annotated(Logical::decimal));
      node->scale = scale;
      return node;
    }
    if (logical == "uuid" && type == AvroType::string) return annotated(Logical::uuid);
    if (logical == "date" && type == AvroType::int_) return annotated(Logical::date);
    if (logical == "time-millis" && type == AvroType::int_) return annotated(Logical::time_millis);
    if (logical == "time-micros" && type == AvroType::long_) return annotated(Logical::time_micros);
    if ((logical == "timestamp-millis" || logical == "local-timestamp-millis") && type == AvroType::long_) {
      return annotated(Logical::timestamp_millis);
    }
    if ((logical == "timestamp-micros" || logical == "local-timestamp-micros") && type == AvroType::long_) {
      return annotated(Logical::timestamp_micros);
    }
    return base;  // unknown or misplaced logical types are ignored, as the specification says
  }

  Nodes& nodes_;
};

// ---- decoding ----

// Items of arrays and maps a datum may hold beyond one per byte: an item of a type that takes no bytes (null, a
// record without fields) costs memory but no input, so without a budget ten bytes could ask for gigabytes.
constexpr std::int64_t kFreeItems = 100'000;

class Reader {
 public:
  explicit Reader(std::string_view bytes)
      : bytes_(bytes), items_left_(static_cast<std::int64_t>(bytes.size()) + kFreeItems) {}
  std::size_t left() const noexcept { return bytes_.size() - at_; }
  // Takes `count` items from the datum's budget; false when it is spent.
  bool take_items(std::int64_t count) {
    if (count > items_left_) return false;
    items_left_ -= count;
    return true;
  }

  bool varint(std::int64_t& out) {
    std::uint64_t value = 0;
    for (int shift = 0; shift < 70; shift += 7) {
      if (at_ >= bytes_.size()) return false;
      const auto byte = static_cast<std::uint8_t>(bytes_[at_++]);
      if (shift == 63 && (byte & 0x7e) != 0) return false;  // more than 64 bits
      value |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) {
        out = static_cast<std::int64_t>((value >> 1) ^ (~(value & 1) + 1));  // zig-zag
        return true;
      }
    }
    return false;
  }
  bool raw(std::size_t count, std::string_view& out) {
    if (count > left()) return false;
    out = bytes_.substr(at_, count);
    at_ += count;
    return true;
  }

 private:
  std::string_view bytes_;
  std::size_t at_ = 0;
  std::int64_t items_left_;
};

// Where in a datum a field is, as errors name it ("/items/0/price"); rendered only when an error is returned, so
// that reading and writing build no path strings.
struct Path {
  const Path* parent = nullptr;
  std::string_view name;
  std::string index;  // an array index, which has no string of its own to point at
  std::string render() const {
    if (parent == nullptr) return "";
    return parent->render() + "/" + (index.empty() ? std::string(name) : index);
  }
};

core::RecordError malformed(const Path& at, const std::string& what) {
  const std::string path = at.render();
  return {core::RecordErrorKind::deserialization, "Avro " + (path.empty() ? std::string("/") : path) + ": " + what};
}

double decimal_value(std::string_view twos_complement, int scale) {
  // Big-endian two's complement of any length: accumulate as a double (exact up to 2^53).
  double value = 0;
  const bool negative = !twos_complement.empty() && (static_cast<std::uint8_t>(twos_complement[0]) & 0x80) != 0;
  for (char c : twos_complement) {
    auto byte = static_cast<std::uint8_t>(c);
    if (negative) byte = static_cast<std::uint8_t>(~byte);
    value = value * 256 + byte;
  }
  if (negative) value = -(value + 1);
  return value / std::pow(10.0, scale);
}

core::Result<core::Value> read(const AvroNode& node, Reader& in, const Path& path, int depth) {
  if (depth > kMaxDepth) return malformed(path, "nested deeper than " + std::to_string(kMaxDepth));
  std::int64_t number = 0;
  std::string_view view;
  switch (node.type) {
    case AvroType::null: return core::Value();
    case AvroType::boolean: {
      if (!in.raw(1, view) || static_cast<std::uint8_t>(view[0]) > 1) return malformed(path, "bad boolean");
      return core::Value::boolean(view[0] == 1);
    }
    case AvroType::int_:
      if (!in.varint(number) || number < INT32_MIN || number > INT32_MAX) return malformed(path, "bad int");
      return core::Value::integer(number);
    case AvroType::long_:
      if (!in.varint(number)) return malformed(path, "bad long");
      return core::Value::integer(number);
    case AvroType::float_: {
      if (!in.raw(4, view)) return malformed(path, "truncated float");
      std::uint32_t bits = 0;
      for (int i = 3; i >= 0; --i) bits = (bits << 8) | static_cast<std::uint8_t>(view[static_cast<std::size_t>(i)]);
      float value = 0;
      std::memcpy(&value, &bits, 4);
      return core::Value::floating(value);
    }
    case AvroType::double_: {
      if (!in.raw(8, view)) return malformed(path, "truncated double");
      std::uint64_t bits = 0;
      for (int i = 7; i >= 0; --i) bits = (bits << 8) | static_cast<std::uint8_t>(view[static_cast<std::size_t>(i)]);
      double value = 0;
      std::memcpy(&value, &bits, 8);
      return core::Value::floating(value);
    }
    case AvroType::bytes:
    case AvroType::string:
    case AvroType::fixed: {
      if (node.type == AvroType::fixed) {
        number = node.size;
      } else if (!in.varint(number) || number < 0) {
        return malformed(path, "bad length");
      }
      if (!in.raw(static_cast<std::size_t>(number), view)) return malformed(path, "length " + std::to_string(number) + " past the end");
      if (node.logical == Logical::decimal) return core::Value::floating(decimal_value(view, node.scale));
      if (node.type == AvroType::string) return core::Value::string(std::string(view));
      return core::Value::string(base64_encode(view));
    }
    case AvroType::enum_:
      if (!in.varint(number) || number < 0 || number >= static_cast<std::int64_t>(node.symbols.size())) {
        return malformed(path, "bad enum index");
      }
      return core::Value::string(node.symbols[static_cast<std::size_t>(number)]);
    case AvroType::union_:
      if (!in.varint(number) || number < 0 || number >= static_cast<std::int64_t>(node.children.size())) {
        return malformed(path, "bad union branch");
      }
      return read(*node.children[static_cast<std::size_t>(number)], in, path, depth + 1);
    case AvroType::record: {
      core::Object fields;
      fields.reserve(node.children.size());
      for (std::size_t i = 0; i < node.children.size(); ++i) {
        auto value = read(*node.children[i], in, Path{&path, node.field_names[i], {}}, depth + 1);
        if (!value.ok()) return value;
        fields.push_back({node.field_names[i], std::move(value).value()});
      }
      return core::Value::object(std::move(fields));
    }
    case AvroType::array:
    case AvroType::map: {
      const bool is_map = node.type == AvroType::map;
      core::Array items;
      core::Object entries;
      for (;;) {
        std::int64_t count = 0;
        if (!in.varint(count)) return malformed(path, "bad block count");
        if (count == 0) break;
        if (count < 0) {
          std::int64_t block_bytes = 0;
          if (!in.varint(block_bytes) || block_bytes < 0) return malformed(path, "bad block size");
          count = count == INT64_MIN ? 0 : -count;
        }
        if (!in.take_items(count)) {
          return malformed(path, "block of " + std::to_string(count) + " items: more than the datum's " +
                                     std::to_string(kFreeItems) + " items beyond one per byte");
        }
        for (std::int64_t i = 0; i < count; ++i) {
          if (is_map) {
            std::int64_t length = 0;
            if (!in.varint(length) || length < 0 || !in.raw(static_cast<std::size_t>(length), view)) {
              return malformed(path, "bad map key");
            }
            std::string key(view);
            auto value = read(*node.children[0], in, Path{&path, key, {}}, depth + 1);
            if (!value.ok()) return value;
            entries.push_back({std::move(key), std::move(value).value()});
          } else {
            auto value = read(*node.children[0], in, Path{&path, {}, std::to_string(items.size())}, depth + 1);
            if (!value.ok()) return value;
            items.push_back(std::move(value).value());
          }
        }
      }
      return is_map ? core::Value::object(std::move(entries)) : core::Value::array(std::move(items));
    }
  }
  return malformed(path, "unknown type");
}

// Moves past one datum of `node` without building it (what a projection leaves out), checking it as read() does.
bool skip(const AvroNode& node, Reader& in, int depth) {
  if (depth > kMaxDepth) return false;
  std::int64_t number = 0;
  std::string_view view;
  switch (node.type) {
    case AvroType::null: return true;
    case AvroType::boolean: return in.raw(1, view);
    case AvroType::int_:
    case AvroType::long_:
    case AvroType::enum_: return in.varint(number);
    case AvroType::float_: return in.raw(4, view);
    case AvroType::double_: return in.raw(8, view);
    case AvroType::fixed: return in.raw(static_cast<std::size_t>(node.size), view);
    case AvroType::bytes:
    case AvroType::string: return in.varint(number) && number >= 0 && in.raw(static_cast<std::size_t>(number), view);
    case AvroType::union_:
      return in.varint(number) && number >= 0 && number < static_cast<std::int64_t>(node.children.size()) &&
             skip(*node.children[static_cast<std::size_t>(number)], in, depth + 1);
    case AvroType::record:
      for (const auto& child : node.children) {
        if (!skip(*child, in, depth + 1)) return false;
      }
      return true;
    case AvroType::array:
    case AvroType::map:
      for (;;) {
        std::int64_t count = 0;
        if (!in.varint(count)) return false;
        if (count == 0) return true;
        if (count < 0) {  // a block with its size in bytes: skipped whole
          std::int64_t block_bytes = 0;
          if (!in.varint(block_bytes) || block_bytes < 0) return false;
          if (!in.raw(static_cast<std::size_t>(block_bytes), view)) return false;
          continue;
        }
        if (!in.take_items(count)) return false;
        for (std::int64_t i = 0; i < count; ++i) {
          if (node.type == AvroType::map && !(in.varint(number) && number >= 0 && in.raw(static_cast<std::size_t>(number), view))) {
            return false;
          }
          if (!skip(*node.children[0], in, depth + 1)) return false;
        }
      }
  }
  return false;
}

// ---- encoding ----

void put_varint(std::int64_t value, std::string& out) {
  auto zigzag = (static_cast<std::uint64_t>(value) << 1) ^ static_cast<std::uint64_t>(value >> 63);
  while (zigzag >= 0x80) {
    out.push_back(static_cast<char>((zigzag & 0x7f) | 0x80));
    zigzag >>= 7;
  }
  out.push_back(static_cast<char>(zigzag));
}

core::RecordError misfit(const Path& at, const std::string& what) {
  const std::string path = at.render();
  return {core::RecordErrorKind::invalid_value,
          "does not fit the Avro schema at " + (path.empty() ? std::string("/") : path) + ": " + what};
}

std::string shown_type(const core::Value& value) { return std::string(core::to_string(value.type())); }

// Whether `value` can be written as `node` (for choosing a union's branch).
bool fits(const AvroNode& node, const core::Value& value) {
  switch (node.type) {
    case AvroType::null: return value.is_null();
    case AvroType::boolean: return value.is_bool();
    case AvroType::int_:
      return value.is_integer() && value.as_integer() >= INT32_MIN && value.as_integer() <= INT32_MAX;
    case AvroType::long_: return value.is_integer();
    case AvroType::float_:
    case AvroType::double_: return value.is_number();
    case AvroType::bytes:
    case AvroType::fixed:
      return node.logical == Logical::decimal ? value.is_number() : value.is_string();
    case AvroType::string: return value.is_string();
    case AvroType::enum_:
      return value.is_string() &&
             std::find(node.symbols.begin(), node.symbols.end(), value.as_string()) != node.symbols.end();
    case AvroType::array: return value.is_array();
    case AvroType::map:
    case AvroType::record: return value.is_object();
    case AvroType::union_: return false;
  }
  return false;
}

std::string decimal_bytes(double value, int scale, std::int64_t width) {
  const double scaled = std::round(value * std::pow(10.0, scale));
  auto unscaled = static_cast<std::int64_t>(scaled);
  std::string bytes;
  for (int i = 0; i < 8; ++i) bytes.insert(bytes.begin(), static_cast<char>((static_cast<std::uint64_t>(unscaled) >> (8 * i)) & 0xff));
  // Minimal two's complement for bytes; sign-extended to the fixed size.
  while (bytes.size() > 1 && ((bytes[0] == 0 && (bytes[1] & 0x80) == 0) ||
                              (static_cast<std::uint8_t>(bytes[0]) == 0xff && (bytes[1] & 0x80) != 0))) {
    bytes.erase(bytes.begin());
  }
  if (width > 0) {
    while (static_cast<std::int64_t>(bytes.size()) < width) bytes.insert(bytes.begin(), unscaled < 0 ? '\xff' : '\0');
  }
  return bytes;
}

core::Status write(const AvroNode& node, const core::Value& value, std::string& out,
                   const Path& path, int depth) {
  if (depth > kMaxDepth) return misfit(path, "nested deeper than " + std::to_string(kMaxDepth));
  if (node.type == AvroType::union_) {
    for (std::size_t i = 0; i < node.children.size(); ++i) {
      if (!fits(*node.children[i], value)) continue;
      put_varint(static_cast<std::int64_t>(i), out);
      return write(*node.children[i], value, out, path, depth + 1);
    }
    return misfit(path, "no branch of the union takes a " + shown_type(value));
  }
  if (!fits(node, value)) {
    return misfit(path, "expected " + (node.name.empty() ? type_name(node.type) : node.name) + ", got " +
                            (value.is_string() && node.type == AvroType::enum_ ? "\"" + value.as_string() + "\""
                                                                              : shown_type(value)));
  }
  switch (node.type) {
    case AvroType::null: break;
    case AvroType::boolean: out.push_back(value.as_bool() ? 1 : 0); break;
    case AvroType::int_:
    case AvroType::long_: put_varint(value.as_integer(), out); break;
    case AvroType::float_: {
      const auto number = static_cast<float>(value.as_double());
      std::uint32_t bits = 0;
      std::memcpy(&bits, &number, 4);
      for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((bits >> (8 * i)) & 0xff));
      break;
    }
    case AvroType::double_: {
      const double number = value.as_double();
      std::uint64_t bits = 0;
      std::memcpy(&bits, &number, 8);
      for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((bits >> (8 * i)) & 0xff));
      break;
    }
    case AvroType::bytes:
    case AvroType::fixed: {
      std::string bytes;
      if (node.logical == Logical::decimal) {
        bytes = decimal_bytes(value.as_double(), node.scale, node.type == AvroType::fixed ? node.size : 0);
      } else if (!base64_decode(value.as_string(), bytes)) {
        return misfit(path, "expected base64 bytes");
      }
      if (node.type == AvroType::fixed) {
        if (static_cast<std::int64_t>(bytes.size()) != node.size) {
          return misfit(path, "expected " + std::to_string(node.size) + " bytes, got " + std::to_string(bytes.size()));
        }
      } else {
        put_varint(static_cast<std::int64_t>(bytes.size()), out);
      }
      out += bytes;
      break;
    }
    case AvroType::string:
      put_varint(static_cast<std::int64_t>(value.as_string().size()), out);
      out += value.as_string();
      break;
    case AvroType::enum_: {
      const auto at = std::find(node.symbols.begin(), node.symbols.end(), value.as_string());
      put_varint(at - node.symbols.begin(), out);
      break;
    }
    case AvroType::array: {
      const auto& items = value.as_array();
      if (!items.empty()) put_varint(static_cast<std::int64_t>(items.size()), out);
      for (std::size_t i = 0; i < items.size(); ++i) {
        auto written = write(*node.children[0], items[i], out, Path{&path, {}, std::to_string(i)}, depth + 1);
        if (!written.ok()) return written;
      }
      put_varint(0, out);
      break;
    }
    case AvroType::map: {
      const auto& entries = value.as_object();
      if (!entries.empty()) put_varint(static_cast<std::int64_t>(entries.size()), out);
      for (const auto& entry : entries) {
        put_varint(static_cast<std::int64_t>(entry.name.size()), out);
        out += entry.name;
        auto written = write(*node.children[0], entry.value, out, Path{&path, entry.name, {}}, depth + 1);
        if (!written.ok()) return written;
      }
      put_varint(0, out);
      break;
    }
    case AvroType::record: {
      static const core::Value null;
      for (std::size_t i = 0; i < node.children.size(); ++i) {
        const core::Value* field = value.find(node.field_names[i]);
        auto written = write(*node.children[i], field ? *field : null, out, Path{&path, node.field_names[i], {}},
                             depth + 1);
        if (!written.ok()) return written;
      }
      break;
    }
    case AvroType::union_: break;  // handled above
  }
  return core::Status::success();
}

}  // namespace

std::variant<AvroSchema, std::string> AvroSchema::parse(std::string_view json_text) {
  Json json = Json::parse(json_text, nullptr, false);
  if (json.is_discarded()) return std::string("the schema is not valid JSON");
  auto nodes = std::make_shared<Nodes>();
  try {
    SchemaParser parser(*nodes);
    const AvroNode* root = parser.parse(json, "", "", 0);
    return AvroSchema(std::move(nodes), root, std::string(json_text));
  } catch (const std::exception& error) {
    return std::string(error.what());
  }
}

AvroSchema::AvroSchema(std::shared_ptr<const Nodes> nodes, const AvroNode* root, std::string text)
    : nodes_(std::move(nodes)),
      root_(root),
      text_(std::move(text)),
      name_(root->name.empty() ? type_name(root->type) : root->name),
      named_(!root->name.empty()) {}

core::Result<core::Value> AvroSchema::decode(std::string_view bytes, const std::vector<std::string>* fields) const {
  Reader in(bytes);
  if (fields != nullptr && root_->type == AvroType::record) {
    // Only the top-level fields asked for are built; the others are skipped (still checked).
    core::Object built;
    const Path root;
    for (std::size_t i = 0; i < root_->children.size(); ++i) {
      const std::string& name = root_->field_names[i];
      if (std::find(fields->begin(), fields->end(), name) == fields->end()) {
        if (!skip(*root_->children[i], in, 1)) return malformed(Path{&root, name, {}}, "does not fit its type");
        continue;
      }
      auto value = read(*root_->children[i], in, Path{&root, name, {}}, 1);
      if (!value.ok()) return value;
      built.push_back({name, std::move(value).value()});
    }
    if (in.left() != 0) return malformed(Path{}, std::to_string(in.left()) + " bytes left after the datum");
    return core::Value::object(std::move(built));
  }
  auto value = read(*root_, in, Path{}, 0);
  if (value.ok() && in.left() != 0) {
    return malformed(Path{}, std::to_string(in.left()) + " bytes left after the datum");
  }
  return value;
}

core::Status AvroSchema::encode(const core::Value& value, std::string& out) const {
  return write(*root_, value, out, Path{}, 0);
}

std::string base64_encode(std::string_view bytes) {
  static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const std::uint32_t n = (static_cast<std::uint8_t>(bytes[i]) << 16) | (static_cast<std::uint8_t>(bytes[i + 1]) << 8) |
                            static_cast<std::uint8_t>(bytes[i + 2]);
    out += {alphabet[(n >> 18) & 63], alphabet[(n >> 12) & 63], alphabet[(n >> 6) & 63], alphabet[n & 63]};
  }
  if (i + 1 == bytes.size()) {
    const std::uint32_t n = static_cast<std::uint8_t>(bytes[i]) << 16;
    out += {alphabet[(n >> 18) & 63], alphabet[(n >> 12) & 63], '=', '='};
  } else if (i + 2 == bytes.size()) {
    const std::uint32_t n = (static_cast<std::uint8_t>(bytes[i]) << 16) | (static_cast<std::uint8_t>(bytes[i + 1]) << 8);
    out += {alphabet[(n >> 18) & 63], alphabet[(n >> 12) & 63], alphabet[(n >> 6) & 63], '='};
  }
  return out;
}

bool base64_decode(std::string_view text, std::string& out) {
  auto digit = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  out.clear();
  if (text.size() % 4 != 0) return false;
  for (std::size_t i = 0; i < text.size(); i += 4) {
    const bool last = i + 4 == text.size();
    int values[4];
    int padding = 0;
    for (int j = 0; j < 4; ++j) {
      const char c = text[i + static_cast<std::size_t>(j)];
      if (c == '=' && last && j >= 2) {
        values[j] = 0;
        ++padding;
        continue;
      }
      if (padding > 0 || (values[j] = digit(c)) < 0) return false;
    }
    const std::uint32_t n = (static_cast<std::uint32_t>(values[0]) << 18) | (static_cast<std::uint32_t>(values[1]) << 12) |
                            (static_cast<std::uint32_t>(values[2]) << 6) | static_cast<std::uint32_t>(values[3]);
    out.push_back(static_cast<char>((n >> 16) & 0xff));
    if (padding < 2) out.push_back(static_cast<char>((n >> 8) & 0xff));
    if (padding < 1) out.push_back(static_cast<char>(n & 0xff));
  }
  return true;
}

}  // namespace sluice::formats
