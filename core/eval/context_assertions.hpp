#pragma once
// promptfoo's RAG assertions, graded by a judge model with promptfoo's own prompts and scoring
// (src/matchers/rag.ts, RAGAS-style): context-recall (how much of the expected answer the
// context supports), context-relevance (how much of the context the query needs),
// context-faithfulness (how much of the output the context supports). The context is the
// `context` var (a string or a list of strings; a retrieval var fills it), the query the
// `query` var; context-recall falls back to the prompt. The threshold defaults to 0.
#include <string>

#include "core/eval/assertions.hpp"

namespace xops {

AssertionResult check_context_recall(const AssertionContext& ctx, const std::string& judge,
                                     const std::string& ground_truth, double threshold);
AssertionResult check_context_relevance(const AssertionContext& ctx, const std::string& judge,
                                        double threshold);
AssertionResult check_context_faithfulness(const AssertionContext& ctx, const std::string& judge,
                                           double threshold);

// promptfoo's splitIntoSentences (non-blank lines) and splitTextIntoSentences (lines when
// there are two or more, else sentence ends), for tests.
std::vector<std::string> split_lines_nonblank(const std::string& text);
std::vector<std::string> split_text_sentences(const std::string& text);

}  // namespace xops
