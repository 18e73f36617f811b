// The text metrics behind levenshtein, rouge-n, rouge-l and bleu assertions (promptfoo's
// formulas), and the JSON objects contains-json finds in an output.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <sstream>

#include "core/error.hpp"
#include "core/eval/assertions.hpp"
#include "core/util/strings.hpp"
#include "core/util/text_distance.hpp"

namespace xops {

namespace {

std::vector<std::string> words(const std::string& s) {
  std::vector<std::string> out;
  std::string w;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c >= 0x80) {
      w += static_cast<char>(std::tolower(c));
    } else if (!w.empty()) {
      out.push_back(w);
      w.clear();
    }
  }
  if (!w.empty()) out.push_back(w);
  return out;
}

}  // namespace

static std::u16string utf16_units(const std::string& s);

size_t levenshtein(const std::string& a, const std::string& b) {
  return edit_distance(utf16_units(a), utf16_units(b));
}

double rouge_l(const std::string& cand, const std::string& ref) {
  auto c = words(cand), r = words(ref);
  if (c.empty() || r.empty()) return c.empty() && r.empty() ? 1.0 : 0.0;
  // Two rows of the LCS table, not the whole table: outputs can be long.
  if (static_cast<double>(c.size()) * static_cast<double>(r.size()) > 4e8)
    throw runtime_error(
        fmt::format("rouge-l: texts of {} and {} words are too long to score", c.size(), r.size()));
  std::vector<int> prev(r.size() + 1, 0), cur(r.size() + 1, 0);
  for (size_t i = 1; i <= c.size(); ++i) {
    for (size_t j = 1; j <= r.size(); ++j)
      cur[j] = c[i - 1] == r[j - 1] ? prev[j - 1] + 1 : std::max(prev[j], cur[j - 1]);
    std::swap(prev, cur);
  }
  double lcs = prev[r.size()];
  double p = lcs / c.size(), rc = lcs / r.size();
  return p + rc > 0 ? 2 * p * rc / (p + rc) : 0;
}

static std::map<std::vector<std::string>, int> ngrams(const std::vector<std::string>& w, int n) {
  std::map<std::vector<std::string>, int> m;
  for (size_t i = 0; i + n <= w.size(); ++i)
    ++m[std::vector<std::string>(w.begin() + i, w.begin() + i + n)];
  return m;
}

// A Penn Treebank-style tokenizer, the common cases of js-rouge's treeBankTokenize (which
// promptfoo's rouge-n uses): punctuation split from words, contractions split ("do n't").
std::vector<std::string> treebank_tokens(const std::string& text) {
  std::string t;
  for (char c : text) t += std::isspace(static_cast<unsigned char>(c)) ? ' ' : c;
  std::string out;
  auto spaced = [&](const std::string& x) { out += " " + x + " "; };
  for (size_t i = 0; i < t.size(); ++i) {
    char c = t[i];
    if (c == '"')
      spaced(i == 0 || t[i - 1] == ' ' || t[i - 1] == '(' || t[i - 1] == '[' ? "``" : "''");
    else if (t.compare(i, 3, "...") == 0)
      spaced("..."), i += 2;
    else if ((c == ':' || c == ',') &&
             !(i + 1 < t.size() && std::isdigit(static_cast<unsigned char>(t[i + 1]))))
      spaced(std::string(1, c));
    else if (std::strchr(";@#$%&?![](){}<>", c) && c)
      spaced(std::string(1, c));
    else if (t.compare(i, 2, "--") == 0)
      spaced("--"), ++i;
    else
      out += c;
  }
  // A final period (not of an abbreviation like "U.S.") is its own token.
  auto end = out.find_last_not_of(" ");
  if (end != std::string::npos && out[end] == '.' && end > 0 && out[end - 1] != '.')
    out.insert(end, " ");
  std::vector<std::string> raw, toks;
  std::string w;
  for (char c : out + " ") {
    if (c == ' ') {
      if (!w.empty()) raw.push_back(w), w.clear();
    } else {
      w += c;
    }
  }
  for (auto& x : raw) {
    // Contractions: 's 'm 'd 'll 're 've n't split off the word; a trailing ' after a word too.
    auto lowered = ascii_lower(x);
    bool split = false;
    for (const char* suf : {"n't", "'ll", "'re", "'ve", "'s", "'m", "'d"}) {
      std::string sfx = suf;
      if (lowered.size() > sfx.size() &&
          lowered.compare(lowered.size() - sfx.size(), sfx.size(), sfx) == 0) {
        toks.push_back(x.substr(0, x.size() - sfx.size()));
        toks.push_back(x.substr(x.size() - sfx.size()));
        split = true;
        break;
      }
    }
    if (!split) {
      if (x.size() > 1 && x.back() == '\'')
        toks.push_back(x.substr(0, x.size() - 1)), toks.push_back("'");
      else
        toks.push_back(x);
    }
  }
  return toks;
}

// promptfoo's rouge-n (src/assertions/rouge.ts): unigram F1 of lower-cased treebank tokens.
double rouge_n(const std::string& cand, const std::string& ref, int n) {
  auto c = treebank_tokens(ascii_lower(cand)), r = treebank_tokens(ascii_lower(ref));
  if (static_cast<int>(c.size()) < n || static_cast<int>(r.size()) < n) return 0;
  auto cg = ngrams(c, n), rg = ngrams(r, n);
  double overlap = 0;
  for (const auto& [g, k] : cg) {
    auto it = rg.find(g);
    if (it != rg.end()) overlap += std::min(k, it->second);
  }
  if (overlap == 0) return 0;
  double p = overlap / static_cast<double>(c.size() - n + 1),
         rc = overlap / static_cast<double>(r.size() - n + 1);
  return p == rc ? p : 2 * p * rc / (p + rc);
}

// promptfoo's bleu (src/assertions/bleu.ts): BLEU-4 against the best of several references,
// uniform weights over the n-gram orders the candidate has, 1e-7 for a zero precision, the
// brevity penalty against the reference closest in length.
double bleu(const std::string& cand, const std::vector<std::string>& refs) {
  auto split = [](const std::string& s) {
    std::vector<std::string> w;
    std::string cur;
    for (char ch : ascii_lower(s) + " ") {
      if (std::isspace(static_cast<unsigned char>(ch))) {
        if (!cur.empty()) w.push_back(cur), cur.clear();
      } else {
        cur += ch;
      }
    }
    return w;
  };
  if (cand.find_first_not_of(" \t\r\n") == std::string::npos || refs.empty()) return 0;
  auto c = split(cand);
  std::vector<std::vector<std::string>> rs;
  for (const auto& r : refs) rs.push_back(split(r));
  size_t closest = rs[0].size();
  for (const auto& r : rs) {
    auto d = [&](size_t len) { return len > c.size() ? len - c.size() : c.size() - len; };
    if (d(r.size()) < d(closest) || (d(r.size()) == d(closest) && r.size() < closest))
      closest = r.size();
  }
  double weight_sum = 0, log_sum = 0;
  for (int n = 1; n <= 4; ++n) {
    if (static_cast<size_t>(n) > c.size()) continue;
    auto cg = ngrams(c, n);
    double total = static_cast<double>(c.size() - n + 1), best = 0;
    for (const auto& r : rs) {
      auto rg = ngrams(r, n);
      double clipped = 0;
      for (const auto& [g, k] : cg) {
        auto it = rg.find(g);
        if (it != rg.end()) clipped += std::min(k, it->second);
      }
      best = std::max(best, clipped);
    }
    double p = best / total;
    weight_sum += 0.25;
    log_sum += 0.25 * std::log(p == 0 ? 1e-7 : p);
  }
  if (weight_sum == 0) return 0;
  double bp = c.size() > closest
                  ? 1.0
                  : std::exp(1.0 - static_cast<double>(closest) / static_cast<double>(c.size()));
  return bp * std::exp(log_sum / weight_sum);
}

double bleu(const std::string& cand, const std::string& ref) {
  return bleu(cand, std::vector<std::string>{ref});
}

// promptfoo's extractJsonObjects: every balanced {...} in the text that parses, left to right.
std::vector<nlohmann::json> extract_json_objects(const std::string& s) {
  std::vector<nlohmann::json> out;
  const size_t max_len = 100000;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '{') continue;
    int open = 1, close = 0;
    for (size_t j = i + 1; j < std::min(i + max_len, s.size() + 1) && open > close;) {
      if (s[j] == '{') ++open;
      if (s[j] == '}') ++close;
      ++j;
      if (open == close || j == s.size() || j == i + max_len) {
        auto candidate = s.substr(i, j - i);
        if (open > close) candidate += std::string(static_cast<size_t>(open - close), '}');
        try {
          auto v = nlohmann::json::parse(candidate, nullptr, true, true);
          if (v.is_object() || v.is_array()) {
            out.push_back(std::move(v));
            i = j - 1;
            break;
          }
        } catch (const nlohmann::json::exception&) {
          if (open == close) break;
        }
      }
      if (j >= s.size()) break;
    }
  }
  return out;
}

// JavaScript's string as UTF-16 code units, for distances that count what JavaScript counts.
static std::u16string utf16_units(const std::string& s) {
  std::u16string out;
  for (size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
    if (i + n > s.size()) n = 1;
    unsigned cp = n == 1 ? c : n == 2 ? (c & 0x1F) : n == 3 ? (c & 0x0F) : (c & 0x07);
    for (size_t k = 1; k < n; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
    if (cp >= 0x10000) {
      cp -= 0x10000;
      out += static_cast<char16_t>(0xD800 + (cp >> 10));
      out += static_cast<char16_t>(0xDC00 + (cp & 0x3FF));
    } else {
      out += static_cast<char16_t>(cp);
    }
    i += n;
  }
  return out;
}

}  // namespace xops
