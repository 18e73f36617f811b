#pragma once
// Tables: aligned columns (bold header, optional per-cell colour) on a TTY; tab-separated
// rows with a header line when piped, so `cut -f` and `awk -F'\t'` work.
#include <string>
#include <vector>

#include "term/output.hpp"

namespace xops::cli {

class Table {
 public:
  explicit Table(std::vector<std::string> headers) : headers_(std::move(headers)) {}
  void add(std::vector<std::string> row, std::vector<Style> styles = {});
  size_t size() const { return rows_.size(); }
  // Renders to a string (tty=true: aligned with colour per `o`; false: TSV).
  std::string render(const Output& o, bool tty,
                     size_t columns = 0) const;  // columns: fit (0 = any)
  void print(const Output& o) const;

 private:
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
  std::vector<std::vector<Style>> styles_;
};

// Display width of UTF-8 text (code points; wide CJK counted as 2).
size_t display_width(const std::string& s);
// The terminal's width on stdout (TIOCGWINSZ, else $COLUMNS), 0 when unknown.
size_t terminal_columns();

}  // namespace xops::cli
