#include "core/torch/train_checkpoint.hpp"

#include <torch/torch.h>

#include <fmt/format.h>

#include <cstring>
#include <map>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/model/safetensors.hpp"
#include "core/torch/lora.hpp"
#include "core/util/fs.hpp"

namespace xops {

namespace fs = std::filesystem;

namespace {

std::string hex(const uint8_t* p, size_t n) {
  static const char* d = "0123456789abcdef";
  std::string s(n * 2, '0');
  for (size_t i = 0; i < n; ++i) s[2 * i] = d[p[i] >> 4], s[2 * i + 1] = d[p[i] & 15];
  return s;
}

std::vector<uint8_t> unhex(const std::string& s) {
  std::vector<uint8_t> out(s.size() / 2);
  for (size_t i = 0; i < out.size(); ++i)
    out[i] = static_cast<uint8_t>(std::stoi(s.substr(2 * i, 2), nullptr, 16));
  return out;
}

}  // namespace

Trainable collect(const ModelConfig& c, Weights& w, bool lora) {
  Trainable t;
  if (lora) {
    for (auto& [n, p] : named_tensors(c, w)) p->set_requires_grad(false);
    t.named = lora_tensors(c, w);
  } else {
    t.named = named_tensors(c, w);
  }
  for (auto& [name, p] : t.named) {
    p->set_requires_grad(true);
    // No weight decay on biases, norms and LoRA's B (as common practice); decay on matrices.
    (p->dim() >= 2 && name.find("norm") == std::string::npos ? t.decay : t.no_decay).push_back(*p);
  }
  return t;
}

void save_checkpoint(const fs::path& dir, int step, const Trainable& t, torch::optim::AdamW& opt,
                     const std::vector<double>& losses, int keep_last) {
  fs::create_directories(dir);
  auto final_dir = dir / ("step-" + std::to_string(step));
  auto tmp = dir / (".step-" + std::to_string(step) + ".tmp");
  std::error_code ec;
  fs::remove_all(tmp, ec);
  fs::create_directories(tmp);
  std::vector<at::Tensor> keep;
  std::vector<TensorToWrite> tensors;
  for (auto& [name, p] : t.named) {
    auto cpu = p->detach().to(at::kCPU).contiguous();
    keep.push_back(cpu);
    tensors.push_back(
        {name, DType::F32, cpu.sizes().vec(), cpu.data_ptr(), static_cast<size_t>(cpu.nbytes())});
  }
  write_safetensors(tmp / "weights.safetensors", tensors);
  torch::save(opt, (tmp / "optimizer.pt").string());
  auto rng = at::detail::getDefaultCPUGenerator().get_state();
  nlohmann::json state = {
      {"step", step},
      {"losses", losses},
      {"cpu_rng", hex(rng.data_ptr<uint8_t>(), static_cast<size_t>(rng.numel()))}};
  atomic_write_file(tmp / "state.json", state.dump());
  fsync_dir(tmp);
  fs::remove_all(final_dir, ec);
  fs::rename(tmp, final_dir);
  fsync_dir(dir);
  // Keep the newest keep_last checkpoints.
  std::vector<int> steps;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().rfind("step-", 0) == 0)
      steps.push_back(std::stoi(e.path().filename().string().substr(5)));
  std::sort(steps.rbegin(), steps.rend());
  for (size_t i = static_cast<size_t>(keep_last); i < steps.size(); ++i)
    fs::remove_all(dir / ("step-" + std::to_string(steps[i])), ec);
}

fs::path latest_checkpoint(const fs::path& dir) {
  std::error_code ec;
  int best = -1;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    auto n = e.path().filename().string();
    if (n.rfind("step-", 0) == 0 && fs::exists(e.path() / "state.json"))
      best = std::max(best, std::stoi(n.substr(5)));
  }
  return best < 0 ? fs::path() : dir / ("step-" + std::to_string(best));
}

int load_checkpoint(const fs::path& ckpt, Trainable& t, torch::optim::AdamW& opt,
                    std::vector<double>& losses) {
  auto file = SafetensorsFile::open(ckpt / "weights.safetensors");
  std::map<std::string, const TensorView*> by;
  for (const auto& v : file->tensors()) by[v.name] = &v;
  {
    at::NoGradGuard no_grad;
    for (auto& [name, p] : t.named) {
      auto it = by.find(name);
      if (it == by.end() || it->second->shape != p->sizes().vec())
        throw precondition_error(
            fmt::format("checkpoint {} does not match this model ({})", ckpt.string(), name),
            "resume with the config that wrote it, or start without --resume");
      p->copy_(at::from_blob(const_cast<void*>(it->second->data), it->second->shape, at::kFloat));
    }
  }
  torch::load(opt, (ckpt / "optimizer.pt").string());
  auto state = nlohmann::json::parse(read_file(ckpt / "state.json"));
  losses = state.value("losses", std::vector<double>{});
  auto bytes = unhex(state.at("cpu_rng").get<std::string>());
  auto rng = at::from_blob(bytes.data(), {static_cast<int64_t>(bytes.size())}, at::kByte).clone();
  auto gen = at::detail::getDefaultCPUGenerator();
  gen.set_state(rng);
  return state.at("step").get<int>();
}

// name length (u32), name, size (u64), bytes; per file. Little-endian like the machines it
// runs between (x86-64, aarch64).
std::string pack_checkpoint(const fs::path& ckpt) {
  std::string out;
  for (const char* name : {"weights.safetensors", "optimizer.pt", "state.json"}) {
    auto bytes = read_file(ckpt / name);
    uint32_t n = static_cast<uint32_t>(std::strlen(name));
    uint64_t size = bytes.size();
    out.append(reinterpret_cast<const char*>(&n), sizeof n).append(name);
    out.append(reinterpret_cast<const char*>(&size), sizeof size).append(bytes);
  }
  return out;
}

void unpack_checkpoint(const std::string& packed, const fs::path& dir) {
  fs::create_directories(dir);
  size_t at = 0;
  auto take = [&](void* dst, size_t n) {
    if (packed.size() - at < n) throw runtime_error("internal: a received checkpoint is truncated");
    std::memcpy(dst, packed.data() + at, n);
    at += n;
  };
  while (at < packed.size()) {
    uint32_t n = 0;
    uint64_t size = 0;
    take(&n, sizeof n);
    std::string name(n, '\0');
    take(name.data(), n);
    take(&size, sizeof size);
    if (name.find('/') != std::string::npos || name.empty() || name[0] == '.')
      throw runtime_error("internal: a received checkpoint names a bad file");
    std::string bytes(size, '\0');
    take(bytes.data(), size);
    atomic_write_file(dir / name, bytes);
  }
}

}  // namespace xops
