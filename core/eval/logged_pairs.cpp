#include "core/eval/logged_pairs.hpp"

#include <map>

namespace xops {

namespace {
double code_points(const std::string& s) {
  double n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}
}  // namespace

std::vector<LoggedPair> logged_pairs(db::Database& db, int64_t since_ms) {
  auto logged = read_interactions(db, since_ms);
  std::map<std::string, const Interaction*> served;
  for (const auto& l : logged)
    if (l.interaction.arm == "prod") served[l.interaction.id] = &l.interaction;
  std::vector<LoggedPair> out;
  for (const auto& l : logged) {
    const auto& s = l.interaction;
    if (s.arm != "shadow") continue;
    auto it = served.find(s.pair_id);
    if (it != served.end()) out.push_back({*it->second, s});
  }
  return out;
}

std::vector<LivePairwise> judge_logged_pairs(
    const std::vector<LoggedPair>& pairs, const std::string& judge,
    const std::function<std::string(const std::string&)>& ask, const std::string& criteria,
    size_t max_pairs) {
  std::vector<LivePairwise> groups;
  std::map<std::string, size_t> at;
  std::map<size_t, std::vector<const LoggedPair*>> members;
  for (const auto& p : pairs) {
    auto key = p.shadow.version + "\n" + p.shadow.model_hash + "\n" + p.shadow.adapter_hash + "\n" +
               p.served.version + "\n" + p.served.model_hash + "\n" + p.served.adapter_hash;
    auto [it, fresh] = at.emplace(key, groups.size());
    if (fresh) {
      LivePairwise g;
      g.candidate_version = p.shadow.version;
      g.served_version = p.served.version;
      g.candidate_model_hash = p.shadow.model_hash;
      g.candidate_adapter_hash = p.shadow.adapter_hash;
      g.served_model_hash = p.served.model_hash;
      g.served_adapter_hash = p.served.adapter_hash;
      groups.push_back(std::move(g));
    }
    members[it->second].push_back(&p);
  }
  for (auto& [gi, list] : members) {
    auto& g = groups[gi];
    size_t from = max_pairs && list.size() > max_pairs ? list.size() - max_pairs : 0;
    for (size_t k = from; k < list.size(); ++k) {
      const auto& p = *list[k];
      LoggedPairVerdict v;
      v.served_id = p.served.id;
      v.shadow_id = p.shadow.id;
      try {
        // The candidate (shadow) first, then second; the prompt is what the served model read.
        auto first = parse_pair_verdict(
            ask(pairwise_prompt(criteria, p.served.prompt, p.shadow.output, p.served.output)),
            judge);
        auto second = parse_pair_verdict(
            ask(pairwise_prompt(criteria, p.served.prompt, p.served.output, p.shadow.output)),
            judge);
        v.outcome = pair_outcome(first, second);
        v.verdicts = {first, second};
        (v.outcome > 0 ? g.stats.wins : v.outcome < 0 ? g.stats.losses : g.stats.ties)++;
        g.stats.candidate_chars += code_points(p.shadow.output);
        g.stats.baseline_chars += code_points(p.served.output);
      } catch (const std::exception& e) {
        v.error = e.what();
        ++g.errors;
      }
      g.pairs.push_back(std::move(v));
    }
  }
  return groups;
}

}  // namespace xops
