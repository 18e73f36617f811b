#!/usr/bin/env bash
# Rebuilds tests/fixtures/bert-tiny and the two reference files beside this script:
# the model (numpy), the WordPiece ids (Hugging Face's tokenizers.js from npm), the
# embeddings (an independent numpy forward). Needs python3-numpy and npm.
set -euo pipefail
cd "$(dirname "$0")"
/usr/bin/python3 make_fixture.py model
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm init -y >/dev/null && npm install --silent @huggingface/tokenizers@0.2.0 >/dev/null)
cp record_wordpiece.mjs "$work/"
(cd "$work" && node record_wordpiece.mjs "$OLDPWD")
/usr/bin/python3 make_fixture.py expect
echo "regenerated: ../../fixtures/bert-tiny, wordpiece_expected.json, embeddings_expected.json"
