// With libyaml's event parser (a state machine with explicit stacks, fuzzed for years by OSS-Fuzz) rather than
// yaml-cpp: fuzz/yaml found inputs of ten bytes (",fd{ : ~}") on which yaml-cpp 0.7.0, Debian's, never returns.
#include "sluice/core/yaml.hpp"

#include <charconv>
#include <cstdlib>
#include <optional>
#include <regex>
#include <set>
#include <vector>

#include <yaml.h>

#include "sluice/core/json.hpp"
#include "sluice/core/printable.hpp"

namespace sluice::core {

namespace {

using Json = nlohmann::ordered_json;

constexpr std::string_view kCoreTagPrefix = "tag:yaml.org,2002:";

// The YAML 1.2 core schema's resolution of a plain scalar.
Json plain(const std::string& text) {
  if (text.empty() || text == "~" || text == "null" || text == "Null" || text == "NULL") return nullptr;
  if (text == "true" || text == "True" || text == "TRUE") return true;
  if (text == "false" || text == "False" || text == "FALSE") return false;
  static const std::regex decimal("[-+]?[0-9]+");
  static const std::regex octal("0o[0-7]+");
  static const std::regex hexadecimal("0x[0-9a-fA-F]+");
  static const std::regex floating(R"([-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?)");
  if (std::regex_match(text, decimal)) {
    std::int64_t value = 0;
    const char* begin = text.data() + (text[0] == '+' ? 1 : 0);
    auto [end, error] = std::from_chars(begin, text.data() + text.size(), value);
    if (error == std::errc() && end == text.data() + text.size()) return value;
    return std::strtod(text.c_str(), nullptr);  // beyond int64: a double, as a JSON reader would
  }
  if (std::regex_match(text, octal) || std::regex_match(text, hexadecimal)) {
    std::int64_t value = 0;
    const int base = text[1] == 'o' ? 8 : 16;
    auto [end, error] = std::from_chars(text.data() + 2, text.data() + text.size(), value, base);
    if (error == std::errc() && end == text.data() + text.size()) return value;
    return text;
  }
  if (std::regex_match(text, floating)) return std::strtod(text.c_str(), nullptr);
  // .inf and .nan have no JSON form: they stay text, and whatever reads them says what it expected.
  return text;
}

struct Failure {
  YamlError error;
};

[[noreturn]] void fail(const yaml_mark_t& mark, std::string message) {
  throw Failure{YamlError{mark.line + 1, mark.column + 1, std::move(message)}};
}

// Builds the document from libyaml's events: a stack of open mappings and sequences, anchors kept with the size
// of what they stand for, so aliases are expanded within the node budget.
class Builder {
 public:
  explicit Builder(std::size_t max_nodes) : max_nodes_(max_nodes) {}

  void on_event(const yaml_event_t& event) {
    switch (event.type) {
      case YAML_STREAM_START_EVENT:
      case YAML_STREAM_END_EVENT:
      case YAML_NO_EVENT: return;
      case YAML_DOCUMENT_START_EVENT:
        if (++documents_ > 1) fail(event.start_mark, "the file holds more than one YAML document; one is expected");
        return;
      case YAML_DOCUMENT_END_EVENT: return;
      case YAML_SCALAR_EVENT: {
        const std::string text(reinterpret_cast<const char*>(event.data.scalar.value), event.data.scalar.length);
        const bool key = expecting_key();
        if (!key) child_pointer(event.start_mark);
        Json value = key ? Json(text) : scalar(event, text);
        count(1, event.start_mark);
        complete(std::move(value), 1, anchor_of(event.data.scalar.anchor), event.start_mark);
        return;
      }
      case YAML_ALIAS_EVENT: {
        const std::string name(reinterpret_cast<const char*>(event.data.alias.anchor));
        auto it = anchors_.find(name);
        if (it == anchors_.end()) fail(event.start_mark, "the alias *" + printable(name, 128) + " names no anchor");
        if (expecting_key()) fail(event.start_mark, "a key must be a plain text, not an alias");
        child_pointer(event.start_mark);
        count(it->second.nodes, event.start_mark);
        complete(Json(it->second.value), it->second.nodes, std::nullopt, event.start_mark);
        return;
      }
      case YAML_MAPPING_START_EVENT:
      case YAML_SEQUENCE_START_EVENT: {
        if (expecting_key()) fail(event.start_mark, "a key must be a plain text, not a list or a mapping");
        if (stack_.size() >= kMaxFileNesting) {
          fail(event.start_mark, "the document nests deeper than " + std::to_string(kMaxFileNesting) + " levels");
        }
        const bool mapping = event.type == YAML_MAPPING_START_EVENT;
        const yaml_char_t* tag = mapping ? event.data.mapping_start.tag : event.data.sequence_start.tag;
        if (tag != nullptr) {
          const std::string name(reinterpret_cast<const char*>(tag));
          if (name != std::string(kCoreTagPrefix) + (mapping ? "map" : "seq")) {
            fail(event.start_mark, "the tag " + sluice::core::quoted(name) + " is not supported");
          }
        }
        Frame frame;
        frame.pointer = child_pointer(event.start_mark);
        frame.value = mapping ? Json::object() : Json::array();
        frame.anchor = anchor_of(mapping ? event.data.mapping_start.anchor : event.data.sequence_start.anchor);
        frame.mark = event.start_mark;
        count(1, event.start_mark);
        stack_.push_back(std::move(frame));
        return;
      }
      case YAML_MAPPING_END_EVENT:
      case YAML_SEQUENCE_END_EVENT: {
        Frame frame = std::move(stack_.back());
        stack_.pop_back();
        complete(std::move(frame.value), frame.nodes + 1, frame.anchor, frame.mark);
        return;
      }
    }
  }

  std::optional<YamlDocument> take() {
    if (!root_) return std::nullopt;
    document_.json = std::move(*root_);
    return std::move(document_);
  }

 private:
  struct Frame {
    Json value;
    std::string pointer;
    std::optional<std::string> anchor;
    std::optional<std::string> key;  // a mapping's key waiting for its value
    std::set<std::string> keys;
    std::size_t nodes = 0;  // nodes inside, for an anchor's size
    yaml_mark_t mark{};
  };
  struct Anchored {
    Json value;
    std::size_t nodes = 0;
  };

  static std::optional<std::string> anchor_of(const yaml_char_t* anchor) {
    if (anchor == nullptr) return std::nullopt;
    return std::string(reinterpret_cast<const char*>(anchor));
  }

  bool expecting_key() const { return !stack_.empty() && stack_.back().value.is_object() && !stack_.back().key; }

  // The pointer of the node about to start, with its line recorded.
  std::string child_pointer(const yaml_mark_t& mark) {
    std::string pointer;
    if (!stack_.empty()) {
      const Frame& parent = stack_.back();
      pointer = parent.value.is_object() ? json_pointer_child(parent.pointer, *parent.key)
                                         : json_pointer_child(parent.pointer, parent.value.size());
    }
    document_.lines.try_emplace(pointer, mark.line + 1);
    return pointer;
  }

  void count(std::size_t nodes, const yaml_mark_t& mark) {
    nodes_ += nodes;
    if (nodes_ > max_nodes_) {
      fail(mark, "the document has more than " + std::to_string(max_nodes_) +
                     " nodes once its aliases are expanded; a topology or settings file needs far fewer");
    }
  }

  Json scalar(const yaml_event_t& event, const std::string& text) {
    const yaml_char_t* raw_tag = event.data.scalar.tag;
    const std::string tag = raw_tag == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(raw_tag));
    if (tag.empty() || tag == "!") {
      // Untagged: a plain scalar is resolved by the core schema; a quoted or block scalar is text.
      return event.data.scalar.style == YAML_PLAIN_SCALAR_STYLE && tag.empty() ? plain(text) : Json(text);
    }
    const std::string type = tag.rfind(kCoreTagPrefix, 0) == 0 ? tag.substr(kCoreTagPrefix.size()) : std::string();
    if (type == "str") return text;
    if (type == "null" || type == "bool" || type == "int" || type == "float") {
      Json typed = plain(text);
      const bool fits = (type == "null" && typed.is_null()) || (type == "bool" && typed.is_boolean()) ||
                        (type == "int" && typed.is_number_integer()) || (type == "float" && typed.is_number());
      if (!fits) fail(event.start_mark, sluice::core::quoted(text) + " is not a " + type);
      return typed;
    }
    fail(event.start_mark, "the tag " + sluice::core::quoted(tag) +
                               " is not supported; write the value as text, a number, true/false or null");
  }

  // A node is done: into its parent (a mapping's key or value, a sequence's item) or as the root.
  void complete(Json value, std::size_t nodes, const std::optional<std::string>& anchor, const yaml_mark_t& mark) {
    if (anchor) anchors_[*anchor] = Anchored{value, nodes};
    if (stack_.empty()) {
      root_ = std::move(value);
      return;
    }
    Frame& parent = stack_.back();
    parent.nodes += nodes;
    if (parent.value.is_array()) {
      parent.value.push_back(std::move(value));
      return;
    }
    if (!parent.key) {
      std::string key = value.get<std::string>();
      if (!parent.keys.insert(key).second) fail(mark, "the key " + sluice::core::quoted(key) + " appears twice in one mapping");
      parent.key = std::move(key);
      return;
    }
    parent.value[*parent.key] = std::move(value);
    parent.key.reset();
  }

  std::size_t max_nodes_;
  std::size_t nodes_ = 0;
  std::size_t documents_ = 0;
  std::vector<Frame> stack_;
  std::map<std::string, Anchored> anchors_;
  std::optional<Json> root_;
  YamlDocument document_;
};

}  // namespace

std::size_t YamlDocument::line_of(std::string_view pointer) const {
  std::string current(pointer);
  while (true) {
    if (auto it = lines.find(current); it != lines.end()) return it->second;
    if (current.empty()) return 0;
    current.erase(current.rfind('/'));
  }
}

std::variant<YamlDocument, YamlError> parse_yaml(std::string_view text, std::size_t max_nodes) {
  yaml_parser_t parser;
  if (yaml_parser_initialize(&parser) == 0) return YamlError{0, 0, "out of memory starting the YAML parser"};
  yaml_parser_set_input_string(&parser, reinterpret_cast<const unsigned char*>(text.data()), text.size());
  Builder builder(max_nodes);
  std::optional<YamlError> error;
  while (true) {
    yaml_event_t event;
    if (yaml_parser_parse(&parser, &event) == 0) {
      std::string message = parser.problem != nullptr ? parser.problem : "not valid YAML";
      if (parser.context != nullptr) message = std::string(parser.context) + ": " + message;
      error = YamlError{parser.problem_mark.line + 1, parser.problem_mark.column + 1, printable(message, 1024)};
      break;
    }
    const bool end = event.type == YAML_STREAM_END_EVENT;
    try {
      builder.on_event(event);
    } catch (const Failure& failure) {
      error = failure.error;
    }
    yaml_event_delete(&event);
    if (error || end) break;
  }
  yaml_parser_delete(&parser);
  if (error) return *error;
  auto document = builder.take();
  if (!document) return YamlError{1, 1, "the file holds no YAML document"};
  return std::move(*document);
}

bool is_yaml_path(std::string_view path) noexcept { return path.ends_with(".yaml") || path.ends_with(".yml"); }

}  // namespace sluice::core
