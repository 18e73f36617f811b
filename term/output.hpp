#pragma once
// Terminal I/O: stdout carries data only; progress, logs, warnings and hints go to stderr.
// On a TTY: colour (unless NO_COLOR / --color never). Piped: plain text, no colour.
#include <nlohmann/json_fwd.hpp>

#include <string>
#include <string_view>

namespace xops::cli {

enum class Style { None, Bold, Dim, Red, Green, Yellow, Blue, Cyan };

struct OutputOptions {
  bool json = false;
  bool quiet = false;
  int verbosity = 0;
  std::string color = "auto";  // auto | always | never
};

class Output {
 public:
  void configure(const OutputOptions& o);
  const OutputOptions& options() const { return opts_; }
  bool json() const { return opts_.json; }
  bool stdout_tty() const { return stdout_tty_; }
  bool stderr_tty() const { return stderr_tty_; }
  bool color_stdout() const { return color_stdout_; }
  bool color_stderr() const { return color_stderr_; }

  // Data on stdout (one line each call).
  void line(std::string_view s) const;
  void print_json(const nlohmann::json& j) const;
  bool printed_json() const { return printed_json_; }
  // Messages on stderr.
  void info(std::string_view s) const;                // hidden by -q
  void verbose(int level, std::string_view s) const;  // shown with -v (level 1) / -vv (2)
  void warn(std::string_view s) const;                // always shown
  void error(std::string_view message, std::string_view hint) const;

  std::string paint(std::string_view s, Style st, bool for_stderr = false) const;

 private:
  OutputOptions opts_;
  bool stdout_tty_ = false, stderr_tty_ = false;
  bool color_stdout_ = false, color_stderr_ = false;
  mutable bool printed_json_ = false;
};

Output& out();  // the process-wide output

}  // namespace xops::cli
