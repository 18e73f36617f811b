#include "core/eval/report_writers.hpp"

#include <fmt/format.h>

#include "core/error.hpp"
#include "core/tracking/report_html.hpp"
#include "core/util/fs.hpp"

namespace xops {

std::string xml_escape(const std::string& s) {
  std::string o;
  for (unsigned char c : s) {
    switch (c) {
      case '<':
        o += "&lt;";
        break;
      case '>':
        o += "&gt;";
        break;
      case '&':
        o += "&amp;";
        break;
      case '"':
        o += "&quot;";
        break;
      case '\'':
        o += "&apos;";
        break;
      default:
        if (c < 0x20 && c != '\n' && c != '\t' && c != '\r')
          o += fmt::format("&#x{:x};", c == 0 ? 0xfffd : c);
        else
          o += static_cast<char>(c);
    }
  }
  return o;
}

nlohmann::json case_json(const CaseResult& c) {
  nlohmann::json asserts = nlohmann::json::array();
  for (const auto& [a, r] : c.asserts) {
    nlohmann::json one = {
        {"type", a.type}, {"pass", r.pass}, {"score", r.score}, {"reason", r.reason}};
    if (r.skipped) one["skipped"] = true;
    if (!r.detail.is_null()) one["detail"] = r.detail;
    asserts.push_back(std::move(one));
  }
  return {{"test", c.index},
          {"description", c.test_description},
          {"prompt", c.prompt_label},
          {"provider", c.provider_label},
          {"repeat", c.repeat},
          {"vars", c.vars},
          {"rendered_prompt", c.rendered_prompt},
          {"output", c.output},
          {"pass", c.pass},
          {"score", c.score},
          {"latency_ms", c.latency_ms},
          {"cached", c.cached},
          {"error", c.error.empty() ? nlohmann::json(nullptr) : nlohmann::json(c.error)},
          {"named_scores", c.named_scores},
          {"retrieval", c.retrieval},
          {"asserts", asserts}};
}

nlohmann::json summary_json(const EvalSummary& s, const Suite& suite) {
  nlohmann::json providers = nlohmann::json::array();
  for (const auto& p : s.providers)
    providers.push_back({{"provider", p.label},
                         {"cases", p.cases},
                         {"passed", p.passed},
                         {"failed", p.failed},
                         {"errors", p.errors},
                         {"pass_rate", p.cases ? double(p.passed) / p.cases : 0.0},
                         {"mean_latency_ms", p.cases ? p.latency_ms_total / p.cases : 0.0}});
  nlohmann::json metrics = nlohmann::json::object();
  for (const auto& [k, v] : s.metrics) metrics[k] = v.second ? v.first / v.second : 0.0;
  nlohmann::json derived = nlohmann::json::array();
  for (const auto& d : s.derived)
    derived.push_back(
        {{"name", d.name},
         {"prompt", d.prompt},
         {"provider", d.provider},
         {"value", d.error.empty() ? nlohmann::json(d.value) : nlohmann::json(nullptr)},
         {"error", d.error.empty() ? nlohmann::json(nullptr) : nlohmann::json(d.error)}});
  nlohmann::json pairwise = nlohmann::json::array();
  auto stats_json = [](const PairwiseStats& st) {
    auto [low, high] = st.interval();
    auto n = static_cast<double>(std::max<size_t>(1, st.n()));
    return nlohmann::json{{"wins", st.wins},
                          {"ties", st.ties},
                          {"losses", st.losses},
                          {"win_rate", st.win_rate()},
                          {"win_rate_95", {low, high}},
                          {"sign_test_p", st.sign_test_p()},
                          {"mean_candidate_chars", st.candidate_chars / n},
                          {"mean_baseline_chars", st.baseline_chars / n}};
  };
  for (const auto& p : s.pairwise) {
    auto row = stats_json(p.stats);
    row["provider"] = p.provider;
    row["baseline"] = p.baseline;
    nlohmann::json groups = nlohmann::json::object();
    for (const auto& [name, st] : p.by_group) groups[name] = stats_json(st);
    row["by_group"] = groups;
    pairwise.push_back(row);
  }
  nlohmann::json baseline = nlohmann::json::array();
  auto refs = [](const std::vector<CaseRef>& cs) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& c : cs)
      out.push_back({{"test", c.test},
                     {"description", c.description},
                     {"prompt", c.prompt},
                     {"repeat", c.repeat}});
    return out;
  };
  for (const auto& d : s.against_baseline)
    baseline.push_back({{"provider", d.provider},
                        {"baseline", d.baseline},
                        {"compared", d.compared},
                        {"regressions", refs(d.regressions)},
                        {"fixes", refs(d.fixes)}});
  return {{"derived_metrics", derived},
          {"against_baseline", baseline},
          {"pairwise", pairwise},
          {"suite", suite.file.string()},
          {"suite_sha256", suite.content_sha256},
          {"cases", s.cases},
          {"passed", s.passed},
          {"failed", s.failed},
          {"errors", s.errors},
          {"cached", s.cached},
          {"pass_rate", s.pass_rate()},
          {"seconds", s.seconds},
          {"providers", providers},
          {"metrics", metrics},
          {"flaky", s.flaky},
          {"thresholds_met", s.thresholds_met},
          {"threshold_failures", s.threshold_failures},
          {"content_hashes", s.content_hashes}};
}

void add_output_path(ReportPaths& paths, const std::filesystem::path& file) {
  auto ext = file.extension().string();
  for (auto& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::filesystem::path* slot = ext == ".json"                    ? &paths.json
                                : ext == ".jsonl"                 ? &paths.jsonl
                                : ext == ".xml"                   ? &paths.junit
                                : ext == ".html" || ext == ".htm" ? &paths.html
                                : ext == ".csv"                   ? &paths.csv
                                                                  : nullptr;
  if (!slot)
    throw usage_error(fmt::format("-o {}: unknown report type '{}'", file.string(), ext),
                      "use .json (summary and results), .jsonl, .xml (JUnit), .html or .csv");
  if (!slot->empty() && *slot != file)
    throw usage_error(fmt::format("-o {}: a {} report is already written to {}", file.string(), ext,
                                  slot->string()));
  *slot = file;
}

namespace {
std::string csv_cell(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string o = "\"";
  for (char c : s) o += c == '"' ? std::string("\"\"") : std::string(1, c);
  return o + "\"";
}
}  // namespace

ReportWriters::ReportWriters(ReportPaths paths) : p_(std::move(paths)) {
  auto& jsonl_ = p_.jsonl;
  auto& junit_ = p_.junit;
  auto& html_ = p_.html;
  auto open = [](const std::filesystem::path& target, std::filesystem::path& tmp,
                 std::ofstream& out, const char* tag) {
    if (target.empty()) return;
    // Parts beside the report (same disk); beside a device or pipe (/dev/null), in $TMPDIR.
    auto beside = renamed_output(target) ? std::filesystem::absolute(target)
                                         : std::filesystem::temp_directory_path() / "xops-report";
    tmp = temp_path_beside(beside.string() + tag);
    out.open(tmp, std::ios::binary);
    if (!out) throw runtime_error(fmt::format("cannot write {}", target.string()));
  };
  if (!jsonl_.empty()) jsonl_out_.emplace(std::filesystem::absolute(jsonl_));
  open(junit_, junit_tmp_, junit_out_, "");
  open(html_, html_fail_tmp_, html_fail_, ".fail");
  open(html_, html_pass_tmp_, html_pass_, ".pass");
  open(p_.json, json_tmp_, json_out_, ".results");
  if (!p_.csv.empty()) {
    csv_out_.emplace(std::filesystem::absolute(p_.csv));
    std::string head =
        "test,description,prompt,provider,repeat,vars,output,pass,score,latency_ms,error,reason\n";
    csv_out_->write(head.data(), head.size());
  }
}

ReportWriters::~ReportWriters() {
  std::error_code ec;
  for (const auto& p : {junit_tmp_, html_fail_tmp_, html_pass_tmp_, json_tmp_})
    if (!p.empty()) std::filesystem::remove(p, ec);
}

void ReportWriters::add(const CaseResult& c) {
  for (auto* o : {&junit_out_, &html_fail_, &html_pass_, &json_out_})
    if (o->is_open() && !*o) throw runtime_error("cannot write the eval reports (disk full?)");
  if (jsonl_out_ || json_out_.is_open()) {  // AtomicFileWriter checks each write itself
    auto line = case_json(c).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    if (jsonl_out_) {
      line += '\n';
      jsonl_out_->write(line.data(), line.size());
      line.pop_back();
    }
    if (json_out_.is_open()) json_out_ << (json_first_ ? "\n" : ",\n") << line;
    json_first_ = false;
  }
  if (csv_out_) {
    std::string why;
    for (const auto& [a, r] : c.asserts)
      if (!r.pass) why += (why.empty() ? "" : "; ") + a.type + ": " + r.reason;
    auto row = fmt::format("{},{},{},{},{},{},{},{},{},{:.1f},{},{}\n", c.index,
                           csv_cell(c.test_description), csv_cell(c.prompt_label),
                           csv_cell(c.provider_label), c.repeat,
                           csv_cell(nlohmann::json(c.vars).dump(
                               -1, ' ', false, nlohmann::json::error_handler_t::replace)),
                           csv_cell(c.output), c.pass ? "true" : "false", c.score, c.latency_ms,
                           csv_cell(c.error), csv_cell(why));
    csv_out_->write(row.data(), row.size());
  }
  std::string name = fmt::format(
      "{}{} [{}]",
      c.test_description.empty() ? fmt::format("test {}", c.index + 1) : c.test_description,
      c.repeat ? fmt::format(" #{}", c.repeat + 1) : "", c.prompt_label);
  if (junit_out_.is_open()) {
    junit_out_ << fmt::format("  <testcase classname=\"{}\" name=\"{}\" time=\"{:.3f}\">\n",
                              xml_escape(c.provider_label), xml_escape(name),
                              c.latency_ms / 1000.0);
    if (!c.error.empty()) {
      junit_out_ << fmt::format("    <error message=\"{}\"/>\n", xml_escape(c.error));
    } else if (!c.pass) {
      std::string why;
      for (const auto& [a, r] : c.asserts)
        if (!r.pass) why += a.type + ": " + r.reason + "\n";
      junit_out_ << fmt::format("    <failure message=\"{}\">{}</failure>\n",
                                xml_escape(why.substr(0, why.find('\n'))),
                                xml_escape("output: " + c.output + "\n" + why));
    }
    junit_out_ << "  </testcase>\n";
  }
  if (html_fail_.is_open()) {
    matrix_.add(c);
    std::string why;
    for (const auto& [a, r] : c.asserts) {
      why += fmt::format("<div class=\"{}\">{} {}: {}</div>", r.pass ? "ok" : "bad",
                         r.skipped ? "–"
                         : r.pass  ? "✓"
                                   : "✗",
                         html_escape(a.type), html_escape(r.reason));
      if (r.detail.is_object() && r.detail.contains("baseline_output"))
        why += fmt::format("<div>baseline {}:<pre>{}</pre></div>",
                           html_escape(r.detail.value("baseline", "")),
                           html_escape(r.detail.value("baseline_output", "")));
    }
    if (!c.error.empty()) why += "<div class=\"bad\">error: " + html_escape(c.error) + "</div>";
    auto row = fmt::format(
        "<tr "
        "class=\"{}\"><td>{}</td><td>{}</td><td><pre>{}</pre></td><td><pre>{}</pre></td><td>{}</"
        "td></tr>\n",
        c.pass ? "pass" : "fail", html_escape(name), html_escape(c.provider_label),
        html_escape(c.rendered_prompt), html_escape(c.output), why);
    (c.pass ? html_pass_ : html_fail_) << row;
  }
}

// Every report write is checked: a report that could not be written is an error, never a
// silently truncated file. (Copying an empty part with `dst << in.rdbuf()` once set failbit
// on the destination and dropped every later write, so a run with no failing case produced
// an empty HTML report.) Final files go through AtomicFileWriter: temp, fsync, rename.
namespace {
void copy_part(AtomicFileWriter& dst, const std::filesystem::path& src) {
  std::ifstream in(src, std::ios::binary);
  if (!in) throw runtime_error(fmt::format("cannot read back {}", src.string()));
  char buf[65536];
  while (in) {
    in.read(buf, sizeof buf);
    if (in.gcount() > 0) dst.write(buf, static_cast<size_t>(in.gcount()));
  }
  if (in.bad()) throw runtime_error(fmt::format("cannot read back {}", src.string()));
}
void put(AtomicFileWriter& w, const std::string& s) {
  w.write(s.data(), s.size());
}
void close_checked(std::ofstream& out, const std::filesystem::path& target) {
  out.flush();
  bool ok = static_cast<bool>(out);
  out.close();
  if (!ok || out.fail())
    throw runtime_error(fmt::format("cannot write {} (disk full?)", target.string()));
}
}  // namespace

void ReportWriters::finish(const EvalSummary& s, const Suite& suite) {
  const auto& junit_ = p_.junit;
  const auto& html_ = p_.html;
  if (jsonl_out_) jsonl_out_->commit();
  if (csv_out_) csv_out_->commit();
  if (json_out_.is_open()) {
    close_checked(json_out_, p_.json);
    AtomicFileWriter out(std::filesystem::absolute(p_.json));
    put(out,
        "{\"summary\": " +
            summary_json(s, suite).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) +
            ",\n\"results\": [");
    copy_part(out, json_tmp_);
    put(out, "\n]}\n");
    out.commit();
  }
  if (junit_out_.is_open()) {
    close_checked(junit_out_, junit_);
    {
      AtomicFileWriter out(std::filesystem::absolute(junit_));
      put(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
      put(out, fmt::format("<testsuites name=\"xops eval\" tests=\"{}\" failures=\"{}\" "
                           "errors=\"{}\" time=\"{:.3f}\">\n",
                           s.cases, s.failed, s.errors, s.seconds));
      put(out, fmt::format(
                   "<testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" "
                   "time=\"{:.3f}\">\n",
                   xml_escape(suite.description.empty() ? suite.file.string() : suite.description),
                   s.cases, s.failed, s.errors, s.seconds));
      copy_part(out, junit_tmp_);
      put(out, "</testsuite>\n</testsuites>\n");
      out.commit();
    }
  }
  if (html_fail_.is_open()) {
    close_checked(html_fail_, html_);
    close_checked(html_pass_, html_);
    {
      AtomicFileWriter out(std::filesystem::absolute(html_));
      put(out,
          "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>xops "
          "eval</title><style>"
          "body{font-family:system-ui,sans-serif;margin:24px}table{border-collapse:collapse;width:"
          "100%}"
          "td,th{border:1px solid #ccc;padding:4px "
          "8px;font-size:13px;vertical-align:top}th{background:#f4f4f4}"
          "pre{white-space:pre-wrap;margin:0}tr.fail{background:#fff3f3}.bad{color:#b00}.ok{color:#"
          "070}"
          "td.fail{background:#fff3f3}.verdict{font-weight:bold}.verdict.loss{color:#b00}"
          ".verdict.win{color:#070}"
          "#mx-reg:checked~table.matrix tr.row:not(.regression),"
          "#mx-loss:checked~table.matrix tr.row:not(.loss),"
          "#mx-fix:checked~table.matrix tr.row:not(.fix){display:none}"
          "</style></head><body>\n");
      put(out, fmt::format(
                   "<h1>{}</h1><p>{} cases: {} passed, {} failed, {} errors; pass rate {:.1f}%; "
                   "{}</p>\n",
                   html_escape(suite.description.empty() ? suite.file.string() : suite.description),
                   s.cases, s.passed, s.failed, s.errors, 100 * s.pass_rate(),
                   s.thresholds_met ? "thresholds met" : "thresholds NOT met"));
      put(out, matrix_.render(s.baseline));
      put(out,
          "<h2>Cases</h2><table><tr><th>test</th><th>provider</th><th>prompt</th><th>output</"
          "th><th>assertions</th></tr>\n");
      copy_part(out, html_fail_tmp_);
      copy_part(out, html_pass_tmp_);
      put(out, "</table></body></html>\n");
      out.commit();
    }
  }
}

}  // namespace xops
