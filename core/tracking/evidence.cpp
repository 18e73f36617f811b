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

namespace {

// A run input under `prefix` (provider: or baseline:) that is this content. A model that ran
// under an adapter is not that model alone: an adapter's eval must not speak for its base.
bool ran_content(const RunRecord& run, const char* prefix, const std::string& hash) {
  for (const auto& [k, v] : run.inputs) {
    if (v != hash || !starts_with(k, prefix)) continue;
    if (ends_with(k, "/model") && run.inputs.count(k.substr(0, k.size() - 6) + "/adapter"))
      continue;
    return true;
  }
  return false;
}

bool ran_suite(const RunRecord& run, const std::string& suite_hash) {
  for (const auto& [k, v] : run.inputs)
    if (starts_with(k, kSuite) && v == suite_hash) return true;
  return false;
}

}  // namespace

const RunRecord* find_eval_of(const std::vector<RunRecord>& runs, const std::string& suite_hash,
                              const std::string& content_hash) {
  for (const auto& run : runs)
    if (run.kind == "eval" && ran_suite(run, suite_hash) &&
        (ran_content(run, kProvider, content_hash) || ran_content(run, kPrompt, content_hash)))
      return &run;
  return nullptr;
}

const RunRecord* find_comparison_of(const std::vector<RunRecord>& runs,
                                    const std::string& suite_hash, const std::string& content_hash,
                                    const std::string& baseline_hash) {
  for (const auto& run : runs)
    if (run.kind == "eval" && ran_suite(run, suite_hash) &&
        ran_content(run, kProvider, content_hash) && ran_content(run, kBaseline, baseline_hash))
      return &run;
  return nullptr;
}

const RunRecord* find_live_comparison_of(const std::vector<RunRecord>& runs,
                                         const std::string& content_hash) {
  for (const auto& run : runs)
    if (run.kind == "online-pairwise" && ran_content(run, kProvider, content_hash)) return &run;
  return nullptr;
}

std::optional<double> metric_of(const RunRecord& run, const std::string& key) {
  for (const auto& m : run.metrics)
    if (m.key == key) return m.last;
  return std::nullopt;
}

}  // namespace xops::evidence
