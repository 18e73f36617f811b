// The reference WordPiece ids: Hugging Face's own tokenizers.js (@huggingface/tokenizers, a
// port of the Rust tokenizers) run on the fixture's tokenizer.json and strings.json.
// Run by regenerate.sh; writes wordpiece_expected.json.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Tokenizer } from "@huggingface/tokenizers";

// Run from a scratch directory holding node_modules; argv[2] is tests/compat/bert.
const here = process.argv[2];
const fixture = join(here, "..", "..", "fixtures", "bert-tiny");
const tokenizerJson = JSON.parse(readFileSync(join(fixture, "tokenizer.json"), "utf8"));
const config = JSON.parse(readFileSync(join(fixture, "tokenizer_config.json"), "utf8"));
const tok = new Tokenizer(tokenizerJson, config);
const strings = JSON.parse(readFileSync(join(here, "strings.json"), "utf8"));
const out = strings.map((text) => ({ text, ids: tok.encode(text).ids }));
writeFileSync(join(here, "wordpiece_expected.json"), JSON.stringify(out, null, 1) + "\n");
console.log(`recorded ${out.length} strings with @huggingface/tokenizers`);
