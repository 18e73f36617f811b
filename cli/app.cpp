#include "cli/app.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/completion.hpp"
#include "commands/commands.hpp"
#include "core/build_info.hpp"
#include "core/engine/engine.hpp"
#include "core/error.hpp"
#include "core/util/interrupt.hpp"
#include "core/util/suggest.hpp"
#include "term/context.hpp"
#include "term/output.hpp"

namespace xops::cli {

namespace {

std::vector<std::string> subcommand_names(const CLI::App& app) {
  std::vector<std::string> names;
  for (const auto* s : app.get_subcommands([](const CLI::App*) { return true; }))
    names.push_back(s->get_name());
  return names;
}

// The subcommand of `level` named `name`, or null.
CLI::App* find_subcommand(CLI::App* level, const std::string& name) {
  for (auto* s : level->get_subcommands([](const CLI::App*) { return true; }))
    if (s->get_name() == name) return s;
  return nullptr;
}

// Finds a mistyped verb before CLI11 does, to answer "did you mean ...?" with exit 2.
void check_verbs(CLI::App& app, int argc, char** argv) {
  CLI::App* level = &app;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--") return;
    if (a == "-C" || a == "--color") {
      ++i;
      continue;
    }
    if (a.empty() || a[0] == '-') continue;
    auto names = subcommand_names(*level);
    if (names.empty()) return;  // the rest are positionals of a leaf command
    if (std::find(names.begin(), names.end(), a) != names.end()) {
      level = level->get_subcommand(a);
      continue;
    }
    // A verb with subcommands and a positional of its own (`promote REF`) takes other words.
    auto positionals = level->get_options([](const CLI::Option* o) { return o->get_positional(); });
    if (!positionals.empty()) return;
    std::string where = level == &app ? "xops" : "xops " + level->get_name();
    auto guess = closest(a, names);
    throw usage_error(fmt::format("'{}' is not a command of {}{}", a, where,
                                  guess.empty() ? "" : fmt::format(" (did you mean '{}'?)", guess)),
                      fmt::format("commands: {}; see `{} --help`", fmt::join(names, ", "), where));
  }
}

// After CLI11 refused the arguments: the first option the command line names that neither
// the command nor its parents know, with the closest known option ("did you mean --json?").
std::string unknown_option_hint(CLI::App& app, int argc, char** argv) {
  std::vector<CLI::App*> chain = {&app};
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--") break;
    if (!a.empty() && a[0] != '-') {
      if (auto* sub = find_subcommand(chain.back(), a)) chain.push_back(sub);
      continue;
    }
    if (a.size() < 2 || std::isdigit(static_cast<unsigned char>(a[1])) || a[1] == '.')
      continue;  // -1, -.5
    auto name = a.substr(0, a.find('='));
    std::vector<std::string> known = {"--help", "-h"};
    for (auto* level : chain)
      for (const auto* o : level->get_options()) {
        for (const auto& l : o->get_lnames()) known.push_back("--" + l);
        for (const auto& sn : o->get_snames()) known.push_back("-" + sn);
      }
    if (std::find(known.begin(), known.end(), name) != known.end()) continue;
    std::string where = "xops";
    for (size_t k = 1; k < chain.size(); ++k) where += " " + chain[k]->get_name();
    auto guess = closest(name, known);
    return fmt::format("unknown option '{}' for `{}`{}", name, where,
                       guess.empty() ? "" : fmt::format(" (did you mean '{}'?)", guess));
  }
  return {};
}

// `xops help [VERB...]`: the help of that command, as `xops VERB... --help` prints it.
int print_help_for(CLI::App& app, const std::vector<std::string>& words) {
  CLI::App* level = &app;
  for (const auto& w : words) {
    CLI::App* next = find_subcommand(level, w);
    if (!next) {
      auto names = subcommand_names(*level);
      auto guess = closest(w, names);
      throw usage_error(
          fmt::format("no help for '{}'{}", w,
                      guess.empty() ? "" : fmt::format(" (did you mean '{}'?)", guess)),
          fmt::format("commands: {}", fmt::join(names, ", ")));
    }
    level = next;
  }
  // Not level->help(): CLI11 hands that to the selected subcommand, which is `help` itself.
  std::fputs(level->get_formatter()
                 ->make_help(level, level->get_name(), CLI::AppFormatMode::Normal)
                 .c_str(),
             stdout);
  return 0;
}

// Two or three examples at the end of every command's help.
void add_examples(CLI::App& app) {
  static const std::vector<std::pair<std::string, std::string>> examples = {
      {"",
       "xops init myproject\n  xops track add data/train.jsonl && git commit -m data\n  xops eval "
       "evals/basic.yaml --junit results.xml"},
      {"init",
       "xops init myproject\n  xops init ml --template minimal      # inside an existing "
       "repository\n  xops init . --force                  # rewrite the files xops owns"},
      {"install-hooks", "git clone URL && cd repo/project && xops install-hooks"},
      {"track",
       "xops track add data/ && git commit -m data\n  xops track status --exit-code\n  xops track "
       "run -n baseline -p lr=3e-4 -- python train.py"},
      {"track add",
       "xops track add data/train.jsonl models/base\n  xops track add --link hardlink big-model/   "
       "# no second copy"},
      {"track status",
       "xops track status\n  xops track status --exit-code data/train.jsonl   # exit 4 when it "
       "differs"},
      {"track checkout",
       "xops track checkout                # what the pointers in the working tree name\n  xops "
       "track checkout HEAD~1 data/   # an older version of one directory"},
      {"track push", "xops track push\n  xops track push --remote team -j 8"},
      {"track pull",
       "xops track pull                    # fetch and check out\n  xops track pull --no-checkout  "
       "    # only fill the store"},
      {"track verify",
       "xops track verify\n  xops track verify --remote       # re-hash the default remote, repair "
       "from local copies"},
      {"track gc", "xops track gc --dry-run\n  xops track gc --workspace"},
      {"track run",
       "xops track run -n baseline -p lr=3e-4 -- python train.py\n  xops track run --tag team=nlp "
       "-- make eval"},
      {"track log",
       "xops track log metric loss=0.41 --step 100\n  xops track log artifact model.bin"},
      {"track log metric",
       "xops track log metric loss=0.41 acc=0.87 --step 100\n  XOPS_RUN_ID=01J9... xops track log "
       "metric val/loss=1.2"},
      {"track log param",
       "xops track log param lr=3e-4 batch_size=32\n  xops track log param --run 01J9 "
       "model=tiny-gpt"},
      {"track log tag", "xops track log tag team=nlp stage=baseline"},
      {"track log artifact",
       "xops track log artifact model.bin\n  xops track log artifact --run 01J9 plots/loss.png"},
      {"track runs",
       "xops track runs --filter \"metrics.loss < 0.5 and status = 'finished'\" --sort "
       "metrics.loss\n  xops --json track runs --limit 5"},
      {"track show", "xops track show 01J9            # any unique prefix, or a run name"},
      {"track diff", "xops track diff baseline tuned"},
      {"track rm", "xops track rm 01J9 01JA && xops track gc"},
      {"track rename", "xops track rename 01J9 baseline-v2"},
      {"track sync",
       "xops track sync --to postgresql://ml@db.internal:5432/xops\n  XOPS_TRACKING=local xops "
       "track run -- python train.py   # offline: .xops/xops.db; sync later"},
      {"track report", "xops track report --html runs.html --filter \"tags.team = 'nlp'\""},
      {"finetune",
       "xops finetune configs/finetune.yaml\n  xops finetune configs/lora.yaml --set lora.r=16 "
       "--set max_steps=500\n  xops finetune configs/lora.yaml --resume\n  xops finetune "
       "configs/finetune.yaml --nproc-per-node 2"},
      {"eval",
       "xops eval evals/basic.yaml\n  xops eval evals/basic.yaml --model models/tuned --junit "
       "results.xml --html report.html\n  xops eval suite.yaml --key-host llm.internal:8080"},
      {"promote",
       "xops promote register mymodel && xops promote mymodel@v0.0.1 --to staging --dry-run\n  "
       "xops eval evals/basic.yaml --model mymodel@v0.0.1 && xops promote mymodel@v0.0.1 --to "
       "staging\n  xops generate mymodel#prod \"Hello\"   # whatever holds prod"},
      {"promote register",
       "xops promote register mymodel               # next patch version at HEAD\n  xops promote "
       "register mymodel HEAD~2 --version v1.0.0 -m \"first release\""},
      {"promote ls", "xops promote ls\n  xops --json promote ls"},
      {"promote unassign",
       "xops promote unassign mymodel --stage prod -m \"regression in production\""},
      {"promote deprecate", "xops promote deprecate old-model -m \"replaced by mymodel\""},
      {"promote history", "xops promote history mymodel"},
      {"promote show", "xops promote show mymodel#prod"},
      {"promote diff",
       "xops promote diff greeting@v1.0.0 greeting#prod\n  xops promote diff mymodel@v0.0.1 "
       "mymodel@latest   # changed files, config lines"},
      {"generate",
       "xops generate models/tiny \"Once upon a time\" -n 32\n  echo hi | xops generate "
       "models/tiny --json -t 0.7 --seed 1\n  xops generate models/tiny --batch prompts.jsonl > "
       "out.jsonl"},
      {"serve",
       "xops serve models/tiny --port 8080\n  xops serve chat#prod --adapter "
       "support=support-lora#prod --max-batch 16\n  curl -s localhost:8080/v1/completions -d "
       "'{\"prompt\": \"Hello\", \"max_tokens\": 8, \"temperature\": 0}'"},
      {"monitor",
       "xops monitor --since 7d\n  xops monitor chat --by day\n  xops monitor --check   # "
       "exit 4 when a monitor: threshold in xops.yaml is crossed\n  xops monitor --drift --since "
       "1d "
       "--suite evals/qa.yaml --embedding models/tiny"},
      {"eval coverage",
       "xops eval coverage evals/support.yaml --since 7d --embedding models/minilm\n  xops --json "
       "eval coverage "
       "evals/support.yaml --model chat@v1.2.0"},
      {"index build",
       "xops index build docs --from docs/ --embedding models/minilm\n  xops index build faq "
       "--from "
       "faq.jsonl --embedding minilm#prod --chunk 128 --overlap 16"},
      {"index add",
       "xops index add docs --from docs/new-page.md   # a changed file's chunks are replaced"},
      {"index rm", "xops index rm docs --source docs/old-page.md\n  xops index rm docs --id 42"},
      {"index query",
       "xops index query docs \"how do I rotate keys?\" -k 5\n  xops --json index query docs#prod "
       "\"refunds\" "
       "--where lang=en"},
      {"index info", "xops index info docs\n  xops --json index info docs@v0.1.0"},
      {"index",
       "xops index build docs --from docs/ --embedding models/minilm\n  xops index query docs "
       "\"refunds\""},
      {"monitor feedback",
       "xops monitor feedback --since 7d\n  xops monitor feedback chat#prod --name helpful "
       "--user u42\n  xops --json monitor feedback --session s9"},
      {"ui",
       "xops ui   # then open http://127.0.0.1:8765/\n  xops ui --port 0   # any free port (the "
       "first stdout line says which)\n  curl -s "
       "'localhost:8765/api/runs?sort=metrics.loss&limit=5'"},
      {"repro",
       "xops repro   # every changed stage of dvc.yaml\n  xops repro train -f   # train and its "
       "upstream, "
       "even unchanged\n  xops repro -j 2 --pull --push\n  xops repro --dry"},
      {"dag", "xops dag\n  xops dag --dot | dot -Tsvg > dag.svg"},
      {"stage status", "xops stage status\n  xops --json stage status train"},
      {"stage list", "xops stage list\n  xops --json stage list"},
      {"stage", "xops stage status\n  xops stage list"},
      {"params diff",
       "xops params diff   # HEAD vs the workspace\n  xops params diff v1.0 main --all"},
      {"params", "xops params diff"},
      {"metrics show", "xops metrics show\n  xops --json metrics show --rev HEAD~1"},
      {"metrics diff", "xops metrics diff\n  xops metrics diff HEAD~3 HEAD"},
      {"metrics", "xops metrics show\n  xops metrics diff"},
      {"export",
       "xops export mymodel#prod -o out/model.gguf --type q8_0   # + out/Modelfile for Ollama\n  "
       "xops "
       "export models/base --adapter runs/lora -o merged.gguf\n  xops export model.gguf --format "
       "hf -o "
       "models/from-gguf"},
      {"config", "xops config\n  xops --json config"},
      {"help", "xops help track run"},
  };
  for (const auto& [path, text] : examples) {
    CLI::App* level = &app;
    std::string word;
    for (std::istringstream in(path); in >> word && level;) level = find_subcommand(level, word);
    if (level) level->footer("\nExamples:\n  " + text);
  }
}

// Output options are needed before CLI11 has parsed (to colour an early error).
OutputOptions prescan_output_options(int argc, char** argv) {
  OutputOptions o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--") break;
    if (a == "--json") o.json = true;
    if (a == "-q" || a == "--quiet") o.quiet = true;
    if (a == "--color" && i + 1 < argc) o.color = argv[i + 1];
    if (a.rfind("--color=", 0) == 0) o.color = a.substr(8);
  }
  return o;
}

void print_version(Context& ctx) {
  auto& o = ctx.out();
  nlohmann::json j = {{"version", version()}, {"commit", git_commit()}, {"build", build_type()}};
  if (ctx.out_opts.verbosity > 0) {
    try {
      auto& e = engine();
      j["torch"] = e.torch_version();
      j["cuda_available"] = e.cuda_available();
      j["cuda_devices"] = e.cuda_device_count();
    } catch (const Error& e) {
      j["torch"] = nullptr;
      j["engine_error"] = e.what();
    }
  }
  if (ctx.out_opts.json) return o.print_json(j);
  o.line(fmt::format("xops {} (commit {}, {})", version(), git_commit(), build_type()));
  if (j.contains("torch")) {
    if (j["torch"].is_null())
      o.line(fmt::format("libtorch: unavailable ({})", j["engine_error"].get<std::string>()));
    else
      o.line(fmt::format("libtorch {}, CUDA {}", j["torch"].get<std::string>(),
                         j["cuda_available"].get<bool>()
                             ? fmt::format("available ({} devices)", j["cuda_devices"].get<int>())
                             : "not available"));
  }
}

// With --json, an error is also a JSON object on stdout (a script reading stdout sees why it
// failed): {"error": {"kind", "message", "hint", "exit_code"}}. Printed only when the command
// printed no JSON of its own.
void json_error(Context& ctx, const char* kind, const std::string& message, const std::string& hint,
                int code) {
  if (!ctx.out_opts.json || out().printed_json()) return;
  out().print_json(
      {{"error", {{"kind", kind}, {"message", message}, {"hint", hint}, {"exit_code", code}}}});
}

int run_parsed(CLI::App& app, Context& ctx) {
  if (!ctx.chdir.empty() && ::chdir(ctx.chdir.c_str()) != 0)
    throw usage_error(fmt::format("-C {}: {}", ctx.chdir, std::strerror(errno)),
                      "-C takes an existing directory");
  if (ctx.version) {
    print_version(ctx);
    return 0;
  }
  if (!ctx.action) {
    std::fputs(app.help().c_str(), stderr);
    throw usage_error("no command given", "pick one of the commands above");
  }
  return ctx.action();
}

}  // namespace

int run(int argc, char** argv) {
  interrupt::install();  // Ctrl-C: work stops at its next check and ends here with 130
  Context ctx;
  CLI::App app{"xops: version, track, fine-tune, evaluate, promote and serve ML models", "xops"};
  app.fallthrough();
  app.require_subcommand(0, 1);
  app.set_version_flag("");  // we print our own
  app.add_flag("--version", ctx.version, "Print version and build commit (-v adds LibTorch/CUDA)");
  app.add_flag("--json", ctx.out_opts.json, "Machine-readable JSON on stdout");
  app.add_flag("-q,--quiet", ctx.out_opts.quiet, "Only errors on stderr");
  app.add_flag("-v,--verbose", ctx.out_opts.verbosity, "More detail on stderr (repeatable)");
  app.add_option("--color", ctx.out_opts.color, "Colour: auto, always or never (honours NO_COLOR)")
      ->check(CLI::IsMember({"auto", "always", "never"}));
  app.add_option("-C", ctx.chdir, "Run as if started in DIR")->type_name("DIR");

  commands::register_init(app, ctx);
  commands::register_track(app, ctx);
  commands::register_finetune(app, ctx);
  commands::register_eval(app, ctx);
  commands::register_promote(app, ctx);
  commands::register_generate(app, ctx);
  commands::register_serve(app, ctx);
  commands::register_monitor(app, ctx);
  commands::register_ui(app, ctx);
  commands::register_index(app, ctx);
  commands::register_pipeline(app, ctx);
  commands::register_export(app, ctx);
  commands::register_config(app, ctx);
  register_completion(app, ctx);
  auto help_words = std::make_shared<std::vector<std::string>>();
  auto* help = app.add_subcommand("help", "Show the help of a command: xops help [COMMAND...]");
  help->add_option("command", *help_words, "e.g. track run");
  help->callback([&app, &ctx, help_words] {
    ctx.action = [&app, help_words] { return print_help_for(app, *help_words); };
  });
  add_examples(app);

  ctx.out_opts = prescan_output_options(argc, argv);
  try {
    check_verbs(app, argc, argv);
    try {
      app.parse(argc, argv);
    } catch (const CLI::CallForHelp&) {
      std::fputs(app.help().c_str(), stdout);
      return 0;
    } catch (const CLI::CallForAllHelp&) {
      std::fputs(app.help("", CLI::AppFormatMode::All).c_str(), stdout);
      return 0;
    } catch (const CLI::ParseError& e) {
      // --help on a subcommand arrives here too (as CallForHelp from the sub-app).
      if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) {
        app.exit(e);
        return 0;
      }
      auto unknown = unknown_option_hint(app, argc, argv);
      throw usage_error(unknown.empty() ? std::string(e.what()) : unknown,
                        "see `xops --help` or `xops COMMAND --help`");
    }
    out().configure(ctx.out_opts);
    return run_parsed(app, ctx);
  } catch (const Error& e) {
    out().configure(ctx.out_opts);
    out().error(e.what(), e.hint());
    json_error(ctx, kind_name(e.kind()), e.what(), e.hint(), exit_code(e.kind()));
    return exit_code(e.kind());
  } catch (const std::bad_alloc&) {
    const char* what = "out of memory";
    const char* hint =
        "an input asked for more memory than this machine has; see docs/security.md "
        "for the limits xops sets, or give it less at once";
    out().configure(ctx.out_opts);
    out().error(what, hint);
    json_error(ctx, "runtime", what, hint, 1);
    return 1;
  } catch (const std::exception& e) {
    out().configure(ctx.out_opts);
    out().error(e.what(), "");
    json_error(ctx, "runtime", e.what(), "", 1);
    return 1;
  }
}

}  // namespace xops::cli
