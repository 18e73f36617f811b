#pragma once
// `javascript` and `python` assertions as promptfoo runs them: inline code (an expression, or a
// function body when it spans lines) or `file://path.js[:function]` / `file://path.py[:function]`
// (Python's default function: get_assert), called with (output, context) where context holds
// prompt, vars, test and config. One long-lived worker per language (node, python3), started on
// first use and reused for every case; a call that times out kills its worker (the next call
// starts a new one). The result is normalised with promptfoo's rules: a boolean passes or fails,
// a number is a score that passes when > 0 (or >= threshold), an object is {pass, score, reason}.
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

#include "core/eval/suite.hpp"

namespace xops {

class LineChild;

class ScriptWorkers {
 public:
  ScriptWorkers();
  ~ScriptWorkers();
  // Runs one call: `request` holds code or file/function, output and context. Returns the
  // value the function returned; throws runtime errors for failures (its message says why).
  nlohmann::json call(const std::string& language, const nlohmann::json& request, int timeout_ms);

 private:
  struct Worker {
    std::mutex mu;
    std::unique_ptr<LineChild> child;
  };
  Worker js_, py_;
};

struct AssertionResult;
// Normalises what a script returned (promptfoo's scriptResultNormalization), `inverse` for not-.
AssertionResult normalize_script_result(const std::string& language, const nlohmann::json& value,
                                        const AssertionSpec& a, bool inverse);

}  // namespace xops
