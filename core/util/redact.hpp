#pragma once
// Secrets never reach stderr, JSONL, --json, JUnit or HTML: API keys are replaced by "***"
// and `scheme://user:password@` credentials in URLs by `scheme://***@`.
#include <string>
#include <vector>

namespace xops {

std::string redact(std::string text, const std::vector<std::string>& secrets = {});

// "https://api.openai.com:443" (lower-case scheme and host, explicit port, no credentials,
// no path) or "" when `url` is not an http(s) URL.
std::string url_origin(const std::string& url);

}  // namespace xops
