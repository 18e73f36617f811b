#pragma once
// The chat template a served model uses: its tokenizer_config.json `chat_template` when our
// Nunjucks renderer can run it (HF templates are Jinja; ChatML-style ones are within the
// subset, ones that call Python string methods or raise_exception are not), else the
// built-in one `xops finetune` trains with.
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace xops {

struct ChatTemplate {
  std::string source;                // empty: the built-in template
  std::string bos_token, eos_token;  // what the template may print
  std::string note;                  // why the model's own template is not used (if so)
  // The prompt for these (role, content) messages, ending where the assistant's turn begins.
  std::string render(const std::vector<std::pair<std::string, std::string>>& messages) const;
};

// The built-in template as Jinja, written into exported GGUF files so llama.cpp (--jinja)
// renders chats as xops does; a GGUF holding exactly this uses the built-in one.
inline constexpr const char* kBuiltinChatJinja =
    "{% for message in messages %}{{ '<|' + message['role'] + '|>\\n' + message['content'] + '\\n' "
    "}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}";

// Reads `chat_template` from MODEL_DIR/tokenizer_config.json and tries it on a sample
// conversation; falls back to the built-in template with a note when it cannot be used.
ChatTemplate load_chat_template(const std::filesystem::path& model_dir);

}  // namespace xops
