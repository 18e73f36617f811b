#pragma once
// Eval outputs that stream: JSONL (one line per case as it finishes), JUnit XML and HTML
// (case bodies spooled to temp files, assembled atomically at the end: failures first in HTML).
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "core/eval/html_matrix.hpp"
#include "core/eval/runner.hpp"
#include "core/util/fs.hpp"

namespace xops {

nlohmann::json case_json(const CaseResult& c);
nlohmann::json summary_json(const EvalSummary& s, const Suite& suite);
std::string xml_escape(const std::string& s);

// Where reports go; empty paths are not written. `json` is one document {summary, results}
// (promptfoo's -o results.json habit), `csv` one row per case.
struct ReportPaths {
  std::filesystem::path jsonl, junit, html, json, csv;
};
// -o FILE by extension (.json, .jsonl, .xml, .html, .csv), as promptfoo's -o; throws Usage.
void add_output_path(ReportPaths& paths, const std::filesystem::path& file);

class ReportWriters {
 public:
  explicit ReportWriters(ReportPaths paths);
  ~ReportWriters();
  void add(const CaseResult& c);
  void finish(const EvalSummary& s, const Suite& suite);

 private:
  ReportPaths p_;
  std::optional<AtomicFileWriter> jsonl_out_,
      csv_out_;  // streamed straight to their temps, renamed at the end
  std::filesystem::path junit_tmp_, html_fail_tmp_, html_pass_tmp_, json_tmp_;
  std::ofstream junit_out_, html_fail_, html_pass_, json_out_;
  bool json_first_ = true;
  HtmlMatrix matrix_;  // the HTML report's side-by-side view
};

}  // namespace xops
