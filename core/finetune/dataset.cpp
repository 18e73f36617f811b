#include "core/finetune/dataset.hpp"
#include "core/util/json_error.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <cstring>
#include <random>

#include "core/error.hpp"
#include "core/store/sha256.hpp"
#include "core/util/fs.hpp"

namespace xops {

namespace {

void append(Example& e, const std::vector<int32_t>& ids, bool counts) {
  e.ids.insert(e.ids.end(), ids.begin(), ids.end());
  e.mask.insert(e.mask.end(), ids.size(), counts ? 1 : 0);
}

Example chat_example(const nlohmann::json& messages, const Tokenizer& tok, int32_t eos, const std::string& where) {
  // The default template: "<|role|>\ncontent\n" per message; the model learns the assistant's
  // turns (their content and the end token), never the user's or the system's.
  Example e;
  if (!messages.is_array()) throw runtime_error(where + ": 'messages' must be a list");
  for (const auto& m : messages) {
    auto role = m.at("role").get<std::string>();
    auto content = m.at("content").get<std::string>();
    append(e, tok.encode("<|" + role + "|>\n"), false);
    bool assistant = role == "assistant";
    append(e, tok.encode(content), assistant);
    if (assistant) append(e, {eos}, true);
    append(e, tok.encode("\n"), false);
  }
  return e;
}

}  // namespace

std::vector<Example> read_examples(const std::filesystem::path& file, const std::string& format, const Tokenizer& tok,
                                   int32_t eos, const std::string& chat_template, std::string* detected) {
  if (chat_template != "default")
    throw usage_error(fmt::format("chat_template '{}' is not supported", chat_template), "use chat_template: default");
  std::vector<Example> out;
  auto text = read_file(file);
  auto ext = file.extension().string();
  bool jsonl = ext == ".jsonl" || ext == ".json" || format == "prompt_completion" || format == "chat";
  if (format == "text" || !jsonl) {
    if (detected) *detected = "text";
    Example e;
    append(e, tok.encode(text), true);
    out.push_back(std::move(e));
    return out;
  }
  std::string kind;
  size_t pos = 0, line_no = 0;
  while (pos < text.size()) {
    auto end = text.find('\n', pos);
    std::string line = text.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
    pos = end == std::string::npos ? text.size() : end + 1;
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto where = fmt::format("{}:{}", file.string(), line_no);
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& ex) {
      throw runtime_error(fmt::format("{}: not JSON: {}", where, json_error(ex)),
                          "each line must be one JSON object");
    }
    std::string k = j.contains("messages") ? "chat" : j.contains("prompt") ? "prompt_completion" : j.contains("text") ? "text" : "";
    if (k.empty())
      throw runtime_error(fmt::format("{}: needs 'text', 'prompt'/'completion' or 'messages'", where));
    if (format != "auto" && format != k)
      throw runtime_error(fmt::format("{}: a {} record in a {} data set", where, k, format));
    if (kind.empty()) kind = k;
    if (k != kind) throw runtime_error(fmt::format("{}: mixes {} and {} records", where, kind, k));
    try {
      Example e;
      if (k == "text") {
        append(e, tok.encode(j["text"].get<std::string>()), true);
        append(e, {eos}, true);
      } else if (k == "prompt_completion") {
        append(e, tok.encode(j["prompt"].get<std::string>()), false);
        append(e, tok.encode(j.at("completion").get<std::string>()), true);
        append(e, {eos}, true);
      } else {
        e = chat_example(j["messages"], tok, eos, where);
      }
      out.push_back(std::move(e));
    } catch (const nlohmann::json::exception& ex) {
      throw runtime_error(fmt::format("{}: {}", where, json_error(ex)));
    }
  }
  if (detected) *detected = kind.empty() ? "text" : kind;
  return out;
}

namespace {

TokenWindows to_windows(const std::vector<Example>& ex, int T, bool packing, int32_t eos) {
  TokenWindows w;
  w.seq_len = T;
  const size_t W = static_cast<size_t>(T) + 1;
  if (packing) {
    std::vector<int32_t> ids;
    std::vector<uint8_t> mask;
    for (const auto& e : ex) {
      ids.insert(ids.end(), e.ids.begin(), e.ids.end());
      mask.insert(mask.end(), e.mask.begin(), e.mask.end());
    }
    // Windows overlap by one token so that every token is predicted exactly once.
    for (size_t start = 0; start + W <= ids.size(); start += T) {
      w.ids.insert(w.ids.end(), ids.begin() + start, ids.begin() + start + W);
      w.mask.insert(w.mask.end(), mask.begin() + start, mask.begin() + start + W);
    }
    if (w.ids.empty() && ids.size() >= 2) {  // less than one window: pad it
      auto e = Example{ids, mask};
      e.ids.resize(W, eos);
      e.mask.resize(W, 0);
      w.ids = e.ids;
      w.mask = e.mask;
    }
    return w;
  }
  for (const auto& e : ex) {
    Example p = e;
    p.ids.resize(W, eos);  // truncate or pad; padding never counts
    p.mask.resize(W, 0);
    w.ids.insert(w.ids.end(), p.ids.begin(), p.ids.end());
    w.mask.insert(w.mask.end(), p.mask.begin(), p.mask.end());
  }
  return w;
}

void save_windows(std::string& out, const TokenWindows& w) {
  uint64_t n = w.ids.size();
  out.append(reinterpret_cast<const char*>(&n), 8);
  out.append(reinterpret_cast<const char*>(w.ids.data()), n * 4);
  out.append(reinterpret_cast<const char*>(w.mask.data()), n);
}

bool load_windows(const std::string& in, size_t& pos, TokenWindows& w, int T) {
  if (pos + 8 > in.size()) return false;
  uint64_t n;
  std::memcpy(&n, in.data() + pos, 8);
  pos += 8;
  if (pos + n * 5 > in.size()) return false;
  w.seq_len = T;
  w.ids.resize(n);
  w.mask.resize(n);
  std::memcpy(w.ids.data(), in.data() + pos, n * 4);
  pos += n * 4;
  std::memcpy(w.mask.data(), in.data() + pos, n);
  pos += n;
  return true;
}

size_t count_targets(const TokenWindows& w) {
  size_t n = 0;
  for (size_t i = 0; i < w.count(); ++i)
    for (int t = 1; t <= w.seq_len; ++t) n += w.mask[i * (w.seq_len + 1) + t];
  return n;
}

}  // namespace

PreparedData prepare_data(const FinetuneConfig& cfg, const Tokenizer& tok, int32_t eos, const std::string& tokenizer_id,
                          const std::filesystem::path& base_dir, const std::filesystem::path& cache_dir) {
  auto resolve = [&](const std::string& p) {
    std::filesystem::path path(p);
    return path.is_absolute() ? path : base_dir / path;
  };
  // The cache key covers everything that changes the tokens.
  Sha256 key;
  auto feed = [&](const std::string& s) {
    key.update(s.data(), s.size());
    key.update("\0", 1);
  };
  feed("xops-data-v1");
  feed(tokenizer_id);
  feed(std::to_string(eos));
  for (const auto& f : cfg.data.train) feed(sha256_file(resolve(f)));
  if (!cfg.data.validation.empty()) feed(sha256_file(resolve(cfg.data.validation)));
  feed(cfg.data.format);
  feed(std::to_string(cfg.data.seq_len));
  feed(cfg.data.packing ? (*cfg.data.packing ? "packed" : "padded") : "auto");
  feed(fmt::format("{}", cfg.data.val_split));
  feed(std::to_string(cfg.seed));
  feed(cfg.data.chat_template);
  PreparedData d;
  d.key = key.hex();
  auto cache_file = cache_dir / ("data-" + d.key + ".bin");
  std::error_code ec;
  if (std::filesystem::exists(cache_file, ec)) {
    auto bytes = read_file(cache_file);
    size_t pos = 0;
    uint64_t examples = 0;
    if (bytes.size() >= 8) std::memcpy(&examples, bytes.data(), 8), pos = 8;
    size_t fpos = bytes.find('\n', pos);
    if (fpos != std::string::npos) {
      d.format = bytes.substr(pos, fpos - pos);
      pos = fpos + 1;
      if (load_windows(bytes, pos, d.train, cfg.data.seq_len) && load_windows(bytes, pos, d.val, cfg.data.seq_len)) {
        d.examples = examples;
        d.from_cache = true;
        d.target_tokens = count_targets(d.train);
        return d;
      }
    }
  }
  std::vector<Example> train;
  for (const auto& f : cfg.data.train) {
    std::string detected;
    auto ex = read_examples(resolve(f), cfg.data.format, tok, eos, cfg.data.chat_template, &detected);
    if (!d.format.empty() && d.format != detected)
      throw runtime_error(fmt::format("data.train mixes {} and {} files", d.format, detected));
    d.format = detected;
    train.insert(train.end(), std::make_move_iterator(ex.begin()), std::make_move_iterator(ex.end()));
  }
  d.examples = train.size();
  std::vector<Example> val;
  if (!cfg.data.validation.empty()) {
    val = read_examples(resolve(cfg.data.validation), cfg.data.format, tok, eos, cfg.data.chat_template, nullptr);
  } else if (cfg.data.val_split > 0 && train.size() > 1) {
    // A seeded shuffle, then the last fraction is held out.
    std::vector<size_t> order(train.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::mt19937_64 rng(cfg.seed ^ 0x5eedULL);
    std::shuffle(order.begin(), order.end(), rng);
    size_t n_val = std::max<size_t>(1, static_cast<size_t>(train.size() * cfg.data.val_split));
    std::vector<Example> keep;
    for (size_t i = 0; i < order.size(); ++i) (i < order.size() - n_val ? keep : val).push_back(std::move(train[order[i]]));
    train = std::move(keep);
  }
  const bool packing = cfg.data.packing.value_or(d.format == "text");
  d.train = to_windows(train, cfg.data.seq_len, packing, eos);
  d.val = to_windows(val, cfg.data.seq_len, packing, eos);
  if (cfg.data.val_split > 0 && d.format == "text" && cfg.data.validation.empty() && d.val.count() == 0) {
    // One text file: hold out the last windows.
    size_t n = d.train.count(), n_val = std::max<size_t>(1, static_cast<size_t>(n * cfg.data.val_split));
    if (n > n_val) {
      size_t W = static_cast<size_t>(cfg.data.seq_len) + 1, cut = (n - n_val) * W;
      d.val.seq_len = cfg.data.seq_len;
      d.val.ids.assign(d.train.ids.begin() + cut, d.train.ids.end());
      d.val.mask.assign(d.train.mask.begin() + cut, d.train.mask.end());
      d.train.ids.resize(cut);
      d.train.mask.resize(cut);
    }
  }
  if (d.train.count() == 0)
    throw runtime_error(fmt::format("the training data yields no window of {} tokens", cfg.data.seq_len + 1),
                        "add data or lower data.seq_len");
  d.target_tokens = count_targets(d.train);
  std::string blob;
  uint64_t ex = d.examples;
  blob.append(reinterpret_cast<const char*>(&ex), 8);
  blob += d.format + "\n";
  save_windows(blob, d.train);
  save_windows(blob, d.val);
  std::filesystem::create_directories(cache_dir, ec);
  atomic_write_file(cache_file, blob);
  return d;
}

}  // namespace xops
