#include "core/eval/context_assertions.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <set>

#include "core/error.hpp"
#include "core/eval/suite.hpp"

namespace xops {

namespace {

using json = nlohmann::json;

// promptfoo 0.121.20's prompts (src/prompts/index.ts), verbatim.
const char* kContextRecall =
    "Given a context, and an answer, analyze each sentence in the answer and classify if the "
    "sentence can be "
    "attributed to the given context or not.\nThink in steps and reason before coming to "
    "conclusion.\n\ncontext: "
    "Albert Einstein (14 March 1879 \xE2\x80\x93 18 April 1955) was a German-born theoretical "
    "physicist,widely held "
    "to be one of the greatest and most influential scientists of all time. Best known for "
    "developing the theory of "
    "relativity, he also made important contributions to quantum mechanics, and was thus a central "
    "figure in the "
    "revolutionary reshaping of the scientific understanding of nature that modern physics "
    "accomplished in the first "
    "decades of the twentieth century. His mass\xE2\x80\x93"
    "energy equivalence formula E = mc2, which arises from "
    "relativity theory, has been called \"the world's most famous equation\". He received the 1921 "
    "Nobel Prize in "
    "Physics \"for his services to theoretical physics, and especially for his discovery of the "
    "law of the "
    "photoelectric effect\", a pivotal step in the development of quantum theory. His work is also "
    "known for its "
    "influence on the philosophy of science. In a 1999 poll of 130 leading physicists worldwide by "
    "the British "
    "journal Physics World, Einstein was ranked the greatest physicist of all time. His "
    "intellectual achievements "
    "and originality have made Einstein synonymous with genius.\nanswer: Albert Einstein born in "
    "14 March 1879 was  "
    "German-born theoretical physicist, widely held to be one of the greatest and most influential "
    "scientists of all "
    "time. He received the 1921 Nobel Prize in Physics \"for his services to theoretical physics. "
    "He published 4 "
    "papers in 1905.  Einstein moved to Switzerland in 1895\nclassification\n1. Albert Einstein "
    "born in 14 March 1879 "
    "was  German-born theoretical physicist, widely held to be one of the greatest and most "
    "influential scientists "
    "of all time. The date of birth of Einstein is mentioned clearly in the context. So "
    "[Attributed]\n2. He received "
    "the 1921 Nobel Prize in Physics \"for his services to theoretical physics. The exact sentence "
    "is present in the "
    "given context. So [Attributed]\n3. He published 4 papers in 1905. There is no mention about "
    "papers he wrote in "
    "given the context. So [Not Attributed]\n4. Einstein moved to Switzerland in 1895. There is "
    "not supporting "
    "evidence for this in the given the context. So [Not Attributed]\n\ncontext:{{context}}\n"
    "answer:{{groundTruth}}\nclassification:\n";
const char* kAttributed = "[attributed]";
const char* kNotAttributed = "[not attributed]";
const char* kContextRelevance =
    "Please extract relevant sentences from the provided context that is absolutely required "
    "answer the following "
    "query. If no relevant sentences are found, or if you believe the query cannot be answered "
    "from the given "
    "context, return the phrase \"Insufficient Information\".  While extracting candidate "
    "sentences you're not "
    "allowed to make any changes to sentences from given context.\n\nquery: {{query}}\ncontext: "
    "{{context}}\n"
    "candidate sentences:\n";
const char* kInsufficient = "Insufficient Information";
const char* kFaithfulnessLongform =
    "Given a question and answer, create one or more statements from each sentence in the given "
    "answer.\nquestion: "
    "Who was  Albert Einstein and what is he best known for?\nanswer: He was a German-born "
    "theoretical physicist, "
    "widely acknowledged to be one of the greatest and most influential physicists of all time. He "
    "was best known "
    "for developing the theory of relativity, he also made important contributions to the "
    "development of the theory "
    "of quantum mechanics.\nstatements:\nAlbert Einstein was born in Germany.\nAlbert Einstein was "
    "best known for his "
    "theory of relativity.\nquestion: Cadmium Chloride is slightly soluble in this chemical, it is "
    "also called "
    "what?\nanswer: alcohol\nstatements:\nCadmium Chloride is slightly soluble in "
    "alcohol.\nquestion: Were Shahul and "
    "Jithin of the same nationality?\nanswer: They were from different "
    "countries.\nstatements:\nShahul and Jithin "
    "were from different countries.\nquestion:{{question}}\nanswer: {{answer}}\nstatements:\n";
const char* kFaithfulnessNli =
    "Prompt: Natural language inference\nConsider the given context and following statements, then "
    "determine "
    "whether they are supported by the information present in the context.Provide a brief "
    "explanation for each "
    "statement before arriving at the verdict (Yes/No). Provide a final verdict for each statement "
    "in order at the "
    "end in the given format. Do not deviate from the specified format.\n\nContext:\nJohn is a "
    "student at XYZ "
    "University. He is pursuing a degree in Computer Science. He is enrolled in several courses "
    "this semester, "
    "including Data Structures, Algorithms, and Database Management. John is a diligent student "
    "and spends a "
    "significant amount of time studying and completing assignments. He often stays late in the "
    "library to work on "
    "his projects.\nstatements:\n1. John is majoring in Biology.\n2. John is taking a course on "
    "Artificial "
    "Intelligence.\n3. John is a dedicated student.\n4. John has a part-time job.\n5. John is "
    "interested in computer "
    "programming.\n\nAnswer:\n1. John is majoring in Biology.\nExplanation: John's major is "
    "explicitly mentioned as "
    "Computer Science. There is no information suggesting he is majoring in Biology.  Verdict: "
    "No.\n2. John is "
    "taking a course on Artificial Intelligence.\nExplanation: The context mentions the courses "
    "John is currently "
    "enrolled in, and Artificial Intelligence is not mentioned. Therefore, it cannot be deduced "
    "that John is taking a "
    "course on AI. Verdict: No.\n3. John is a dedicated student.\nExplanation: The prompt states "
    "that he spends a "
    "significant amount of time studying and completing assignments. Additionally, it mentions "
    "that he often stays "
    "late in the library to work on his projects, which implies dedication. Verdict: Yes.\n4. John "
    "has a part-time "
    "job.\nExplanation: There is no information given in the context about John having a part-time "
    "job. Therefore, "
    "it cannot be deduced that John has a part-time job.  Verdict: No.\n5. John is interested in "
    "computer "
    "programming.\nExplanation: The context states that John is pursuing a degree in Computer "
    "Science, which implies "
    "an interest in computer programming. Verdict: Yes.\nFinal verdict for each statement in "
    "order: No. No. Yes. No. "
    "Yes.\ncontext:\n{{context}}\nstatements:\n{{statements|join(\"\\n\")}}\nAnswer:\n";

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

bool blank(const std::string& s) {
  return s.find_first_not_of(" \t\r\n\f\v") == std::string::npos;
}

std::string trim(const std::string& s) {
  auto a = s.find_first_not_of(" \t\r\n\f\v");
  if (a == std::string::npos) return "";
  auto b = s.find_last_not_of(" \t\r\n\f\v");
  return s.substr(a, b - a + 1);
}

// The judge that grades: the assertion's provider, else the suite's.
std::string judge_of(const AssertionContext& ctx, const std::string& judge, const char* type) {
  auto j = !judge.empty() ? judge : ctx.default_judge;
  if (j.empty() || !ctx.ask)
    throw runtime_error(
        fmt::format("{} needs a judge provider (none given)", type),
        "set `provider:` on the assertion or defaultTest.options.provider, or --judge");
  return j;
}

// The `context` var: a string, or a list of strings (joined by blank lines, as promptfoo's
// serializeContext does). `fallback` when there is none (context-recall: the prompt).
struct Context {
  std::string text;
  std::vector<std::string> list;  // the list form, when the var is one
  bool is_list = false;
};
Context context_of(const AssertionContext& ctx, const char* type, const std::string* fallback) {
  Context c;
  const json* v =
      ctx.values && ctx.values->contains("context") ? &(*ctx.values)["context"] : nullptr;
  if (v && v->is_string() && !v->get<std::string>().empty()) {
    c.text = v->get<std::string>();
  } else if (v && v->is_array() && !v->empty()) {
    for (size_t i = 0; i < v->size(); ++i) {
      if (!(*v)[i].is_string() || (*v)[i].get<std::string>().empty())
        throw runtime_error(
            fmt::format("{}: the context list has a non-string or empty entry at {}", type, i));
      c.list.push_back((*v)[i].get<std::string>());
    }
    c.is_list = true;
    for (size_t i = 0; i < c.list.size(); ++i) c.text += (i ? "\n\n" : "") + c.list[i];
  } else if (fallback && !fallback->empty()) {
    c.text = *fallback;
  } else {
    throw runtime_error(
        fmt::format("{} needs a context: a \"context\" var (a string or a list of strings), "
                    "or a retrieval var named context",
                    type),
        "context: {retrieve: INDEX, query: \"{{query}}\"} fills it from an index");
  }
  return c;
}

std::string query_of(const AssertionContext& ctx, const char* type) {
  if (!ctx.values || !ctx.values->contains("query") || !(*ctx.values)["query"].is_string())
    throw runtime_error(fmt::format("{} needs a \"query\" var with the user's question", type));
  return (*ctx.values)["query"].get<std::string>();
}

json with_vars(const AssertionContext& ctx, json extra) {
  json v = ctx.values ? *ctx.values : json::object();
  for (auto& [k, x] : extra.items()) v[k] = x;
  return v;
}

std::string num(double v) {
  return fmt::format("{}", v);
}

AssertionResult verdict(double score, double threshold, const char* what) {
  AssertionResult r;
  r.score = score;
  r.pass = score >= threshold - 2.220446049250313e-16;
  r.reason = fmt::format("{} {:.2f} is {} {}", what, score, r.pass ? ">=" : "<", num(threshold));
  return r;
}

AssertionResult no_output() {
  return {false, 0, "No output"};
}

}  // namespace

std::vector<std::string> split_lines_nonblank(const std::string& text) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos <= text.size()) {
    auto nl = text.find('\n', pos);
    auto line = text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    if (!blank(line)) out.push_back(line);
    if (nl == std::string::npos) break;
    pos = nl + 1;
  }
  return out;
}

std::vector<std::string> split_text_sentences(const std::string& text) {
  auto lines = split_lines_nonblank(text);
  std::vector<std::string> parts;
  if (lines.size() > 1) {
    parts = lines;
  } else {  // split after . ! ? followed by whitespace (/(?<=[.!?])\s+/)
    size_t start = 0, i = 0;
    while (i < text.size()) {
      if ((text[i] == '.' || text[i] == '!' || text[i] == '?') && i + 1 < text.size() &&
          std::isspace(static_cast<unsigned char>(text[i + 1]))) {
        parts.push_back(text.substr(start, i + 1 - start));
        size_t j = i + 1;
        while (j < text.size() && std::isspace(static_cast<unsigned char>(text[j]))) ++j;
        start = i = j;
        continue;
      }
      ++i;
    }
    parts.push_back(text.substr(start));
  }
  std::vector<std::string> out;
  for (auto& p : parts) {
    auto t = trim(p);
    if (t.empty()) continue;
    // A bare list marker ("1." / "2)") is not a unit.
    size_t d = 0;
    while (d < t.size() && std::isdigit(static_cast<unsigned char>(t[d]))) ++d;
    if (d > 0 && d + 1 == t.size() && (t[d] == '.' || t[d] == ')')) continue;
    out.push_back(t);
  }
  return out;
}

AssertionResult check_context_recall(const AssertionContext& ctx, const std::string& judge,
                                     const std::string& ground_truth, double threshold) {
  auto j = judge_of(ctx, judge, "context-recall");
  auto c = context_of(ctx, "context-recall", &ctx.prompt);
  auto prompt = render_template(
      kContextRecall, with_vars(ctx, {{"context", c.text}, {"groundTruth", ground_truth}}),
      "context-recall prompt");
  auto answer = ctx.ask(j, prompt);
  if (answer.empty()) return no_output();
  size_t total = 0, attributed = 0;
  json sentences = json::array();
  for (const auto& line : split_lines_nonblank(answer)) {
    auto l = lower(line);
    bool has_attr = l.find(kAttributed) != std::string::npos,
         has_not = l.find(kNotAttributed) != std::string::npos;
    if (!has_attr && !has_not) continue;
    ++total;
    bool ok = !has_not && has_attr;
    attributed += ok;
    sentences.push_back({{"sentence", line.substr(0, 200)}, {"attributed", ok}});
  }
  auto r = verdict(total ? double(attributed) / double(total) : 0.0, threshold, "Recall");
  r.detail = {{"context", c.text}, {"attributed", attributed}, {"sentences", sentences}};
  return r;
}

AssertionResult check_context_relevance(const AssertionContext& ctx, const std::string& judge,
                                        double threshold) {
  auto j = judge_of(ctx, judge, "context-relevance");
  auto query = query_of(ctx, "context-relevance");
  auto c = context_of(ctx, "context-relevance", nullptr);
  auto prompt = render_template(kContextRelevance, json{{"context", c.text}, {"query", query}},
                                "context-relevance prompt");
  auto answer = ctx.ask(j, prompt);
  if (answer.empty()) return no_output();
  bool pre_segmented = c.is_list || split_lines_nonblank(c.text).size() > 1;
  std::vector<std::string> units;
  if (c.is_list) {
    for (const auto& x : c.list)
      if (!blank(x)) units.push_back(x);
  } else {
    units = split_text_sentences(c.text);
  }
  size_t relevant = 0;
  if (answer.find(kInsufficient) == std::string::npos) {
    auto found = pre_segmented ? split_lines_nonblank(answer) : split_text_sentences(answer);
    relevant = std::set<std::string>(found.begin(), found.end()).size();
  }
  size_t n = std::min(relevant, units.size());
  auto r = verdict(units.empty() ? 0.0 : double(n) / double(units.size()), threshold,
                   "Context relevance");
  r.detail = {{"context", c.text}, {"context_units", units.size()}, {"relevant_units", n}};
  return r;
}

AssertionResult check_context_faithfulness(const AssertionContext& ctx, const std::string& judge,
                                           double threshold) {
  auto j = judge_of(ctx, judge, "context-faithfulness");
  auto query = query_of(ctx, "context-faithfulness");
  auto c = context_of(ctx, "context-faithfulness", nullptr);
  auto first =
      ctx.ask(j, render_template(kFaithfulnessLongform,
                                 with_vars(ctx, {{"question", query}, {"answer", ctx.output}}),
                                 "context-faithfulness prompt"));
  if (first.empty()) return no_output();
  auto statements = split_lines_nonblank(first);
  auto answer =
      ctx.ask(j, render_template(kFaithfulnessNli,
                                 with_vars(ctx, {{"context", c.text}, {"statements", statements}}),
                                 "context-faithfulness prompt"));
  if (answer.empty()) return no_output();
  const std::string final_answer = "final verdict for each statement in order:";
  auto verdicts = trim(lower(answer));
  double score = 0;
  double n = static_cast<double>(statements.size());
  if (!statements.empty()) {
    auto at = verdicts.find(final_answer);
    if (at != std::string::npos) {
      verdicts = verdicts.substr(at + final_answer.size());
      std::vector<std::string> parsed;
      size_t pos = 0;
      while (pos <= verdicts.size()) {
        auto dot = verdicts.find('.', pos);
        auto part = verdicts.substr(pos, dot == std::string::npos ? std::string::npos : dot - pos);
        if (!trim(part).empty()) parsed.push_back(part);
        if (dot == std::string::npos) break;
        pos = dot + 1;
      }
      if (!parsed.empty()) {
        double not_yes = 0;
        for (const auto& p : parsed) not_yes += p.find("yes") == std::string::npos;
        score = 1 - (not_yes + std::max(0.0, n - double(parsed.size()))) / n;
      }
    } else {
      auto count = [&](const std::string& needle) {
        double k = 0;
        for (size_t p = verdicts.find(needle); p != std::string::npos;
             p = verdicts.find(needle, p + needle.size()))
          ++k;
        return k;
      };
      double no = count("verdict: no"), yes = count("verdict: yes");
      if (no + yes > 0) score = 1 - (no + std::max(0.0, n - no - yes)) / n;
    }
  }
  score = std::min(1.0, std::max(0.0, score));
  auto r = verdict(score, threshold, "Faithfulness");
  r.detail = {{"context", c.text}, {"statements", statements}};
  return r;
}

}  // namespace xops
