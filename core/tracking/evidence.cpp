#include "core/tracking/evidence.hpp"

namespace xops::evidence {

namespace {

constexpr const char* kSuite = "eval-suite:";
constexpr const char* kPrompt = "prompt:";
constexpr const char* kProvider = "provider:";
constexpr const char* kBaseline = "baseline:";

bool starts_with(const std::string& s, const char* prefix) {
  return s.rfind(prefix, 0) == 0;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

std::string suite_key(const std::string& suite_path) {
  return kSuite + suite_path;
}

std::string prompt_key(const std::string& label) {
  return kPrompt + label;
}

std::string provider_key(const std::string& label, const std::string& what) {
  return kProvider + label + "/" + what;
}

std::string provider_key(const std::string& label_and_what) {
  return kProvider + label_and_what;
}

std::string baseline_key(const std::string& label_and_what) {
  return kBaseline + label_and_what;
}

const RunRecord* find_eval_of(const std::vector<RunRecord>& runs, const std::string& suite_hash,
                              const std::string& content_hash) {
  for (const auto& run : runs) {
    if (run.kind != "eval") continue;
    bool suite = false, content = false;
    for (const auto& [k, v] : run.inputs) {
      suite |= starts_with(k, kSuite) && v == suite_hash;
      if (v != content_hash) continue;
      if (starts_with(k, kProvider) && ends_with(k, "/model")) {
        auto adapter_key = k.substr(0, k.size() - 6) + "/adapter";
        if (run.inputs.count(adapter_key)) continue;
      }
      content |= starts_with(k, kProvider) || starts_with(k, kPrompt);
    }
    if (suite && content) return &run;
  }
  return nullptr;
}

}  // namespace xops::evidence
