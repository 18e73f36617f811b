#include "core/model/safetensors.hpp"
#include "core/util/json_error.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/util/fs.hpp"

namespace xops {

size_t dtype_size(DType d) {
  switch (d) {
    case DType::F64:
    case DType::I64:
      return 8;
    case DType::F32:
    case DType::I32:
      return 4;
    case DType::F16:
    case DType::BF16:
    case DType::I16:
      return 2;
    case DType::I8:
    case DType::U8:
    case DType::BOOL:
    case DType::Q8_0:
      return 1;
  }
  return 1;
}

const char* dtype_name(DType d) {
  switch (d) {
    case DType::F32:
      return "F32";
    case DType::F16:
      return "F16";
    case DType::BF16:
      return "BF16";
    case DType::F64:
      return "F64";
    case DType::I64:
      return "I64";
    case DType::I32:
      return "I32";
    case DType::I16:
      return "I16";
    case DType::I8:
      return "I8";
    case DType::U8:
      return "U8";
    case DType::BOOL:
      return "BOOL";
    case DType::Q8_0:
      return "Q8_0";
  }
  return "?";
}

DType parse_dtype(const std::string& s) {
  for (DType d : {DType::F32, DType::F16, DType::BF16, DType::F64, DType::I64, DType::I32,
                  DType::I16, DType::I8, DType::U8, DType::BOOL})
    if (s == dtype_name(d)) return d;
  throw runtime_error(fmt::format("unsupported safetensors dtype '{}'", s));
}

int64_t TensorView::numel() const {
  int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

std::unique_ptr<SafetensorsFile> SafetensorsFile::open(const std::filesystem::path& path) {
  auto bad = [&](const std::string& what) {
    return runtime_error(fmt::format("{}: invalid safetensors file: {}", path.string(), what),
                         "the file is truncated or not safetensors; re-download or re-save it");
  };
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    throw runtime_error(fmt::format("cannot open {}: {}", path.string(), errno_text(errno)));
  struct stat st;
  ::fstat(fd, &st);
  size_t size = static_cast<size_t>(st.st_size);
  if (size < 8) {
    ::close(fd);
    throw bad("shorter than its 8-byte header length");
  }
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (map == MAP_FAILED)
    throw runtime_error(fmt::format("cannot map {}: {}", path.string(), errno_text(errno)));
  std::unique_ptr<SafetensorsFile> f(new SafetensorsFile());
  f->path_ = path;
  f->map_ = map;
  f->size_ = size;
  auto* base = static_cast<const uint8_t*>(map);
  uint64_t hlen = 0;
  std::memcpy(&hlen, base, 8);  // little-endian on every platform we build for
  if (hlen > 100u << 20 || hlen > size - 8)
    throw bad(fmt::format("header length {} is not sane", hlen));
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(reinterpret_cast<const char*>(base + 8),
                                   reinterpret_cast<const char*>(base + 8 + hlen));
  } catch (const nlohmann::json::exception& e) {
    throw bad(std::string("header is not JSON: ") + json_error(e));
  }
  if (!header.is_object()) throw bad("header is not a JSON object");
  const uint8_t* data = base + 8 + hlen;
  size_t data_size = size - 8 - hlen;
  std::vector<std::pair<size_t, size_t>> ranges;
  for (auto& [name, info] : header.items()) {
    if (name == "__metadata__") {
      if (!info.is_object()) throw bad("__metadata__ is not an object");
      for (auto& [k, v] : info.items())
        f->metadata_[k] = v.is_string() ? v.get<std::string>() : v.dump();
      continue;
    }
    try {
      TensorView t;
      t.name = name;
      t.dtype = parse_dtype(info.at("dtype").get<std::string>());
      // Sizes are whole numbers in range: nlohmann reads 1e30 or a 40-digit integer as a double,
      // and get<size_t>() of that is undefined behaviour (a fuzz finding).
      const std::string tensor = name;  // a structured binding cannot be captured in C++17
      auto count = [&bad, &tensor](const nlohmann::json& v, const char* what) -> uint64_t {
        if (!v.is_number_unsigned())
          throw bad(fmt::format("tensor '{}': {} {} is not a non-negative integer", tensor, what,
                                v.dump()));
        return v.get<uint64_t>();
      };
      uint64_t elements = 1;
      for (const auto& d : info.at("shape")) {
        auto v = count(d, "dimension");
        // The product of the dimensions cannot exceed the bytes there are (nor overflow).
        if (__builtin_mul_overflow(elements, v, &elements) || elements > data_size)
          throw bad(fmt::format("tensor '{}' has more elements than the file has bytes", name));
        t.shape.push_back(static_cast<int64_t>(v));
      }
      auto offs = info.at("data_offsets");
      size_t begin = count(offs.at(0), "data offset"), end = count(offs.at(1), "data offset");
      if (begin > end || end > data_size)
        throw bad(fmt::format("tensor '{}' offsets [{}, {}) fall outside the {} data bytes", name,
                              begin, end, data_size));
      size_t want = static_cast<size_t>(t.numel()) * dtype_size(t.dtype);
      if (end - begin != want)
        throw bad(fmt::format("tensor '{}' has {} bytes but shape and dtype need {}", name,
                              end - begin, want));
      t.data = data + begin;
      t.nbytes = want;
      ranges.emplace_back(begin, end);
      f->tensors_.push_back(std::move(t));
    } catch (const nlohmann::json::exception& e) {
      throw bad(fmt::format("tensor '{}': {}", name, json_error(e)));
    }
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i)
    if (ranges[i].first < ranges[i - 1].second) throw bad("two tensors overlap");
  return f;
}

SafetensorsFile::~SafetensorsFile() {
  if (map_) ::munmap(map_, size_);
}

Checkpoint Checkpoint::open(const std::filesystem::path& dir) {
  Checkpoint c;
  std::error_code ec;
  auto index = dir / "model.safetensors.index.json";
  if (std::filesystem::exists(dir / "model.safetensors", ec)) {
    c.files_.push_back(SafetensorsFile::open(dir / "model.safetensors"));
  } else if (std::filesystem::exists(index, ec)) {
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(read_file(index));
    } catch (const nlohmann::json::exception& e) {
      throw runtime_error(fmt::format("{}: invalid JSON: {}", index.string(), json_error(e)));
    }
    std::vector<std::string> shards;
    for (auto& [name, file] : j.at("weight_map").items()) {
      auto s = file.get<std::string>();
      if (s.find('/') != std::string::npos || s.find("..") != std::string::npos)
        throw runtime_error(
            fmt::format("{}: shard name '{}' is not a plain file name", index.string(), s));
      if (std::find(shards.begin(), shards.end(), s) == shards.end()) shards.push_back(s);
    }
    for (const auto& s : shards) c.files_.push_back(SafetensorsFile::open(dir / s));
  } else {
    throw precondition_error(fmt::format("no model.safetensors (or index) in {}", dir.string()),
                             "point at a Hugging Face model directory");
  }
  for (const auto& f : c.files_)
    for (const auto& t : f->tensors()) {
      if (c.by_name_.count(t.name))
        throw runtime_error(fmt::format("tensor '{}' appears in more than one shard", t.name));
      c.by_name_[t.name] = &t;
    }
  return c;
}

Checkpoint Checkpoint::from_views(std::vector<TensorView> views, std::shared_ptr<const void> keep,
                                  bool linear_layout) {
  Checkpoint c;
  c.views_ = std::move(views);
  c.keep_ = std::move(keep);
  c.linear_layout_ = linear_layout;
  for (const auto& t : c.views_)
    if (!c.by_name_.emplace(t.name, &t).second)
      throw runtime_error(fmt::format("tensor '{}' appears twice", t.name));
  return c;
}

const TensorView* Checkpoint::find(const std::string& name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

const TensorView& Checkpoint::get(const std::string& name) const {
  if (auto* t = find(name)) return *t;
  throw runtime_error(fmt::format("checkpoint lacks tensor '{}'", name),
                      "the weights do not match config.json's architecture");
}

std::vector<std::string> Checkpoint::names() const {
  std::vector<std::string> out;
  for (const auto& kv : by_name_) out.push_back(kv.first);
  return out;
}

void write_safetensors(const std::filesystem::path& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  size_t off = 0;
  for (const auto& t : tensors) {
    header[t.name] = {{"dtype", dtype_name(t.dtype)},
                      {"shape", t.shape},
                      {"data_offsets", {off, off + t.nbytes}}};
    off += t.nbytes;
  }
  std::string h = header.dump();
  while ((8 + h.size()) % 8) h += ' ';  // align the data section to 8 bytes
  AtomicFileWriter out(path);
  uint64_t hlen = h.size();
  out.write(&hlen, 8);
  out.write(h.data(), h.size());
  for (const auto& t : tensors) out.write(t.data, t.nbytes);
  out.commit();
}

}  // namespace xops
