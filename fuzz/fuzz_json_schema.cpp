// The JSON schemas of is-json / contains-json assertions (a suite's, so someone else's) and
// the outputs checked against them: the first line is the schema, the rest the value. A
// schema xops cannot check must be refused with an xops::Error before it is used.
#include <nlohmann/json.hpp>

#include "core/eval/assertions.hpp"
#include "core/eval/json_schema.hpp"
#include "fuzz/fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  auto nl = text.find('\n');
  auto schema_text = text.substr(0, nl);
  auto value_text = nl == std::string::npos ? std::string() : text.substr(nl + 1);
  return xops::fuzz::expect_error_or_success([&] {
    auto schema = nlohmann::json::parse(schema_text, nullptr, false);
    if (schema.is_discarded()) return;
    xops::check_json_schema(schema, "fuzz");
    for (const auto& v : xops::extract_json_objects(value_text))
      xops::validate_json_schema(v, schema);
    auto v = nlohmann::json::parse(value_text, nullptr, false);
    if (!v.is_discarded()) xops::validate_json_schema(v, schema);
  });
}
