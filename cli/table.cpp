#include "cli/table.hpp"

#include <algorithm>

namespace xops::cli {

size_t display_width(const std::string& s) {
  size_t w = 0;
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    uint32_t cp = c;
    int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
    if (len > 1 && i + len <= s.size()) {
      cp = c & (0x7F >> len);
      for (int k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
    }
    bool wide = (cp >= 0x1100 && cp <= 0x115F) || (cp >= 0x2E80 && cp <= 0xA4CF) ||
                (cp >= 0xAC00 && cp <= 0xD7A3) || (cp >= 0xF900 && cp <= 0xFAFF) ||
                (cp >= 0xFF00 && cp <= 0xFF60) || (cp >= 0x1F300 && cp <= 0x1FAFF);
    w += wide ? 2 : 1;
    i += len;
  }
  return w;
}

void Table::add(std::vector<std::string> row, std::vector<Style> styles) {
  row.resize(headers_.size());
  styles.resize(headers_.size(), Style::None);
  rows_.push_back(std::move(row));
  styles_.push_back(std::move(styles));
}

static std::string tsv_escape(const std::string& s) {
  std::string o;
  for (char c : s) o += (c == '\t' || c == '\n' || c == '\r') ? ' ' : c;
  return o;
}

std::string Table::render(const Output& o, bool tty) const {
  std::string outs;
  if (!tty) {
    for (size_t i = 0; i < headers_.size(); ++i) outs += (i ? "\t" : "") + tsv_escape(headers_[i]);
    outs += '\n';
    for (const auto& r : rows_) {
      for (size_t i = 0; i < r.size(); ++i) outs += (i ? "\t" : "") + tsv_escape(r[i]);
      outs += '\n';
    }
    return outs;
  }
  std::vector<size_t> width(headers_.size());
  for (size_t i = 0; i < headers_.size(); ++i) width[i] = display_width(headers_[i]);
  for (const auto& r : rows_)
    for (size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], display_width(r[i]));
  auto cell = [&](const std::string& s, size_t i, Style st, bool last) {
    std::string pad = last ? "" : std::string(width[i] - display_width(s) + 2, ' ');
    return o.paint(s, st) + pad;
  };
  for (size_t i = 0; i < headers_.size(); ++i)
    outs += cell(headers_[i], i, Style::Bold, i + 1 == headers_.size());
  outs += '\n';
  for (size_t r = 0; r < rows_.size(); ++r) {
    for (size_t i = 0; i < headers_.size(); ++i)
      outs += cell(rows_[r][i], i, styles_[r][i], i + 1 == headers_.size());
    outs += '\n';
  }
  return outs;
}

void Table::print(const Output& o) const {
  auto s = render(o, o.stdout_tty());
  if (!s.empty() && s.back() == '\n') s.pop_back();
  o.line(s);
}

}  // namespace xops::cli
