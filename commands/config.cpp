// `xops config`: every setting, its value and where that value came from.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "commands/commands.hpp"
#include "term/context.hpp"
#include "term/table.hpp"

namespace xops::commands {

namespace {
int run_config(cli::Context& ctx) {
  const auto& settings = ctx.settings();
  auto& o = ctx.out();
  if (o.json()) {
    nlohmann::json j = nlohmann::json::object();
    for (const auto& [k, s] : settings.all()) j[k] = {{"value", s.value}, {"origin", s.origin}};
    o.print_json(j);
    return 0;
  }
  cli::Table t({"KEY", "VALUE", "ORIGIN"});
  for (const auto& [k, s] : settings.all()) t.add({k, s.value, s.origin}, {cli::Style::Bold});
  t.print(o);
  return 0;
}
}  // namespace

void register_config(CLI::App& app, cli::Context& ctx) {
  auto* sub = app.add_subcommand(
      "config", "Show each setting, its value and its origin (flag > XOPS_* env > xops.yaml > "
                "user config > default)");
  for (const auto& spec : setting_specs()) {
    auto key = std::string(spec.key);
    sub->add_option_function<std::string>(
        "--" + key, [&ctx, key](const std::string& v) { ctx.setting_flags[key] = v; }, spec.help);
  }
  sub->callback([&ctx] { ctx.action = [&ctx] { return run_config(ctx); }; });
}

}  // namespace xops::commands
