#include "term/table.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>

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

// The longest prefix of `s` that fits `w` columns minus one, plus "…" (whole characters only).
static std::string clip(const std::string& s, size_t w) {
  if (display_width(s) <= w) return s;
  std::string out;
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
    auto next = s.substr(i, len);
    if (display_width(out + next) + 1 > w) break;
    out += next;
    i += len;
  }
  return out + "\u2026";
}

std::string Table::render(const Output& o, bool tty, size_t columns) const {
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
  // On a terminal narrower than the table, the widest columns give way (down to 8 columns
  // each) and their cells end in "…"; piped output (TSV) is never cut.
  if (columns > 0) {
    auto total = [&] {
      size_t t = 0;
      for (auto w : width) t += w + 2;
      return t - 2;
    };
    while (total() > columns) {
      auto widest = std::max_element(width.begin(), width.end());
      if (*widest <= 8) break;
      --*widest;
    }
  }
  auto cell = [&](const std::string& raw, size_t i, Style st, bool last) {
    auto s = clip(raw, width[i]);
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

size_t terminal_columns() {
  struct winsize ws {};
  if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  if (const char* c = std::getenv("COLUMNS")) return static_cast<size_t>(std::max(0, std::atoi(c)));
  return 0;
}

void Table::print(const Output& o) const {
  auto s = render(o, o.stdout_tty(), o.stdout_tty() ? terminal_columns() : 0);
  if (!s.empty() && s.back() == '\n') s.pop_back();
  o.line(s);
}

}  // namespace xops::cli
