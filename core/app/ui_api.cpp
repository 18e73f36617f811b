// The JSON API of `xops ui` (docs/ui.md): each route reads the tracking database, the
// registry (git tags) or the interaction log once per request and answers one page of it.
// Every listing is bounded (limit, text truncated); every error is 400/404 with a message.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>
#include <set>

#include "core/app/ui.hpp"
#include "core/error.hpp"
#include "core/eval/from_logs.hpp"
#include "core/monitor/traffic.hpp"
#include "core/monitor/traffic_json.hpp"
#include "core/project/workspace.hpp"
#include "core/refs/content.hpp"
#include "core/store/object_store.hpp"
#include "core/templates.hpp"
#include "core/tracking/interaction_log.hpp"
#include "core/tracking/tracker.hpp"
#include "core/tracking/tracking_db.hpp"
#include "core/util/url_query.hpp"

namespace xops::app {

using nlohmann::json;

namespace {

struct HttpError {
  int status;
  std::string message;
};

std::string dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

http::ServerReply json_reply(const json& j, int status = 200) {
  http::ServerReply r;
  r.status = status;
  r.body = dump(j);
  r.headers["Cache-Control"] = "no-store";
  return r;
}

// Text cut to at most n bytes, never inside a UTF-8 sequence.
std::string cut(const std::string& s, size_t n) {
  if (s.size() <= n) return s;
  size_t end = n;
  while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) --end;
  return s.substr(0, end) + "…";
}

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct Params {
  std::map<std::string, std::string> q;
  std::string get(const std::string& k, const std::string& def = {}) const {
    auto it = q.find(k);
    return it == q.end() ? def : it->second;
  }
  int64_t integer(const std::string& k, int64_t def, int64_t min, int64_t max) const {
    auto v = get(k);
    if (v.empty()) return def;
    try {
      size_t used = 0;
      auto n = std::stoll(v, &used);
      if (used != v.size() || n < min || n > max) throw std::out_of_range(k);
      return n;
    } catch (const std::exception&) {
      throw HttpError{400, fmt::format("'{}' must be a whole number from {} to {}", k, min, max)};
    }
  }
};

json run_json(const RunRecord& r, bool details) {
  json params = json::object(), metrics = json::object(), tags = json::object();
  for (const auto& [k, v] : r.params) params[k] = cut(v, 200);
  for (const auto& m : r.metrics) metrics[m.key] = m.last;
  for (const auto& [k, v] : r.tags) tags[k] = cut(v, details ? 4000 : 200);
  json j = {{"id", r.id},
            {"name", r.name},
            {"kind", r.kind},
            {"status", r.status},
            {"start_ms", r.start_ms},
            {"end_ms", r.end_ms ? json(*r.end_ms) : json(nullptr)},
            {"user", r.user},
            {"git_commit", r.git_commit},
            {"git_dirty", r.git_dirty},
            {"params", params},
            {"metrics", metrics},
            {"tags", tags}};
  if (details) {
    j["command"] = r.command;
    j["host"] = r.host;
    j["parent"] = r.parent;
    j["exit_code"] = r.exit_code ? json(*r.exit_code) : json(nullptr);
    json arts = json::array(), inputs = json::object(), summaries = json::array();
    for (const auto& a : r.artifacts)
      arts.push_back({{"name", a.name}, {"sha256", a.sha256}, {"size", a.size}, {"path", a.path}});
    for (const auto& [k, v] : r.inputs) inputs[k] = v;
    for (const auto& m : r.metrics)
      summaries.push_back({{"key", m.key},
                           {"last", m.last},
                           {"min", m.min},
                           {"max", m.max},
                           {"count", m.count},
                           {"last_step", m.last_step}});
    j["artifacts"] = arts;
    j["inputs"] = inputs;
    j["metric_summaries"] = summaries;
  }
  return j;
}

// A filter from the page's box and a fixed part ("kind = 'eval'"), both in the filter language.
std::string and_filter(const std::string& fixed, const std::string& user) {
  if (user.empty()) return fixed;
  if (fixed.empty()) return user;
  return fixed + " and (" + user + ")";
}

json list_runs(Tracker& t, const Params& p, const std::string& fixed) {
  RunQuery q;
  q.filter = and_filter(fixed, p.get("filter"));
  q.sort = p.get("sort", "-start_time");
  q.limit = static_cast<int>(p.integer("limit", 50, 1, 500));
  q.offset = static_cast<int>(p.integer("offset", 0, 0, 100000000));
  int64_t total = 0;
  std::vector<RunRecord> runs;
  try {
    total = t.count(q.filter);
    runs = t.list(q);
  } catch (const Error& e) {  // the filter or sort language: the message points at the token
    throw HttpError{400, e.what()};
  }
  json rows = json::array();
  std::set<std::string> params, metrics;
  for (const auto& r : runs) {
    rows.push_back(run_json(r, false));
    for (const auto& [k, v] : r.params) params.insert(k);
    for (const auto& m : r.metrics) metrics.insert(m.key);
  }
  return {{"total", total}, {"offset", q.offset}, {"limit", q.limit},
          {"runs", rows},   {"params", params},   {"metrics", metrics}};
}

// Up to `max` points: every k-th, and always the last.
json series_json(const std::vector<std::pair<int64_t, double>>& s, size_t max) {
  json out = json::array();
  size_t stride = s.size() > max ? (s.size() + max - 1) / max : 1;
  for (size_t i = 0; i < s.size(); i += stride) out.push_back({s[i].first, s[i].second});
  if (!s.empty() && (s.size() - 1) % stride) out.push_back({s.back().first, s.back().second});
  return out;
}

json run_detail(Tracker& t, const std::string& id_or_prefix) {
  std::string id;
  try {
    id = t.resolve(id_or_prefix);
  } catch (const Error& e) {
    throw HttpError{404, e.what()};
  }
  auto r = t.get(id);
  auto j = run_json(r, true);
  json series = json::object();
  for (const auto& key : t.metric_keys(id)) series[key] = series_json(t.series(id, key), 2000);
  j["series"] = series;
  return j;
}

// An eval run's case results (its results.jsonl artifact) as a tests x providers matrix.
json eval_detail(const Workspace& ws, Tracker& t, const std::string& id_or_prefix,
                 const Params& p) {
  auto j = run_detail(t, id_or_prefix);
  if (j["kind"] != "eval")
    throw HttpError{404, fmt::format("run {} is not an eval", j["id"].get<std::string>())};
  std::string sha;
  for (const auto& a : j["artifacts"])
    if (a["name"] == "results.jsonl") sha = a["sha256"];
  j["matrix"] = nullptr;
  if (sha.empty()) return j;  // an eval from before results were kept
  ObjectStore store(ws.objects_dir(), ws.tmp_dir());
  if (!store.has(sha)) return j;
  const bool failures = p.get("failures") == "1", disagree = p.get("disagree") == "1";
  auto offset = static_cast<size_t>(p.integer("offset", 0, 0, 10000000));
  auto limit = static_cast<size_t>(p.integer("limit", 100, 1, 500));
  std::vector<std::string> providers;
  std::map<int64_t, json> tests;  // test index -> {description, vars, cells: {provider: cell}}
  auto text = store.read(sha);
  std::vector<json> cases;
  std::set<std::string> prompts;
  for (size_t at = 0; at < text.size();) {
    auto end = text.find('\n', at);
    if (end == std::string::npos) end = text.size();
    auto c = json::parse(text.substr(at, end - at), nullptr, false);
    at = end + 1;
    if (!c.is_object()) continue;
    prompts.insert(c.value("prompt", ""));
    cases.push_back(std::move(c));
  }
  for (auto& c : cases) {
    // A column per provider; per provider and prompt when the suite has several prompts, and
    // per repeat with --repeat.
    std::string prov = c.value("provider", "");
    if (prompts.size() > 1) prov += " · " + c.value("prompt", "");
    if (auto r = c.value("repeat", int64_t{0}); r > 0) prov += fmt::format(" #{}", r + 1);
    if (std::find(providers.begin(), providers.end(), prov) == providers.end())
      providers.push_back(prov);
    auto idx = c.value("test", int64_t{0});
    auto& row = tests[idx];
    if (row.is_null())
      row = {{"test", idx},
             {"description", c.value("description", "")},
             {"vars", c.contains("vars") ? c["vars"] : json::object()},
             {"cells", json::object()}};
    json reasons = json::array();
    if (c.contains("asserts"))
      for (const auto& a : c["asserts"])
        reasons.push_back({{"type", a.value("type", "")},
                           {"pass", a.value("pass", false)},
                           {"reason", cut(a.value("reason", ""), 500)}});
    row["cells"][prov] = {{"pass", c.value("pass", false)},
                          {"score", c.value("score", 0.0)},
                          {"output", cut(c.value("output", ""), 4000)},
                          {"error", c["error"].is_string() ? c["error"] : json(nullptr)},
                          {"latency_ms", c.value("latency_ms", 0.0)},
                          {"asserts", reasons}};
  }
  json rows = json::array();
  size_t matched = 0;
  for (auto& [idx, row] : tests) {
    size_t pass = 0, n = 0;
    for (const auto& [prov, cell] : row["cells"].items()) ++n, pass += cell["pass"].get<bool>();
    if (failures && pass == n) continue;
    if (disagree && (pass == 0 || pass == n)) continue;
    if (matched++ < offset || rows.size() >= limit) continue;
    rows.push_back(std::move(row));
  }
  j["matrix"] = {{"providers", providers}, {"tests_total", tests.size()},
                 {"matched", matched},     {"offset", offset},
                 {"limit", limit},         {"rows", rows}};
  return j;
}

json registry_json(const Workspace& ws, Tracker& t) {
  json artifacts = json::array();
  auto reg = registry::load_registry(ws);
  for (const auto& [name, a] : reg.artifacts()) {
    std::string type;
    for (const auto& c : ws.config().artifacts)
      if (c.name == name) type = c.type;
    json versions = json::array(), stages = json::object(), history = json::array();
    for (const auto& v : a.versions) {
      json held = json::array();
      for (const auto& [stage, h] : a.stages)
        if (h.version == v.version) held.push_back(stage);
      versions.push_back({{"version", v.version},
                          {"commit", v.commit},
                          {"tag", v.tag},
                          {"author", v.author},
                          {"message", cut(v.message, 500)},
                          {"time", v.time},
                          {"registered", v.registered},
                          {"deregistered", v.deregistered},
                          {"stages", held}});
    }
    for (const auto& [stage, h] : a.stages)
      stages[stage] = {{"version", h.version}, {"time", h.time}, {"author", h.author}};
    for (const auto& e : a.history)
      history.push_back({{"action", registry::action_name(e.action)},
                         {"version", e.version},
                         {"stage", e.stage},
                         {"time", e.time},
                         {"author", e.author},
                         {"tag", e.tag},
                         {"message", cut(e.message, 500)}});
    artifacts.push_back({{"name", name},
                         {"type", type},
                         {"deprecated", a.deprecated},
                         {"versions", versions},
                         {"stages", stages},
                         {"history", history}});
  }
  // The promotion decisions (tracking runs of kind promote): each gate's verdict and the run
  // that was its evidence ("run=ID" in the gate's text).
  json promotions = json::array();
  RunQuery q;
  q.filter = "kind = 'promote'";
  q.sort = "-start_time";
  q.limit = 500;
  for (const auto& r : t.list(q)) {
    json gates = json::array();
    for (const auto& [k, v] : r.tags)
      if (k.rfind("gate.", 0) == 0) gates.push_back(cut(v, 2000));
    auto param = [&](const char* k) {
      auto it = r.params.find(k);
      return it == r.params.end() ? std::string() : it->second;
    };
    auto tag = [&](const char* k) {
      auto it = r.tags.find(k);
      return it == r.tags.end() ? std::string() : it->second;
    };
    promotions.push_back({{"run", r.id},
                          {"start_ms", r.start_ms},
                          {"artifact", param("artifact")},
                          {"version", param("version")},
                          {"stage", param("stage")},
                          {"allowed", tag("allowed") == "true"},
                          {"tag", tag("tag")},
                          {"user", r.user},
                          {"gates", gates}});
  }
  return {{"stages", ws.config().stages}, {"artifacts", artifacts}, {"promotions", promotions}};
}

json traffic_json(db::Database& db, const Params& p) {
  auto since = p.get("since", "7d");
  int64_t since_ms = 0;
  try {
    since_ms = since == "all" ? 0 : parse_since(since, now_ms());
  } catch (const Error& e) {
    throw HttpError{400, e.what()};
  }
  auto bucket = p.get("bucket", "hour");
  if (bucket != "hour" && bucket != "day") throw HttpError{400, "'bucket' is hour or day"};
  json versions = json::array();
  // One scan: each version, and each version per bucket.
  for (const auto& v : traffic_stats(db, {since_ms, "version", "", bucket})) {
    json points = json::array();
    for (const auto& g : v.series) points.push_back(traffic_group_json(g));
    auto row = traffic_group_json(v);
    row["series"] = points;
    versions.push_back(std::move(row));
  }
  return {{"since_ms", since_ms}, {"bucket", bucket}, {"versions", versions}};
}

// LIKE with the user's text taken literally.
std::string like_literal(const std::string& s) {
  std::string o = "%";
  for (char c : s) {
    if (c == '%' || c == '_' || c == '\\') o += '\\';
    o += c;
  }
  return o + "%";
}

json interaction_json(const Interaction& i, const std::vector<Feedback>& fb, size_t text_max) {
  json feedback = json::array();
  for (const auto& f : fb)
    feedback.push_back({{"name", f.name},
                        {"score", f.score ? json(*f.score) : json(nullptr)},
                        {"comment", cut(f.comment, 2000)},
                        {"user", f.user},
                        {"session", f.session},
                        {"created_ms", f.created_ms}});
  return {{"id", i.id},
          {"created_ms", i.created_ms},
          {"route", i.route},
          {"model", i.model},
          {"version", i.version},
          {"adapter", i.adapter},
          {"arm", i.arm},
          {"pair_id", i.pair_id},
          {"status", i.status},
          {"error", i.error},
          {"user", i.user},
          {"prompt", cut(i.prompt, text_max)},
          {"output", cut(i.output, text_max)},
          {"finish_reason", i.finish_reason},
          {"prompt_tokens", i.prompt_tokens},
          {"completion_tokens", i.completion_tokens},
          {"latency_ms", i.latency_ms},
          {"ttft_ms", i.ttft_ms ? json(*i.ttft_ms) : json(nullptr)},
          {"feedback", feedback}};
}

const char* kInteractionColumns =
    "id, created_ms, route, model, version, adapter, arm, pair_id, status, error, user_id, "
    "prompt, output, finish_reason, prompt_tokens, completion_tokens, latency_ms, ttft_ms";

Interaction read_row(db::Statement& st) {
  Interaction i;
  i.id = st.text(0), i.created_ms = st.int64(1), i.route = st.text(2), i.model = st.text(3);
  i.version = st.text(4), i.adapter = st.text(5), i.arm = st.text(6), i.pair_id = st.text(7);
  i.status = static_cast<int>(st.int64(8)), i.error = st.text(9), i.user = st.text(10);
  i.prompt = st.text(11), i.output = st.text(12), i.finish_reason = st.text(13);
  i.prompt_tokens = st.int64(14), i.completion_tokens = st.int64(15), i.latency_ms = st.real(16);
  if (!st.is_null(17)) i.ttft_ms = st.real(17);
  return i;
}

std::vector<Feedback> feedback_of(db::Database& db, const std::string& id) {
  auto st = db.prepare(
      "SELECT created_ms, score, comment, name, user_id, session_id FROM feedback WHERE "
      "interaction = ? ORDER BY created_ms");
  st.bind(1, id);
  std::vector<Feedback> out;
  while (st.step()) {
    Feedback f;
    f.created_ms = st.int64(0);
    if (!st.is_null(1)) f.score = st.real(1);
    f.comment = st.text(2), f.name = st.text(3), f.user = st.text(4), f.session = st.text(5);
    out.push_back(std::move(f));
  }
  return out;
}

json list_interactions(db::Database& db, const Params& p) {
  std::string where = " WHERE 1 = 1";
  std::vector<std::string> args;
  if (auto v = p.get("version"); !v.empty()) where += " AND version = ?", args.push_back(v);
  if (auto q = p.get("q"); !q.empty()) {
    where += " AND (prompt LIKE ? ESCAPE '\\' OR output LIKE ? ESCAPE '\\' OR id = ?)";
    args.insert(args.end(), {like_literal(q), like_literal(q), q});
  }
  auto status = p.get("status");
  if (status == "error")
    where += " AND status >= 400";
  else if (status == "ok")
    where += " AND status < 400";
  else if (!status.empty())
    throw HttpError{400, "'status' is ok or error"};
  auto limit = p.integer("limit", 50, 1, 500), offset = p.integer("offset", 0, 0, 100000000);
  auto bind_all = [&](db::Statement& st) {
    int i = 1;
    for (const auto& a : args) st.bind(i++, a);
    return i;
  };
  auto count = db.prepare("SELECT COUNT(*) FROM interactions" + where);
  bind_all(count);
  count.step();
  auto total = count.int64(0);
  auto st =
      db.prepare(fmt::format("SELECT {} FROM interactions{} ORDER BY created_ms DESC, id "
                             "LIMIT ? OFFSET ?",
                             kInteractionColumns, where));
  int i = bind_all(st);
  st.bind(i, limit).bind(i + 1, offset);
  json rows = json::array();
  while (st.step()) {
    auto x = read_row(st);
    rows.push_back(interaction_json(x, feedback_of(db, x.id), 300));
  }
  return {{"total", total}, {"offset", offset}, {"limit", limit}, {"rows", rows}};
}

json interaction_detail(db::Database& db, const std::string& id) {
  auto st =
      db.prepare(fmt::format("SELECT {} FROM interactions WHERE id = ?", kInteractionColumns));
  st.bind(1, id);
  if (!st.step()) throw HttpError{404, fmt::format("no interaction has id '{}'", cut(id, 80))};
  auto x = read_row(st);
  auto j = interaction_json(x, feedback_of(db, x.id), 100000);
  auto m = db.prepare("SELECT messages, params FROM interactions WHERE id = ?");
  m.bind(1, id);
  if (m.step()) {
    j["messages"] = m.is_null(0) ? json(nullptr) : json::parse(m.text(0), nullptr, false);
    j["params"] = json::parse(m.text(1), nullptr, false);
  }
  return j;
}

bool log_exists(const Workspace& ws) {
  auto where = tracking_location(ws);
  return db::Database::is_postgres_url(where.url) || std::filesystem::exists(where.url);
}

const EmbeddedFile* asset(const std::string& path) {
  for (const auto& f : embedded_ui())
    if (path == f.path) return &f;
  return nullptr;
}

std::string content_type(const std::string& path) {
  auto ends = [&](const char* ext) {
    std::string e = ext;
    return path.size() >= e.size() && path.compare(path.size() - e.size(), e.size(), e) == 0;
  };
  if (ends(".html")) return "text/html; charset=utf-8";
  if (ends(".js")) return "text/javascript; charset=utf-8";
  if (ends(".css")) return "text/css; charset=utf-8";
  if (ends(".svg")) return "image/svg+xml";
  return "application/octet-stream";
}

}  // namespace

UiApi::UiApi(const Workspace& ws) : ws_(ws) {}

http::ServerReply UiApi::handle(const http::ServerRequest& r) const {
  try {
    if (r.method != "GET" && r.method != "HEAD")
      throw HttpError{405, "the UI's API is read-only (GET)"};
    const auto& path = r.path;
    if (path == "/" || path.rfind("/assets/", 0) == 0) {
      auto* f = asset(path == "/" ? "index.html" : path.substr(8));
      if (!f) throw HttpError{404, "no such asset"};
      http::ServerReply rep;
      rep.content_type = content_type(f->path);
      rep.body.assign(f->data, f->size);
      rep.headers["Content-Security-Policy"] =
          "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'";
      return rep;
    }
    if (path.rfind("/api/", 0) != 0)
      throw HttpError{404, fmt::format("no route {}", cut(path, 100))};
    Params p{parse_query(r.query)};
    auto rest = path.substr(5);
    auto sub = [&](const std::string& prefix) -> std::optional<std::string> {
      if (rest.rfind(prefix + "/", 0) != 0 || rest.size() == prefix.size() + 1) return std::nullopt;
      return percent_decode(rest.substr(prefix.size() + 1));
    };
    const bool has_log = log_exists(ws_);
    if (rest == "summary") {
      json j = {{"project", ws_.config().name}, {"root", ws_.root().string()}};
      auto t = Tracker::for_workspace(ws_);
      j["runs"] = t.count("");
      j["evals"] = t.count("kind = 'eval'");
      j["interactions"] = 0;
      if (has_log) {
        auto db = open_tracking_db(ws_);
        auto st = db.prepare("SELECT COUNT(*) FROM interactions");
        st.step();
        j["interactions"] = st.int64(0);
      }
      return json_reply(j);
    }
    if (rest == "runs") {
      auto t = Tracker::for_workspace(ws_);
      return json_reply(list_runs(t, p, ""));
    }
    if (auto id = sub("runs")) {
      auto t = Tracker::for_workspace(ws_);
      return json_reply(run_detail(t, *id));
    }
    if (rest == "evals") {
      auto t = Tracker::for_workspace(ws_);
      return json_reply(list_runs(t, p, "kind = 'eval'"));
    }
    if (auto id = sub("evals")) {
      auto t = Tracker::for_workspace(ws_);
      return json_reply(eval_detail(ws_, t, *id, p));
    }
    if (rest == "registry") {
      auto t = Tracker::for_workspace(ws_);
      return json_reply(registry_json(ws_, t));
    }
    if (rest == "traffic" || rest == "interactions" || sub("interactions")) {
      if (!has_log) {
        if (rest == "traffic") return json_reply({{"since_ms", 0}, {"versions", json::array()}});
        if (rest == "interactions") return json_reply({{"total", 0}, {"rows", json::array()}});
        throw HttpError{404, "no interactions logged in this project yet"};
      }
      auto db = open_tracking_db(ws_);
      if (rest == "traffic") return json_reply(traffic_json(db, p));
      if (rest == "interactions") return json_reply(list_interactions(db, p));
      return json_reply(interaction_detail(db, *sub("interactions")));
    }
    throw HttpError{404, fmt::format("no API route {}", cut(path, 100))};
  } catch (const HttpError& e) {
    return json_reply({{"error", e.message}}, e.status);
  } catch (const std::exception& e) {
    return json_reply({{"error", e.what()}}, 500);
  }
}

}  // namespace xops::app
