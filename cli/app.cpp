#include "cli/app.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/context.hpp"
#include "cli/output.hpp"
#include "cli/suggest.hpp"
#include "commands/commands.hpp"
#include "core/build_info.hpp"
#include "core/engine/engine.hpp"
#include "core/error.hpp"
#include "core/util/interrupt.hpp"

namespace xops::cli {

namespace {

std::vector<std::string> subcommand_names(const CLI::App& app) {
  std::vector<std::string> names;
  for (const auto* s : app.get_subcommands([](const CLI::App*) { return true; }))
    names.push_back(s->get_name());
  return names;
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
    std::string where = level == &app ? "xops" : "xops " + level->get_name();
    auto guess = closest(a, names);
    throw usage_error(
        fmt::format("'{}' is not a command of {}{}", a, where,
                    guess.empty() ? "" : fmt::format(" (did you mean '{}'?)", guess)),
        fmt::format("commands: {}; see `{} --help`", fmt::join(names, ", "), where));
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
void json_error(Context& ctx, const char* kind, const std::string& message, const std::string& hint, int code) {
  if (!ctx.out_opts.json || out().printed_json()) return;
  out().print_json({{"error", {{"kind", kind}, {"message", message}, {"hint", hint}, {"exit_code", code}}}});
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
  commands::register_generate(app, ctx);
  commands::register_config(app, ctx);

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
      throw usage_error(e.what(), "see `xops --help` or `xops COMMAND --help`");
    }
    out().configure(ctx.out_opts);
    return run_parsed(app, ctx);
  } catch (const Error& e) {
    out().configure(ctx.out_opts);
    out().error(e.what(), e.hint());
    json_error(ctx, kind_name(e.kind()), e.what(), e.hint(), exit_code(e.kind()));
    return exit_code(e.kind());
  } catch (const std::exception& e) {
    out().configure(ctx.out_opts);
    out().error(e.what(), "");
    json_error(ctx, "runtime", e.what(), "", 1);
    return 1;
  }
}

}  // namespace xops::cli
