// The official OpenAI Node client against `xops serve` (the model was trained on raw
// "Date: ...\nLong:" text, so a plain completion, not a chat).
// Usage: NODE_PATH=.cache/npm/node_modules node client.cjs BASE_URL MODEL
const OpenAI = require('openai');

async function main() {
  const [baseURL, model] = process.argv.slice(2);
  const client = new OpenAI({ baseURL, apiKey: 'unused-on-loopback' });
  const r = await client.completions.create({
    model,
    prompt: 'Date: 2061-04-05\nLong:',
    max_tokens: 24,
    temperature: 0,
    stop: ['\n'],
  });
  console.log(JSON.stringify({ id: r.id, content: r.choices[0].text, usage: r.usage }));
}

main().catch((e) => {
  console.error(e.message);
  process.exit(1);
});
