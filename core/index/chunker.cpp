#include "core/index/chunker.hpp"

#include <unordered_map>

#include "core/error.hpp"

namespace xops::index {

namespace {
bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
}  // namespace

std::vector<Span> chunk_text(std::string_view text, const ChunkSpec& spec,
                             const TokenCounter& count) {
  if (spec.tokens < 0 || spec.overlap < 0 || (spec.tokens > 0 && spec.overlap >= spec.tokens))
    throw usage_error(
        fmt::format("chunks of {} tokens with {} overlapping", spec.tokens, spec.overlap),
        "--overlap must be smaller than --chunk");
  struct Word {
    uint64_t start, end;
    size_t tokens;
  };
  std::vector<Word> words;
  std::unordered_map<std::string_view, size_t> cache;
  for (size_t i = 0; i < text.size();) {
    while (i < text.size() && is_space(text[i])) ++i;
    size_t s = i;
    while (i < text.size() && !is_space(text[i])) ++i;
    if (i == s) break;
    auto w = text.substr(s, i - s);
    auto it = cache.find(w);
    size_t n = it != cache.end() ? it->second
                                 : cache.emplace(w, std::max<size_t>(1, count(w))).first->second;
    words.push_back({s, i, n});
  }
  std::vector<Span> out;
  if (words.empty()) return out;
  if (spec.tokens == 0) {
    size_t total = 0;
    for (const auto& w : words) total += w.tokens;
    out.push_back({words.front().start, words.back().end, total});
    return out;
  }
  const size_t limit = static_cast<size_t>(spec.tokens),
               overlap = static_cast<size_t>(spec.overlap);
  size_t first = 0;
  while (first < words.size()) {
    size_t last = first, tokens = words[first].tokens;
    while (last + 1 < words.size() && tokens + words[last + 1].tokens <= limit)
      tokens += words[++last].tokens;
    out.push_back({words[first].start, words[last].end, tokens});
    if (last + 1 >= words.size()) break;
    // The next chunk starts `overlap` tokens back from this one's end, always past its start.
    size_t next = last + 1, back = 0;
    while (next > first + 1 && back + words[next - 1].tokens <= overlap)
      back += words[--next].tokens;
    first = next;
  }
  return out;
}

}  // namespace xops::index
