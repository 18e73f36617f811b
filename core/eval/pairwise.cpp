#include "core/eval/pairwise.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "core/error.hpp"

namespace xops {

std::string pairwise_prompt(const std::string& criteria, const std::string& prompt,
                            const std::string& first, const std::string& second) {
  return fmt::format(
      "Compare two answers to the same prompt{}. Reply with only a JSON object "
      "{{\"winner\": \"A\"|\"B\"|\"tie\", \"reason\": \"...\"}}.\n\nPrompt: {}\n\nAnswer A: "
      "{}\n\nAnswer B: {}\n",
      criteria.empty() ? "" : " by this criterion: " + criteria, prompt, first, second);
}

namespace {
std::string kind_of(const std::string& id) {
  if (id.rfind("exec:", 0) == 0) return "exec";
  if (id.rfind("openai:", 0) == 0) return "openai";
  if (id == "echo") return "echo";
  return "local";
}
}  // namespace

nlohmann::json baseline_config(const std::string& candidate_id,
                               const nlohmann::json& candidate_config,
                               const std::string& baseline_id) {
  if (kind_of(baseline_id) != "local")
    return kind_of(candidate_id) == kind_of(baseline_id) ? candidate_config
                                                         : nlohmann::json::object();
  nlohmann::json out = nlohmann::json::object();
  for (const char* k : {"max_tokens", "temperature", "top_p", "top_k", "seed", "stop"})
    if (candidate_config.contains(k)) out[k] = candidate_config[k];
  return out;
}

PairVerdict parse_pair_verdict(const std::string& answer, const std::string& judge) {
  // The last {...} that parses and names a winner: judges often think aloud first.
  for (auto close = answer.rfind('}'); close != std::string::npos && close > 0;
       close = answer.rfind('}', close - 1)) {
    for (auto open = answer.rfind('{', close); open != std::string::npos;
         open = open ? answer.rfind('{', open - 1) : std::string::npos) {
      auto j = nlohmann::json::parse(answer.substr(open, close - open + 1), nullptr, false);
      if (j.is_object() && j.contains("winner") && j["winner"].is_string()) {
        auto w = j["winner"].get<std::string>();
        std::string lw = w;
        std::transform(lw.begin(), lw.end(), lw.begin(),
                       [](unsigned char c) { return std::tolower(c); });
        PairVerdict v;
        v.winner = lw == "a" ? "A" : lw == "b" ? "B" : lw == "tie" ? "tie" : "";
        if (v.winner.empty()) break;
        if (j.contains("reason") && j["reason"].is_string()) v.reason = j["reason"];
        return v;
      }
      if (open == 0) break;
    }
    if (close == 0) break;
  }
  throw runtime_error(
      fmt::format("the judge {} did not name a winner (A, B or tie): {}", judge,
                  answer.substr(0, 200)),
      "a pairwise judge must answer {\"winner\": \"A\"|\"B\"|\"tie\", \"reason\": \"...\"}");
}

int pair_outcome(const PairVerdict& candidate_first, const PairVerdict& candidate_second) {
  int first = candidate_first.winner == "A" ? 1 : candidate_first.winner == "B" ? -1 : 0;
  int second = candidate_second.winner == "B" ? 1 : candidate_second.winner == "A" ? -1 : 0;
  return first == second ? first : 0;
}

double PairwiseStats::win_rate() const {
  return n() ? (static_cast<double>(wins) + 0.5 * static_cast<double>(ties)) / n() : 0.0;
}

std::pair<double, double> PairwiseStats::interval() const {
  if (!n()) return {0.0, 1.0};
  const double z = 1.959963984540054, nn = static_cast<double>(n()), p = win_rate();
  double center = (p + z * z / (2 * nn)) / (1 + z * z / nn);
  double half = z / (1 + z * z / nn) * std::sqrt(p * (1 - p) / nn + z * z / (4 * nn * nn));
  return {std::max(0.0, center - half), std::min(1.0, center + half)};
}

double PairwiseStats::sign_test_p() const {
  size_t m = wins + losses;
  if (!m) return 1.0;
  size_t k = std::min(wins, losses);
  // P(X <= k) for X ~ Binomial(m, 1/2), in logs (m may be large).
  double tail = 0;
  for (size_t i = 0; i <= k; ++i)
    tail += std::exp(std::lgamma(m + 1.0) - std::lgamma(i + 1.0) - std::lgamma(m - i + 1.0) -
                     static_cast<double>(m) * std::log(2.0));
  return std::min(1.0, 2 * tail);
}

std::vector<std::pair<std::string, double>> pairwise_figures(const PairwiseStats& s) {
  auto [low, high] = s.interval();
  return {{"win_rate", s.win_rate()},     {"win_rate_low", low},
          {"win_rate_high", high},        {"sign_test_p", s.sign_test_p()},
          {"pairs", double(s.n())},       {"wins", double(s.wins)},
          {"ties", double(s.ties)},       {"losses", double(s.losses)}};
}

}  // namespace xops
