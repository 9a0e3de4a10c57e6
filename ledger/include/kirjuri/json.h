// JsonWriter: builds one JSON object, fields in the order written, for Kirjuri's machine-readable
// output (`--json`). Strings are escaped per RFC 8259; UTF-8 passes through unchanged.
//
// Thread-safety: a value type, no shared state.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace kirjuri {

class JsonWriter {
 public:
  JsonWriter& String(std::string_view key, std::string_view value);
  JsonWriter& Number(std::string_view key, uint64_t value);
  JsonWriter& Number(std::string_view key, int64_t value);
  JsonWriter& Number(std::string_view key, int value) { return Number(key, int64_t{value}); }
  JsonWriter& Number(std::string_view key, unsigned value) { return Number(key, uint64_t{value}); }
  JsonWriter& Bool(std::string_view key, bool value);
  JsonWriter& StringArray(std::string_view key, const std::vector<std::string>& values);
  // REQUIRES: json is one valid JSON value (e.g. another JsonWriter's Finish()).
  JsonWriter& Raw(std::string_view key, std::string_view json);

  // The object's text, without a trailing newline.
  std::string Finish() const { return body_ + "}"; }

  // `text` as a quoted, escaped JSON string.
  static std::string Quote(std::string_view text);

 private:
  void Key(std::string_view key);
  std::string body_ = "{";
};

// If `json` is a JSON string, sets *out to its value and returns true.
bool DecodeJsonString(std::string_view json, std::string* out);

}  // namespace kirjuri
