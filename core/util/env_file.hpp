#pragma once
// dotenv files (`--env-file .env`, as promptfoo takes them): KEY=VALUE lines, `export `
// prefixes, # comments, values in single quotes (literal) or in double quotes (backslash
// escapes n, r, t, quote and backslash; may span lines). No ${VAR} expansion.
#include <map>
#include <string>

namespace xops {

// Throws Error "FILE:LINE: ..." for a line that is not KEY=VALUE or an unclosed quote.
std::map<std::string, std::string> parse_env_file(const std::string& text, const std::string& file);

}  // namespace xops
