// `xops export REF -o FILE [--format gguf|hf] [--type f32|f16|bf16|q8_0] [--adapter REF]`
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "commands/commands.hpp"
#include "core/app/export_model.hpp"
#include "term/context.hpp"

namespace xops::commands {

namespace {

int run_export(cli::Context& ctx, const ExportRequest& flags) {
  ExportRequest r = flags;
  r.threads = ctx.settings().get_int("threads");
  auto res = export_model(r, ctx.workspace_if_any());
  auto& o = ctx.out();
  if (o.json()) {
    o.print_json({{"output", res.output.string()},
                  {"format", res.format},
                  {"type", res.type},
                  {"arch", res.arch},
                  {"parameters", res.parameters},
                  {"bytes", res.bytes},
                  {"adapter", res.adapter.empty() ? nlohmann::json() : nlohmann::json(res.adapter)},
                  {"modelfile", res.modelfile.empty() ? nlohmann::json()
                                                      : nlohmann::json(res.modelfile.string())},
                  {"seconds", res.seconds}});
    return 0;
  }
  o.info(fmt::format("exported {} ({}, {:.1f}M parameters{}) as {} {} in {:.2f} s: {:.1f} MB",
                     r.model, res.arch, static_cast<double>(res.parameters) / 1e6,
                     res.adapter.empty() ? "" : ", adapter merged",
                     res.format == "gguf" ? "GGUF" : "Hugging Face", res.type, res.seconds,
                     static_cast<double>(res.bytes) / 1e6));
  if (!res.modelfile.empty())
    o.info(fmt::format("Ollama: ollama create NAME -f {}   llama.cpp: llama-cli -m {}",
                       res.modelfile.string(), res.output.string()));
  o.line(res.output.string());
  return 0;
}

}  // namespace

void register_export(CLI::App& app, cli::Context& ctx) {
  auto f = std::make_shared<ExportRequest>();
  auto* sub = app.add_subcommand(
      "export", "Write a model as GGUF (llama.cpp, Ollama) or as a Hugging Face directory");
  sub->add_option("ref", f->model,
                  "Model: a directory, a .gguf file, an artifact or a registry ref")
      ->required();
  sub->add_option("-o,--output", f->output, "Output: FILE.gguf, or a directory with --format hf")
      ->required();
  sub->add_option("--format", f->format, "gguf or hf")->capture_default_str();
  sub->add_option("--type", f->type, "GGUF tensor type of the matrices: f32, f16, bf16 or q8_0")
      ->capture_default_str();
  sub->add_option("--adapter", f->adapter,
                  "A PEFT LoRA adapter to merge into the weights (directory or ref)");
  sub->add_flag("--adapter-only", f->adapter_only,
                "Write the adapter alone as a GGUF LoRA (not supported yet)");
  sub->add_flag(
      "--no-modelfile", [f](int64_t) { f->modelfile = false; },
      "Do not write an Ollama Modelfile beside the GGUF");
  sub->add_flag("--force", f->force, "Replace an existing output directory (--format hf)");
  sub->callback([&ctx, f] { ctx.action = [&ctx, f] { return run_export(ctx, *f); }; });
}

}  // namespace xops::commands
