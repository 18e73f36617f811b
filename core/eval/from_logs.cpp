#include "core/eval/from_logs.hpp"

#include <fmt/format.h>

#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/tracking/interaction_log.hpp"

namespace xops {

namespace {
std::string iso(int64_t ms) {
  std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}
}  // namespace

int64_t parse_since(const std::string& s, int64_t now_ms) {
  if (s.size() >= 2 && s.find_first_not_of("0123456789") == s.size() - 1) {
    int64_t n = std::stoll(s.substr(0, s.size() - 1));
    int64_t unit = s.back() == 'm'   ? 60000
                   : s.back() == 'h' ? 3600000
                   : s.back() == 'd' ? 86400000
                                     : 0;
    if (unit) return now_ms - n * unit;
  }
  std::tm tm{};
  int y, mo, d, h = 0, mi = 0, sec = 0;
  char tail = 0;
  int n = std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%c", &y, &mo, &d, &h, &mi, &sec, &tail);
  if ((n == 3 && s.size() == 10) || n == 6 || (n == 7 && tail == 'Z')) {
    tm.tm_year = y - 1900, tm.tm_mon = mo - 1, tm.tm_mday = d, tm.tm_hour = h, tm.tm_min = mi,
    tm.tm_sec = sec;
    return static_cast<int64_t>(timegm(&tm)) * 1000;
  }
  throw usage_error(fmt::format("--since '{}': not a date or an age", s),
                    "use 2026-12-01, 2026-12-01T08:30:00 (UTC), or an age such as 30m, 24h, 7d");
}

std::vector<std::string> cases_from_logs(db::Database& db, const FromLogsOptions& o) {
  std::vector<std::string> out;
  std::map<std::string, std::string> picked;  // --novel: id -> case, written in o.ids order
  for (const auto& l : read_interactions(db, o.since_ms)) {
    const auto& i = l.interaction;
    if (!o.ids.empty() && !o.nearest_similarity.count(i.id)) continue;
    auto score = l.mean_score();
    const bool filtered = o.min_score || o.max_score;
    if (filtered && !score) continue;
    if (o.min_score && *score < *o.min_score) continue;
    if (o.max_score && *score > *o.max_score) continue;
    nlohmann::json c;
    c["description"] = fmt::format("{} {} ({}{})", i.route, i.id, i.model,
                                   score ? fmt::format(", score {:g}", *score) : std::string());
    c["vars"] = {{"prompt", i.prompt}};
    // Logged traffic is data: never a path (file://), a list to expand, or a template.
    c["options"] = {{"literal", true}};
    if (!i.messages.empty()) {
      try {
        c["vars"]["messages"] = nlohmann::json::parse(i.messages);
      } catch (const nlohmann::json::exception&) {
      }
    }
    if (o.min_score)
      c["assert"] = nlohmann::json::array({{{"type", "equals"}, {"value", i.output}}});
    else if (o.max_score)
      c["assert"] = nlohmann::json::array({{{"type", "not-equals"}, {"value", i.output}}});
    nlohmann::json comments = nlohmann::json::array();
    std::string said;
    for (const auto& f : l.feedback)
      if (!f.comment.empty()) {
        comments.push_back(f.comment);
        said += (said.empty() ? "" : "\n") + f.comment;
      }
    // A complaint with words: the next version is judged on whether it takes them into account.
    if (o.max_score && !said.empty())
      c["assert"].push_back(
          {{"type", "feedback-addressed"}, {"value", {{"comment", said}, {"previous", i.output}}}});
    // A row whose params are not JSON (written by hand, or damaged) gives null: a discarded
    // value would dump as `<discarded>`, and the whole cases file would not parse.
    auto params = nlohmann::json::parse(i.params, nullptr, false);
    if (params.is_discarded()) params = nullptr;
    c["metadata"] = {{"interaction", i.id},
                     {"created", iso(i.created_ms)},
                     {"model", i.model},
                     {"adapter", i.adapter},
                     {"version", i.version},
                     {"model_hash", i.model_hash},
                     {"adapter_hash", i.adapter_hash},
                     {"output", i.output},
                     {"finish_reason", i.finish_reason},
                     {"score", score ? nlohmann::json(*score) : nlohmann::json()},
                     {"comments", comments},
                     {"params", params}};
    if (auto it = o.nearest_similarity.find(i.id); it != o.nearest_similarity.end()) {
      c["metadata"]["nearest_case_similarity"] = it->second;
      picked[i.id] = c.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      continue;
    }
    out.push_back(c.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  }
  for (const auto& id : o.ids)
    if (auto it = picked.find(id); it != picked.end()) out.push_back(it->second);
  return out;
}

}  // namespace xops
