#include "core/finetune/finetune_config.hpp"

#include <sstream>

#include "core/error.hpp"
#include "core/util/fs.hpp"
#include "core/util/yaml_util.hpp"

namespace xops {

namespace {

void apply_override(YAML::Node root, const std::string& kv, yaml::Doc& doc) {
  auto eq = kv.find('=');
  if (eq == std::string::npos || eq == 0)
    throw usage_error(fmt::format("--set '{}' is not key=value", kv), "e.g. --set optimizer.lr=1e-3");
  std::string key = kv.substr(0, eq), value = kv.substr(eq + 1);
  std::vector<std::string> parts;
  std::stringstream ss(key);
  for (std::string p; std::getline(ss, p, '.');) parts.push_back(p);
  YAML::Node node = root;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    if (!node[parts[i]] || !node[parts[i]].IsMap()) node[parts[i]] = YAML::Node(YAML::NodeType::Map);
    node.reset(node[parts[i]]);  // rebind (operator= would overwrite the node's content)
  }
  YAML::Node parsed;
  try {
    parsed = YAML::Load(value);  // "3e-4" -> number, "[a, b]" -> list, "true" -> bool
  } catch (const YAML::Exception&) {
    parsed = YAML::Node(value);
  }
  YAML::Node value_node = parsed.IsNull() ? YAML::Node(value) : parsed;
  node[parts.back()] = value_node;
  doc.overrides.emplace_back(value_node, "--set " + kv);
}

}  // namespace

FinetuneConfig parse_finetune_config(const std::string& text, const std::string& display,
                                     const std::vector<std::string>& overrides, std::vector<std::string>* warnings) {
  yaml::Doc doc{display, warnings};
  YAML::Node root = yaml::parse(text, display);
  if (root.IsNull()) root = YAML::Node(YAML::NodeType::Map);
  if (!root.IsMap()) doc.fail(root, "a finetune config must be a mapping");
  for (const auto& o : overrides) apply_override(root, o, doc);
  doc.check_keys(root,
                 {"model", "data", "method", "lora", "optimizer", "schedule", "batch_size", "grad_accum",
                  "max_steps", "epochs", "grad_clip", "seed", "dtype", "device", "threads", "eval_interval",
                  "eval_batches", "save_interval", "keep_last", "log_interval", "output", "output_dir"},
                 "the finetune config");
  FinetuneConfig c;
  c.file = display;
  auto m = doc.require(root, "model", "the finetune config");
  if (m.IsScalar()) {
    c.model = m.Scalar();
  } else {
    doc.expect_map(m, "'model'");
    doc.check_keys(m, {"init", "path"}, "'model'");
    if (auto p = m["path"]) c.model = doc.str(p, "model.path");
    if (auto in = m["init"]) {
      doc.expect_map(in, "model.init");
      doc.check_keys(in, {"arch", "layers", "d_model", "heads", "kv_heads", "ctx", "d_ff", "vocab"}, "model.init");
      InitSpec s;
      if (auto v = in["arch"]) {
        s.arch = doc.str(v, "model.init.arch");
        if (s.arch != "gpt2" && s.arch != "llama") doc.fail(v, "arch must be gpt2 or llama");
      }
      // Bounded far above what a CPU or one GPU trains, far below what overflows or
      // allocates gigabytes before any other check.
      auto geti = [&](const char* k, int& out, long long min, long long max) {
        if (auto v = in[k]) out = static_cast<int>(doc.integer_in(v, std::string("model.init.") + k, min, max));
      };
      geti("layers", s.layers, 1, 1024), geti("d_model", s.d_model, 1, 65536), geti("heads", s.heads, 1, 1024);
      geti("kv_heads", s.kv_heads, 0, 1024), geti("ctx", s.ctx, 2, 1 << 20), geti("d_ff", s.d_ff, 0, 1 << 20);
      if (auto v = in["vocab"]) s.vocab = doc.str(v, "model.init.vocab");
      if (s.heads == 0 || s.d_model % s.heads) doc.fail(in, "d_model must be a positive multiple of heads");
      c.init = s;
    }
    if (c.model.empty() && !c.init) doc.fail(m, "'model' needs a path or an init: block");
  }
  auto d = doc.require(root, "data", "the finetune config");
  doc.expect_map(d, "'data'");
  doc.check_keys(d, {"train", "validation", "val_split", "format", "seq_len", "packing", "chat_template"}, "'data'");
  auto train = doc.require(d, "train", "'data'");
  c.data.train = train.IsSequence() ? doc.str_list(train, "data.train") : std::vector<std::string>{doc.str(train, "data.train")};
  if (auto v = d["validation"]) c.data.validation = doc.str(v, "data.validation");
  if (auto v = d["val_split"]) {
    c.data.val_split = doc.num(v, "data.val_split");
    if (c.data.val_split < 0 || c.data.val_split >= 1) doc.fail(v, "val_split must be in [0, 1)");
  }
  if (auto v = d["format"]) {
    c.data.format = doc.str(v, "data.format");
    if (c.data.format != "auto" && c.data.format != "text" && c.data.format != "prompt_completion" &&
        c.data.format != "chat")
      doc.fail(v, "format must be auto, text, prompt_completion or chat");
  }
  if (auto v = d["seq_len"]) {
    c.data.seq_len = static_cast<int>(doc.integer_in(v, "data.seq_len", 2, 1 << 17));
  }
  if (auto v = d["packing"]) c.data.packing = doc.boolean(v, "data.packing");
  if (auto v = d["chat_template"]) c.data.chat_template = doc.str(v, "data.chat_template");
  if (auto v = root["method"]) {
    c.method = doc.str(v, "method");
    if (c.method != "full" && c.method != "lora") doc.fail(v, "method must be full or lora");
  }
  if (auto l = root["lora"]) {
    doc.expect_map(l, "'lora'");
    doc.check_keys(l, {"r", "alpha", "dropout", "target_modules"}, "'lora'");
    if (auto v = l["r"]) c.lora.r = static_cast<int>(doc.integer_in(v, "lora.r", 1, 4096));
    if (auto v = l["alpha"]) c.lora.alpha = doc.num(v, "lora.alpha");
    if (auto v = l["dropout"]) c.lora.dropout = doc.num(v, "lora.dropout");
    if (auto v = l["target_modules"]) c.lora.target_modules = doc.str_list(v, "lora.target_modules");
    if (c.lora.r <= 0) doc.fail(l, "lora.r must be positive");
  }
  if (auto o = root["optimizer"]) {
    doc.expect_map(o, "'optimizer'");
    doc.check_keys(o, {"lr", "betas", "weight_decay", "eps", "type"}, "'optimizer'");
    if (auto v = o["type"]; v && doc.str(v, "optimizer.type") != "adamw") doc.fail(v, "only adamw is supported");
    if (auto v = o["lr"]) c.optimizer.lr = doc.num(v, "optimizer.lr");
    if (auto v = o["betas"]) {
      if (!v.IsSequence() || v.size() != 2) doc.fail(v, "optimizer.betas must be a list of two numbers");
      c.optimizer.beta1 = doc.num(v[0], "optimizer.betas[0]");
      c.optimizer.beta2 = doc.num(v[1], "optimizer.betas[1]");
    }
    if (auto v = o["weight_decay"]) c.optimizer.weight_decay = doc.num(v, "optimizer.weight_decay");
    if (auto v = o["eps"]) c.optimizer.eps = doc.num(v, "optimizer.eps");
  }
  if (auto s = root["schedule"]) {
    doc.expect_map(s, "'schedule'");
    doc.check_keys(s, {"type", "warmup_steps", "min_lr_ratio"}, "'schedule'");
    if (auto v = s["type"]) {
      c.schedule.type = doc.str(v, "schedule.type");
      if (c.schedule.type != "cosine" && c.schedule.type != "linear" && c.schedule.type != "constant")
        doc.fail(v, "schedule.type must be cosine, linear or constant");
    }
    if (auto v = s["warmup_steps"]) c.schedule.warmup_steps = static_cast<int>(doc.integer_in(v, "schedule.warmup_steps", 0, 1 << 30));
    if (auto v = s["min_lr_ratio"]) c.schedule.min_lr_ratio = doc.num(v, "schedule.min_lr_ratio");
  }
  auto geti = [&](const char* k, int& out, int min, long long max = 1 << 30) {
    if (auto v = root[k]) {
      out = static_cast<int>(doc.integer_in(v, k, min, max));
    }
  };
  geti("batch_size", c.batch_size, 1, 65536), geti("grad_accum", c.grad_accum, 1, 65536);
  geti("max_steps", c.max_steps, 0), geti("epochs", c.epochs, 0, 1000000), geti("threads", c.threads, 0, 4096);
  geti("eval_interval", c.eval_interval, 0), geti("eval_batches", c.eval_batches, 1, 1 << 20);
  geti("save_interval", c.save_interval, 0), geti("keep_last", c.keep_last, 1, 10000);
  geti("log_interval", c.log_interval, 1);
  if (auto v = root["grad_clip"]) c.grad_clip = doc.num(v, "grad_clip");
  if (auto v = root["seed"]) c.seed = static_cast<uint64_t>(doc.integer(v, "seed"));
  if (auto v = root["dtype"]) {
    c.dtype = doc.str(v, "dtype");
    if (c.dtype != "fp32" && c.dtype != "bf16") doc.fail(v, "dtype must be fp32 or bf16");
  }
  if (auto v = root["device"]) c.device = doc.str(v, "device");
  if (auto v = root["output"]) c.output = doc.str(v, "output");
  if (auto v = root["output_dir"]) c.output_dir = doc.str(v, "output_dir");
  if (c.max_steps == 0 && c.epochs == 0) doc.fail(root, "set max_steps or epochs", "e.g. max_steps: 200");
  if (c.output.empty() && c.output_dir.empty()) doc.fail(root, "set output (an artifact name) or output_dir");
  return c;
}

FinetuneConfig load_finetune_config(const std::filesystem::path& file, const std::vector<std::string>& overrides,
                                    std::vector<std::string>* warnings) {
  auto c = parse_finetune_config(read_file(file), file.string(), overrides, warnings);
  c.file = file;
  return c;
}

std::string FinetuneConfig::render_yaml() const {
  using yaml::format_number;
  std::string s = "# resolved by xops finetune\n";
  if (init) {
    s += fmt::format("model:\n  init: {{arch: {}, layers: {}, d_model: {}, heads: {}, kv_heads: {}, ctx: {}, d_ff: {}, vocab: \"{}\"}}\n",
                     init->arch, init->layers, init->d_model, init->heads, init->kv_heads, init->ctx, init->d_ff, init->vocab);
  } else {
    s += fmt::format("model: \"{}\"\n", model);
  }
  s += "data:\n  train: [";
  for (size_t i = 0; i < data.train.size(); ++i) s += (i ? ", \"" : "\"") + data.train[i] + "\"";
  s += fmt::format("]\n  validation: \"{}\"\n  val_split: {}\n  format: {}\n  seq_len: {}\n  packing: {}\n  chat_template: \"{}\"\n",
                   data.validation, format_number(data.val_split), data.format, data.seq_len,
                   data.packing ? (*data.packing ? "true" : "false") : "auto",
                   data.chat_template);
  s += fmt::format("method: {}\n", method);
  s += fmt::format("lora: {{r: {}, alpha: {}, dropout: {}, target_modules: [{}]}}\n", lora.r, format_number(lora.alpha),
                   format_number(lora.dropout), fmt::join(lora.target_modules, ", "));
  s += fmt::format("optimizer: {{lr: {}, betas: [{}, {}], weight_decay: {}, eps: {}}}\n", format_number(optimizer.lr),
                   format_number(optimizer.beta1), format_number(optimizer.beta2), format_number(optimizer.weight_decay),
                   format_number(optimizer.eps));
  s += fmt::format("schedule: {{type: {}, warmup_steps: {}, min_lr_ratio: {}}}\n", schedule.type, schedule.warmup_steps,
                   format_number(schedule.min_lr_ratio));
  s += fmt::format("batch_size: {}\ngrad_accum: {}\nmax_steps: {}\nepochs: {}\ngrad_clip: {}\nseed: {}\n", batch_size,
                   grad_accum, max_steps, epochs, format_number(grad_clip), seed);
  s += fmt::format("dtype: {}\ndevice: {}\nthreads: {}\neval_interval: {}\neval_batches: {}\nsave_interval: {}\n", dtype,
                   device, threads, eval_interval, eval_batches, save_interval);
  s += fmt::format("keep_last: {}\nlog_interval: {}\noutput: \"{}\"\noutput_dir: \"{}\"\n", keep_last, log_interval, output,
                   output_dir);
  return s;
}

}  // namespace xops
