#include "term/output.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>

namespace xops::cli {

Output& out() {
  static Output o;
  return o;
}

void Output::configure(const OutputOptions& o) {
  opts_ = o;
  stdout_tty_ = ::isatty(STDOUT_FILENO);
  stderr_tty_ = ::isatty(STDERR_FILENO);
  const char* no_color = std::getenv("NO_COLOR");
  bool env_off = no_color && *no_color;
  if (o.color == "always") {
    color_stdout_ = color_stderr_ = true;
  } else if (o.color == "never" || env_off) {
    color_stdout_ = color_stderr_ = false;
  } else {
    const char* term = std::getenv("TERM");
    bool dumb = term && std::string_view(term) == "dumb";
    color_stdout_ = stdout_tty_ && !dumb;
    color_stderr_ = stderr_tty_ && !dumb;
  }
}

static const char* code(Style st) {
  switch (st) {
    case Style::Bold:
      return "\033[1m";
    case Style::Dim:
      return "\033[2m";
    case Style::Red:
      return "\033[31m";
    case Style::Green:
      return "\033[32m";
    case Style::Yellow:
      return "\033[33m";
    case Style::Blue:
      return "\033[34m";
    case Style::Cyan:
      return "\033[36m";
    case Style::None:
      return "";
  }
  return "";
}

std::string Output::paint(std::string_view s, Style st, bool for_stderr) const {
  bool on = for_stderr ? color_stderr_ : color_stdout_;
  if (!on || st == Style::None) return std::string(s);
  return std::string(code(st)) + std::string(s) + "\033[0m";
}

void Output::line(std::string_view s) const {
  std::fwrite(s.data(), 1, s.size(), stdout);
  std::fputc('\n', stdout);
}

void Output::print_json(const nlohmann::json& j) const {
  printed_json_ = true;
  line(j.dump(stdout_tty_ ? 2 : -1, ' ', false, nlohmann::json::error_handler_t::replace));
}

static void to_stderr(std::string_view s) {
  std::fflush(stdout);
  std::fwrite(s.data(), 1, s.size(), stderr);
  std::fputc('\n', stderr);
}

void Output::info(std::string_view s) const {
  if (!opts_.quiet) to_stderr(s);
}

void Output::verbose(int level, std::string_view s) const {
  if (opts_.verbosity >= level) to_stderr(paint(s, Style::Dim, true));
}

void Output::warn(std::string_view s) const {
  to_stderr(paint("xops: warning: ", Style::Yellow, true) + std::string(s));
}

void Output::error(std::string_view message, std::string_view hint) const {
  to_stderr(paint("xops: error: ", Style::Red, true) + std::string(message));
  if (!hint.empty()) to_stderr(paint("hint: ", Style::Cyan, true) + std::string(hint));
}

}  // namespace xops::cli
