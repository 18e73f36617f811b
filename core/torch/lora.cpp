#include "core/torch/lora.hpp"

#include <torch/torch.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/model/adapter_config.hpp"
#include "core/model/safetensors.hpp"
#include "core/util/fs.hpp"

namespace xops {

namespace {
bool matches(const std::string& module, const std::vector<std::string>& targets) {
  for (const auto& t : targets) {
    // PEFT: the full name, or a name that ends with ".target".
    if (module == t) return true;
    if (module.size() > t.size() && module.compare(module.size() - t.size(), t.size(), t) == 0 &&
        module[module.size() - t.size() - 1] == '.')
      return true;
  }
  return false;
}
}  // namespace

std::vector<std::string> attach_lora(const ModelConfig& c, Weights& w, const LoraSpec& spec, uint64_t seed) {
  auto targets = spec.targets.empty() ? default_lora_targets(c) : spec.targets;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed ^ 0x10aaULL);
  std::vector<std::string> hit;
  at::NoGradGuard no_grad;
  for (auto& [name, p] : named_projections(c, w)) {
    if (!matches(name, targets)) continue;
    auto opts = p->options();
    int64_t in = p->in_features(), out = p->out_features();
    double bound = 1.0 / std::sqrt(static_cast<double>(in));  // kaiming_uniform(a=sqrt(5))
    p->lora_a = at::empty({spec.r, in}, at::kFloat).uniform_(-bound, bound, gen).to(opts);
    p->lora_b = at::zeros({out, spec.r}, opts);
    p->lora_scale = spec.alpha / spec.r;
    p->lora_dropout = spec.dropout;
    hit.push_back(name);
  }
  if (hit.empty())
    throw usage_error(fmt::format("lora.target_modules [{}] match no projection of this {} model",
                                  fmt::join(targets, ", "), c.arch_name()),
                      c.arch == Arch::Gpt2 ? "GPT-2 modules: c_attn, c_proj, c_fc" : "Llama modules: q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj");
  return hit;
}

std::vector<std::pair<std::string, at::Tensor*>> lora_tensors(const ModelConfig& c, Weights& w) {
  std::vector<std::pair<std::string, at::Tensor*>> out;
  for (auto& [name, p] : named_projections(c, w)) {
    if (!p->lora_a.defined()) continue;
    out.emplace_back("base_model.model." + name + ".lora_A.weight", &p->lora_a);
    out.emplace_back("base_model.model." + name + ".lora_B.weight", &p->lora_b);
  }
  return out;
}

void save_peft_adapter(const ModelConfig& c, Weights& w, const LoraSpec& spec, const std::filesystem::path& dir,
                       const std::string& base_model) {
  std::filesystem::create_directories(dir);
  std::vector<at::Tensor> keep;
  std::vector<TensorToWrite> tensors;
  for (auto& [name, t] : lora_tensors(c, w)) {
    auto cpu = t->detach().to(at::kCPU, at::kFloat).contiguous();
    keep.push_back(cpu);
    tensors.push_back({name, DType::F32, cpu.sizes().vec(), cpu.data_ptr(), static_cast<size_t>(cpu.nbytes())});
  }
  write_safetensors(dir / "adapter_model.safetensors", tensors, {{"format", "pt"}});
  auto targets = spec.targets.empty() ? default_lora_targets(c) : spec.targets;
  nlohmann::ordered_json j = {{"peft_type", "LORA"},
                              {"task_type", "CAUSAL_LM"},
                              {"base_model_name_or_path", base_model},
                              {"r", spec.r},
                              {"lora_alpha", spec.alpha},
                              {"lora_dropout", spec.dropout},
                              {"target_modules", targets},
                              {"fan_in_fan_out", c.arch == Arch::Gpt2},  // GPT-2's Conv1D
                              {"bias", "none"},
                              {"inference_mode", true},
                              {"modules_to_save", nullptr},
                              {"init_lora_weights", true}};
  atomic_write_file(dir / "adapter_config.json", j.dump(2) + "\n");
}

LoraSpec load_peft_adapter(const ModelConfig& c, Weights& w, const std::filesystem::path& dir) {
  auto cfg_path = dir / "adapter_config.json";
  const auto name = cfg_path.string();
  auto ac = parse_adapter_config(read_file_limited(cfg_path, 1 << 20, "an adapter_config.json"), name);
  LoraSpec spec;
  spec.r = static_cast<int>(ac.r);
  spec.alpha = ac.alpha;
  spec.dropout = 0.0;
  spec.targets = ac.targets;
  // r sizes every allocation below: it must be what the adapter file holds (`r: 20000000`
  // once allocated 10 GB before any tensor was compared).
  auto file = SafetensorsFile::open(dir / "adapter_model.safetensors");
  int64_t file_r = -1;
  for (const auto& t : file->tensors())
    if (t.name.find("lora_A") != std::string::npos && t.shape.size() == 2) {
      file_r = t.shape[0];
      break;
    }
  if (spec.r != file_r)
    throw runtime_error(fmt::format("{}: r = {} but the adapter's lora_A tensors have rank {}", name, spec.r, file_r),
                        "adapter_config.json and adapter_model.safetensors must come from the same adapter");
  attach_lora(c, w, spec, 0);
  std::map<std::string, const TensorView*> by_name;
  for (const auto& t : file->tensors()) {
    auto name = t.name;
    // PEFT may keep the adapter name ("lora_A.default.weight") in some versions.
    auto pos = name.find(".default.");
    if (pos != std::string::npos) name.erase(pos, 8);
    by_name[name] = &t;
  }
  at::NoGradGuard no_grad;
  for (auto& [name, t] : lora_tensors(c, w)) {
    auto it = by_name.find(name);
    if (it == by_name.end())
      throw runtime_error(fmt::format("{} lacks tensor '{}'", dir.string(), name), "the adapter was trained for another model");
    const auto& v = *it->second;
    if (v.shape != t->sizes().vec())
      throw runtime_error(fmt::format("adapter tensor '{}' has shape [{}], the model needs [{}]", name,
                                      fmt::join(v.shape, ", "), fmt::join(t->sizes().vec(), ", ")));
    if (v.dtype != DType::F32 && v.dtype != DType::BF16 && v.dtype != DType::F16)
      throw runtime_error(fmt::format("adapter tensor '{}' has dtype {}", name, dtype_name(v.dtype)));
    auto st = v.dtype == DType::F32 ? at::kFloat : v.dtype == DType::BF16 ? at::kBFloat16 : at::kHalf;
    t->copy_(at::from_blob(const_cast<void*>(v.data), v.shape, at::TensorOptions().dtype(st)));
  }
  return spec;
}

void merge_lora(const ModelConfig& c, Weights& w) {
  at::NoGradGuard no_grad;
  for (auto& [name, p] : named_projections(c, w)) {
    if (!p->lora_a.defined()) continue;
    auto delta = at::matmul(p->lora_b, p->lora_a) * p->lora_scale;  // [out, in]
    // Out of place: the base may be a read-only view of the mapped checkpoint.
    p->w = p->w + (p->conv1d ? delta.t() : delta).to(p->w.scalar_type());
    p->lora_a = at::Tensor();
    p->lora_b = at::Tensor();
    p->lora_scale = 0;
  }
}

}  // namespace xops
