#pragma once
// The JSON Schema subset that is-json / contains-json assertions use, with ajv's behaviour
// where promptfoo relies on it (strict schemas: an unknown keyword or format is an error;
// ajv-formats' formats):
//   type (incl. lists), enum, const, properties, required, additionalProperties (bool or
//   schema), items, minItems, maxItems, uniqueItems, minimum, maximum, exclusiveMinimum,
//   exclusiveMaximum, multipleOf, minLength, maxLength, pattern, format (email, date, time,
//   date-time, uri, uuid, ipv4, ipv6, hostname), anyOf, oneOf, allOf, not;
//   annotations ($schema, $id, title, description, default, examples) are accepted.
#include <string>

#include <nlohmann/json.hpp>

namespace xops {

// Throws Error(Usage) "<where>: ..." for a schema that uses anything outside the subset.
void check_json_schema(const nlohmann::json& schema, const std::string& where);
// "" when `value` is valid, else the first violation ("$.email: must match format \"email\"").
std::string validate_json_schema(const nlohmann::json& value, const nlohmann::json& schema,
                                 const std::string& path = "$");

}  // namespace xops
