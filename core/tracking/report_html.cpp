#include "core/tracking/report_html.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <set>

namespace xops {

std::string html_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '&': o += "&amp;"; break;
      case '"': o += "&quot;"; break;
      case '\'': o += "&#39;"; break;
      default: o += c;
    }
  }
  return o;
}

namespace {

const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"};

std::string fmt_num(double v) {
  if (v != 0 && (std::fabs(v) < 1e-3 || std::fabs(v) >= 1e5)) return fmt::format("{:.3e}", v);
  return fmt::format("{:.4g}", v);
}

std::string chart(const std::string& key, const std::vector<RunRecord>& runs, const std::vector<MetricSeries>& series) {
  const double W = 640, H = 300, L = 64, R = 16, T = 28, B = 40;
  double x0 = 1e300, x1 = -1e300, y0 = 1e300, y1 = -1e300;
  for (const auto& s : series) {
    auto it = s.find(key);
    if (it == s.end()) continue;
    for (auto [x, y] : it->second) {
      if (!std::isfinite(y)) continue;
      x0 = std::min(x0, double(x)), x1 = std::max(x1, double(x));
      y0 = std::min(y0, y), y1 = std::max(y1, y);
    }
  }
  if (x0 > x1) return "";
  if (x1 == x0) x1 = x0 + 1;
  if (y1 == y0) y1 = y0 + 1, y0 -= 1;
  auto sx = [&](double x) { return L + (x - x0) / (x1 - x0) * (W - L - R); };
  auto sy = [&](double y) { return H - B - (y - y0) / (y1 - y0) * (H - T - B); };
  std::string svg = fmt::format(
      R"(<svg class="chart" viewBox="0 0 {} {}" width="{}" height="{}" role="img" aria-label="{}">)", W, H, W, H,
      html_escape(key));
  svg += fmt::format(R"(<text x="{}" y="18" class="title">{}</text>)", L, html_escape(key));
  double last_xtick = -1e300;
  for (int i = 0; i <= 4; ++i) {
    double yv = y0 + (y1 - y0) * i / 4, xv = std::round(x0 + (x1 - x0) * i / 4);
    svg += fmt::format(R"(<line x1="{}" y1="{:.1f}" x2="{}" y2="{:.1f}" class="grid"/>)", L, sy(yv), W - R, sy(yv));
    svg += fmt::format(R"(<text x="{}" y="{:.1f}" class="tick" text-anchor="end">{}</text>)", L - 6, sy(yv) + 4, fmt_num(yv));
    if (xv == last_xtick) continue;  // steps are integers: no repeated labels on short ranges
    last_xtick = xv;
    svg += fmt::format(R"(<text x="{:.1f}" y="{}" class="tick" text-anchor="middle">{}</text>)", sx(xv), H - B + 16,
                       fmt_num(xv));
  }
  svg += fmt::format(R"(<text x="{}" y="{}" class="tick" text-anchor="middle">step</text>)", (L + W - R) / 2, H - 6);
  for (size_t r = 0; r < series.size(); ++r) {
    auto it = series[r].find(key);
    if (it == series[r].end()) continue;
    std::string pts;
    for (auto [x, y] : it->second)
      if (std::isfinite(y)) pts += fmt::format("{:.1f},{:.1f} ", sx(double(x)), sy(y));
    const char* color = kColors[r % 8];
    svg += fmt::format(R"(<polyline fill="none" stroke="{}" stroke-width="2" points="{}"><title>{}</title></polyline>)",
                       color, pts, html_escape(runs[r].id));
    if (it->second.size() == 1)
      svg += fmt::format(R"(<circle cx="{:.1f}" cy="{:.1f}" r="3" fill="{}"/>)", sx(double(it->second[0].first)),
                         sy(it->second[0].second), color);
  }
  return svg + "</svg>\n";
}

}  // namespace

std::string render_report_html(const std::vector<RunRecord>& runs, const std::vector<MetricSeries>& series) {
  std::set<std::string> keys, params;
  for (const auto& s : series)
    for (const auto& kv : s) keys.insert(kv.first);
  for (const auto& r : runs)
    for (const auto& kv : r.params) params.insert(kv.first);
  std::string h = R"(<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>xops runs report</title>
<style>
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:24px;color:#222}
h1{font-size:20px} table{border-collapse:collapse;margin:12px 0} td,th{border:1px solid #ccc;padding:4px 8px;font-size:13px}
th{background:#f4f4f4;text-align:left} .chart{border:1px solid #ddd;margin:8px 8px 8px 0;background:#fff}
.grid{stroke:#eee} .tick{font-size:11px;fill:#555} .title{font-size:14px;font-weight:600;fill:#222}
.swatch{display:inline-block;width:12px;height:12px;border-radius:2px;margin-right:6px;vertical-align:middle}
code{font-size:12px}
</style></head><body>
<h1>xops runs report</h1>
<table><tr><th>run</th><th>name</th><th>status</th><th>git commit</th>)";
  for (const auto& p : params) h += "<th>params." + html_escape(p) + "</th>";
  for (const auto& k : keys) h += "<th>" + html_escape(k) + " (last)</th>";
  h += "</tr>\n";
  for (size_t i = 0; i < runs.size(); ++i) {
    const auto& r = runs[i];
    h += fmt::format(R"(<tr><td><span class="swatch" style="background:{}"></span><code>{}</code></td><td>{}</td><td>{}</td><td><code>{}{}</code></td>)",
                     kColors[i % 8], html_escape(r.id), html_escape(r.name), html_escape(r.status),
                     html_escape(r.git_commit.substr(0, 12)), r.git_dirty ? "+dirty" : "");
    for (const auto& p : params) {
      auto it = r.params.find(p);
      h += "<td>" + (it == r.params.end() ? std::string() : html_escape(it->second)) + "</td>";
    }
    for (const auto& k : keys) {
      std::string v;
      for (const auto& m : r.metrics)
        if (m.key == k) v = fmt_num(m.last);
      h += "<td>" + v + "</td>";
    }
    h += "</tr>\n";
  }
  h += "</table>\n<div>\n";
  for (const auto& k : keys) h += chart(k, runs, series);
  h += "</div>\n</body></html>\n";
  return h;
}

}  // namespace xops
