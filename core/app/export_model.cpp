#include "core/app/export_model.hpp"

#include <chrono>

#include "core/engine/engine.hpp"
#include "core/error.hpp"
#include "core/model/gguf.hpp"
#include "core/model/gguf_model.hpp"
#include "core/refs/model_ref.hpp"
#include "core/serve/chat_template.hpp"
#include "core/util/fs.hpp"

namespace xops {

namespace fs = std::filesystem;

std::string render_modelfile(const std::string& gguf_name, bool builtin_template,
                             const std::string& eos_token, const std::string& custom_template) {
  std::string out = "# Written by `xops export`. Load it with: ollama create NAME -f Modelfile\n";
  out += "FROM ./" + gguf_name + "\n";
  if (builtin_template) {
    // xops's chat format (<|role|>\ncontent\n ... <|assistant|>\n) as an Ollama Go template.
    out +=
        "TEMPLATE \"\"\"{{- range .Messages }}<|{{ .Role }}|>\n{{ .Content }}\n{{ end "
        "}}<|assistant|>\n\"\"\"\n";
    out += "PARAMETER stop \"<|user|>\"\nPARAMETER stop \"<|system|>\"\n";
  } else if (!custom_template.empty()) {
    out +=
        "# The model's chat template is Jinja (kept in the GGUF as tokenizer.chat_template); "
        "Ollama\n"
        "# takes Go templates and xops does not translate Jinja, so none is set here.\n";
  }
  if (!eos_token.empty() && eos_token.find('"') == std::string::npos)
    out += "PARAMETER stop \"" + eos_token + "\"\n";
  return out;
}

namespace {
uint64_t size_of(const fs::path& p) {
  std::error_code ec;
  if (fs::is_regular_file(p, ec)) return fs::file_size(p, ec);
  uint64_t n = 0;
  for (const auto& e : fs::recursive_directory_iterator(p, ec))
    if (e.is_regular_file(ec)) n += e.file_size(ec);
  return n;
}
}  // namespace

ExportResult export_model(const ExportRequest& r, const Workspace* ws) {
  auto t0 = std::chrono::steady_clock::now();
  if (r.adapter_only)
    throw usage_error("--adapter-only is not supported: xops exports merged models only",
                      "drop --adapter-only to write the base with the adapter merged, or convert "
                      "the PEFT adapter "
                      "directory with llama.cpp's convert_lora_to_gguf.py");
  if (r.format != "gguf" && r.format != "hf")
    throw usage_error(fmt::format("unknown export format '{}'", r.format),
                      "use --format gguf or --format hf");
  if (r.output.empty())
    throw usage_error("export needs an output: -o FILE.gguf (or -o DIR with --format hf)");
  GgufExportOptions go;
  if (r.format == "gguf")
    go.type = parse_ggml_type(r.type);
  else if (r.type != "f32")
    throw usage_error(
        fmt::format("--type {} applies to GGUF; a Hugging Face export is written in fp32", r.type),
        "drop --type, or export --format gguf");
  ExportResult res;
  res.format = r.format;
  res.type = r.format == "gguf" ? r.type : "f32";
  res.output = r.output;
  std::error_code ec;
  if (r.format == "gguf" && fs::is_directory(r.output, ec))
    throw usage_error(fmt::format("{} is a directory", r.output.string()),
                      "give the GGUF file's path: -o DIR/model.gguf");
  if (r.format == "hf" && fs::exists(r.output, ec) && !r.force)
    throw precondition_error(fmt::format("{} already exists", r.output.string()),
                             "choose another -o, or pass --force to replace it");

  auto ma = resolve_model_or_adapter(r.model, ws);
  fs::path adapter = ma.adapter;
  if (!r.adapter.empty()) {
    if (!adapter.empty())
      throw usage_error(
          fmt::format("'{}' is already an adapter; --adapter would merge a second one", r.model),
          "give the base model with --adapter, or the adapter alone");
    adapter = resolve_model_ref(r.adapter, ws);
  }
  res.adapter = adapter.string();
  LoadOptions lo;
  lo.device = "cpu";
  lo.dtype = "fp32";
  lo.threads = r.threads;
  lo.adapter = adapter;
  lo.keep_quantized = false;  // Q8_0 in: widened, then written in --type
  lo.zero_copy = true;        // read once to be written out: no copy
  auto model = engine().load(ma.model, lo);
  const auto& cfg = model->config();
  res.arch = cfg.arch == Arch::Gpt2 ? "gpt2" : "llama";
  res.parameters = cfg.parameter_count();

  auto parent = r.output.parent_path();
  if (!parent.empty()) fs::create_directories(parent);
  if (r.format == "gguf") {
    auto ct = load_chat_template(ma.model);
    bool builtin = ct.source.empty();
    go.chat_template = builtin ? kBuiltinChatJinja : ct.source;
    // general.name: the model's own name (a directory's or file's), not the path as typed.
    auto stem = fs::path(r.model).lexically_normal();
    while (!stem.empty() && stem.filename().empty()) stem = stem.parent_path();
    go.name = stem.has_stem() ? stem.stem().string() : r.model;
    model->export_gguf(r.output, go);
    if (r.modelfile) {
      std::string eos =
          cfg.eos_id >= 0 && static_cast<size_t>(cfg.eos_id) < model->tokenizer().vocab_size()
              ? model->tokenizer().token_bytes(cfg.eos_id)
              : "";
      res.modelfile = (parent.empty() ? fs::path(".") : parent) / "Modelfile";
      atomic_write_file(res.modelfile,
                        render_modelfile(r.output.filename().string(), builtin, eos, ct.source));
    }
  } else {
    // Written beside the target and renamed into place: never a half-written model directory.
    auto tmp = temp_path_beside(r.output);
    try {
      model->save(tmp);
      if (fs::exists(r.output, ec)) fs::remove_all(r.output);
      fs::rename(tmp, r.output);
      fsync_dir(r.output.parent_path().empty() ? fs::path(".") : r.output.parent_path());
    } catch (...) {
      fs::remove_all(tmp, ec);
      throw;
    }
  }
  res.bytes = size_of(r.output);
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return res;
}

}  // namespace xops
