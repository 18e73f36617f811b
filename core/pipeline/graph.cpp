#include "core/pipeline/graph.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <queue>
#include <set>

#include "core/error.hpp"

namespace xops::pipeline {

bool path_within(const std::string& inner, const std::string& outer) {
  if (outer.empty()) return true;
  return inner == outer ||
         (inner.size() > outer.size() && inner.compare(0, outer.size(), outer) == 0 &&
          inner[outer.size()] == '/');
}

Graph build_graph(const Pipeline& p) {
  Graph g;
  g.pipeline = &p;
  size_t n = p.stages.size();
  g.upstream.assign(n, {});
  g.downstream.assign(n, {});
  struct Writer {
    size_t stage;
    const Output* out;
  };
  std::vector<Writer> writers;
  for (size_t i = 0; i < n; ++i)
    for (const auto& o : p.stages[i].outs) {
      for (const auto& w : writers) {
        const auto& other = p.stages[w.stage];
        if (w.out->rel == o.rel)
          throw usage_error(
              fmt::format("{}: output '{}' of stage '{}' is also an output of stage '{}' ({})",
                          p.stages[i].where, o.rel, p.stages[i].name, other.name, other.where),
              "each path has one stage that writes it");
        if (path_within(o.rel, w.out->rel) || path_within(w.out->rel, o.rel))
          throw usage_error(
              fmt::format("{}: output '{}' of stage '{}' overlaps output '{}' of stage '{}' ({})",
                          p.stages[i].where, o.rel, p.stages[i].name, w.out->rel, other.name,
                          other.where),
              "an output cannot hold, or lie inside, another output");
      }
      writers.push_back({i, &o});
    }
  for (size_t i = 0; i < n; ++i) {
    std::set<size_t> ups;
    for (const auto& d : p.stages[i].deps)
      for (const auto& w : writers)
        if (path_within(d.rel, w.out->rel) || path_within(w.out->rel, d.rel)) {
          if (w.stage == i)
            throw usage_error(fmt::format("{}: stage '{}' depends on its own output '{}'",
                                          p.stages[i].where, p.stages[i].name, w.out->rel),
                              "a stage cannot read what it writes; split it in two");
          ups.insert(w.stage);
        }
    g.upstream[i].assign(ups.begin(), ups.end());
    for (auto u : ups) g.downstream[u].push_back(i);
  }
  // Kahn's algorithm, the lowest file position first among ready stages.
  std::vector<size_t> indeg(n);
  std::priority_queue<size_t, std::vector<size_t>, std::greater<>> ready;
  for (size_t i = 0; i < n; ++i)
    if ((indeg[i] = g.upstream[i].size()) == 0) ready.push(i);
  while (!ready.empty()) {
    auto i = ready.top();
    ready.pop();
    g.order.push_back(i);
    for (auto d : g.downstream[i])
      if (--indeg[d] == 0) ready.push(d);
  }
  if (g.order.size() != n) {
    // Walk upstream from a stage left over until a stage repeats: that loop is the cycle.
    size_t start = 0;
    while (indeg[start] == 0) ++start;
    std::vector<size_t> path;
    std::map<size_t, size_t> seen;
    size_t cur = start;
    while (!seen.count(cur)) {
      seen[cur] = path.size();
      path.push_back(cur);
      for (auto u : g.upstream[cur])
        if (indeg[u] != 0) {
          cur = u;
          break;
        }
    }
    std::vector<std::string> names;  // upstream order; reversed, it is the way data flows
    for (size_t k = seen[cur]; k < path.size(); ++k) names.push_back(p.stages[path[k]].name);
    std::reverse(names.begin(), names.end());
    names.push_back(names.front());
    throw usage_error(fmt::format("{}: the stages form a cycle: {}", p.stages[cur].where,
                                  fmt::join(names, " -> ")),
                      "a stage's outputs cannot lead back to its own dependencies");
  }
  return g;
}

std::vector<size_t> select_stages(const Graph& g, const std::vector<std::string>& targets,
                                  bool single_item, bool downstream) {
  const auto& p = *g.pipeline;
  size_t n = p.stages.size();
  if (targets.empty()) return g.order;
  std::vector<bool> picked(n, false);
  std::vector<size_t> work;
  for (const auto& t : targets) {
    bool any = false;
    for (size_t i = 0; i < n; ++i) {
      const auto& name = p.stages[i].name;
      if (name == t || (name.rfind(t + "@", 0) == 0 && t.find('@') == std::string::npos)) {
        any = true;
        if (!picked[i]) work.push_back(i);
        picked[i] = true;
      }
    }
    if (!any) {
      std::vector<std::string> names;
      for (const auto& s : p.stages) names.push_back(s.name);
      throw usage_error(fmt::format("no stage '{}' in {}", t, p.file),
                        names.empty() ? std::string("it declares no stages")
                                      : fmt::format("stages: {}", fmt::join(names, ", ")));
    }
  }
  auto closure = [&](const std::vector<std::vector<size_t>>& edges) {
    auto stack = work;
    while (!stack.empty()) {
      auto i = stack.back();
      stack.pop_back();
      for (auto j : edges[i])
        if (!picked[j]) {
          picked[j] = true;
          stack.push_back(j);
        }
    }
  };
  auto targets_only = picked;
  if (!single_item) closure(g.upstream);
  if (downstream) {
    auto before = picked;
    picked = targets_only;
    closure(g.downstream);
    for (size_t i = 0; i < n; ++i) picked[i] = picked[i] || before[i];
  }
  std::vector<size_t> out;
  for (auto i : g.order)
    if (picked[i]) out.push_back(i);
  return out;
}

std::string render_dag_text(const Graph& g, const std::vector<size_t>& stages) {
  std::string out;
  for (auto i : stages) {
    std::vector<std::string> ups;
    for (auto u : g.upstream[i]) ups.push_back(g.pipeline->stages[u].name);
    out += g.pipeline->stages[i].name;
    if (!ups.empty()) out += " <- " + fmt::format("{}", fmt::join(ups, ", "));
    out += "\n";
  }
  return out;
}

std::string render_dag_dot(const Graph& g, const std::vector<size_t>& stages) {
  auto q = [](const std::string& s) {
    std::string o = "\"";
    for (char c : s) {
      if (c == '"' || c == '\\') o += '\\';
      o += c;
    }
    return o + "\"";
  };
  std::set<size_t> in(stages.begin(), stages.end());
  std::string out = "strict digraph {\n";
  for (auto i : stages) out += "  " + q(g.pipeline->stages[i].name) + ";\n";
  for (auto i : stages)
    for (auto u : g.upstream[i])
      if (in.count(u))
        out +=
            "  " + q(g.pipeline->stages[u].name) + " -> " + q(g.pipeline->stages[i].name) + ";\n";
  return out + "}\n";
}

}  // namespace xops::pipeline
