#pragma once
// Eval outputs that stream: JSONL (one line per case as it finishes), JUnit XML and HTML
// (case bodies spooled to temp files, assembled atomically at the end: failures first in HTML).
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "core/eval/runner.hpp"
#include "core/util/fs.hpp"

namespace xops {

nlohmann::json case_json(const CaseResult& c);
nlohmann::json summary_json(const EvalSummary& s, const Suite& suite);
std::string xml_escape(const std::string& s);

class ReportWriters {
 public:
  ReportWriters(std::filesystem::path jsonl, std::filesystem::path junit, std::filesystem::path html);
  ~ReportWriters();
  void add(const CaseResult& c);
  void finish(const EvalSummary& s, const Suite& suite);

 private:
  std::filesystem::path jsonl_, junit_, html_;
  std::optional<AtomicFileWriter> jsonl_out_;  // streamed straight to its temp, renamed at the end
  std::filesystem::path junit_tmp_, html_fail_tmp_, html_pass_tmp_;
  std::ofstream junit_out_, html_fail_, html_pass_;
};

}  // namespace xops
