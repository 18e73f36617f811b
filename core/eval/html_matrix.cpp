#include "core/eval/html_matrix.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "core/tracking/report_html.hpp"

namespace xops {

namespace {
constexpr size_t kMaxRows = 5000;   // a report stays a page a browser opens
constexpr size_t kMaxChars = 4000;  // per output shown

std::string clip(const std::string& s) {
  if (s.size() <= kMaxChars) return s;
  size_t n = kMaxChars;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;  // whole characters
  return s.substr(0, n) + fmt::format(" … ({} more bytes)", s.size() - n);
}
}  // namespace

void HtmlMatrix::add(const CaseResult& c) {
  auto key = std::make_tuple(c.index, c.prompt_label, c.repeat);
  auto it = rows_.find(key);
  if (it == rows_.end()) {
    if (rows_.size() >= kMaxRows) {
      ++dropped_;
      return;
    }
    it = rows_.emplace(key, Row{c.test_description, c.prompt_label, clip(c.rendered_prompt), {}})
             .first;
  }
  if (std::find(providers_.begin(), providers_.end(), c.provider_label) == providers_.end())
    providers_.push_back(c.provider_label);
  Cell cell;
  cell.pass = c.pass && c.error.empty();
  cell.output = clip(c.output);
  cell.error = c.error;
  for (const auto& [a, r] : c.asserts) {
    if (a.type != "pairwise" || r.skipped || !r.detail.is_object()) continue;
    cell.outcome = r.detail.value("outcome", "");
    for (const auto& v : r.detail.value("verdicts", nlohmann::json::array()))
      cell.reasons += fmt::format("as {}: {} — {}\n", v.value("candidate", ""),
                                  v.value("winner", ""), v.value("reason", ""));
  }
  it->second.cells[c.provider_label] = std::move(cell);
}

std::string HtmlMatrix::render(const std::string& baseline) const {
  if (providers_.size() < 2) return "";
  std::vector<std::string> cols;
  if (!baseline.empty() &&
      std::find(providers_.begin(), providers_.end(), baseline) != providers_.end())
    cols.push_back(baseline);
  for (const auto& p : providers_)
    if (p != baseline) cols.push_back(p);
  std::string out =
      "<h2>Side by side</h2>\n"
      "<input type=\"radio\" name=\"mx\" id=\"mx-all\" checked><label for=\"mx-all\">all</label> "
      "<input type=\"radio\" name=\"mx\" id=\"mx-reg\"><label for=\"mx-reg\">regressions</label> "
      "<input type=\"radio\" name=\"mx\" id=\"mx-loss\"><label for=\"mx-loss\">losses</label> "
      "<input type=\"radio\" name=\"mx\" id=\"mx-fix\"><label for=\"mx-fix\">fixes</label>\n"
      "<table class=\"matrix\"><tr><th>test</th>";
  for (const auto& c : cols)
    out += fmt::format("<th>{}{}</th>", html_escape(c), c == baseline ? " (baseline)" : "");
  out += "</tr>\n";
  for (const auto& [key, row] : rows_) {
    const Cell* base = nullptr;
    if (auto b = row.cells.find(baseline); !baseline.empty() && b != row.cells.end())
      base = &b->second;
    std::vector<std::string> classes;
    bool regression = false, fix = false, loss = false;
    for (const auto& [label, cell] : row.cells) {
      if (label == baseline || !base) continue;
      regression |= base->pass && !cell.pass;
      fix |= !base->pass && cell.pass;
      loss |= cell.outcome == "loss";
    }
    if (regression) classes.push_back("regression");
    if (fix) classes.push_back("fix");
    if (loss) classes.push_back("loss");
    auto name =
        row.description.empty() ? fmt::format("test {}", std::get<0>(key) + 1) : row.description;
    out += fmt::format("<tr class=\"row {}\"><td>{}{} [{}]<pre>{}</pre></td>",
                       fmt::join(classes, " "), html_escape(name),
                       std::get<2>(key) ? fmt::format(" #{}", std::get<2>(key) + 1) : "",
                       html_escape(row.prompt), html_escape(row.rendered));
    for (const auto& col : cols) {
      auto c = row.cells.find(col);
      if (c == row.cells.end()) {
        out += "<td>–</td>";
        continue;
      }
      const auto& cell = c->second;
      out += fmt::format("<td class=\"{}\"><div class=\"{}\">{}</div><pre>{}</pre>",
                         cell.pass ? "pass" : "fail", cell.pass ? "ok" : "bad",
                         !cell.error.empty() ? "error: " + html_escape(cell.error)
                         : cell.pass         ? "✓ pass"
                                             : "✗ fail",
                         html_escape(cell.output));
      if (!cell.outcome.empty())
        out += fmt::format(
            "<div class=\"verdict {}\">{} against {}</div><details><summary>the judge, both "
            "orders</summary><pre>{}</pre></details>",
            cell.outcome, cell.outcome, html_escape(baseline), html_escape(cell.reasons));
      out += "</td>";
    }
    out += "</tr>\n";
  }
  out += "</table>\n";
  if (dropped_)
    out +=
        fmt::format("<p>{} more test rows are in the case list below (the first {} shown).</p>\n",
                    dropped_, kMaxRows);
  return out;
}

}  // namespace xops
