// tests/tokens/chat_counts.mjs — the expected numbers of tests/c/test_tokens.c, made with
// js-tiktoken and the chat counting rule written out independently in JavaScript (OpenAI
// cookbook's num_tokens_from_messages and num_tokens_for_tools, plus switchyard's documented
// additions for images and tool calls: src/tokens/sy_tokens.h).
// Run: cd tests/tokens && npm ci && node chat_counts.mjs
import { getEncoding } from "js-tiktoken";

export const REQUESTS = {
  escapes: { model: "x", messages: [{ role: "user", content: "line one\nline two \u00e9t\u00e9 \"quoted\" tab\there" }] },
  named: { model: "x", messages: [{ role: "system", content: "Be brief." }, { role: "user", name: "alice", content: "Hi there" }] },
  images: { model: "x", messages: [{ role: "user", content: [
    { type: "text", text: "What is in these images?" },
    { type: "image_url", image_url: { url: "https://example.com/a.png", detail: "low" } },
    { type: "image_url", image_url: { url: "https://example.com/b.png" } }] }] },
  tool_calls: { model: "x", messages: [
    { role: "user", content: "Weather in Paris?" },
    { role: "assistant", content: null, tool_calls: [{ id: "call_1", type: "function", function: { name: "get_weather", arguments: "{\"city\":\"Paris\"}" } }] },
    { role: "tool", tool_call_id: "call_1", content: "18C and sunny" }] },
  tools: { model: "x", messages: [{ role: "user", content: "What's the weather like in San Francisco?" }],
    tools: [{ type: "function", function: { name: "get_current_weather", description: "Get the current weather in a given location.",
      parameters: { type: "object", properties: {
        location: { type: "string", description: "The city and state, e.g. San Francisco, CA" },
        unit: { type: "string", description: "The unit of temperature.", enum: ["celsius", "fahrenheit"] } },
        required: ["location"] } } },
      { type: "function", function: { name: "noop", description: "Does nothing", parameters: { type: "object", properties: {} } } }] },
};

function countMessages(enc, msgs) {
  let n = 3;
  for (const m of msgs) {
    n += 3;
    for (const [k, v] of Object.entries(m)) {
      if (typeof v === "string") { n += enc.encode(v).length; if (k === "name") n += 1; }
      else if (k === "content" && Array.isArray(v)) {
        for (const p of v) {
          if (typeof p.text === "string") n += enc.encode(p.text).length;
          else if (p.image_url) n += p.image_url.detail === "low" ? 85 : 765;
        }
      } else if (k === "tool_calls" && Array.isArray(v)) {
        for (const c of v) n += 3 + enc.encode(c.function.name).length + enc.encode(c.function.arguments).length;
      }
    }
  }
  return n;
}

function countTools(enc, tools, funcInit) {
  if (!tools || !tools.length) return 0;
  let n = 0;
  const strip = (s) => (s.endsWith(".") ? s.slice(0, -1) : s);
  for (const t of tools) {
    const f = t.function;
    n += funcInit;
    n += enc.encode(`${f.name}:${strip(f.description || "")}`).length;
    const props = (f.parameters && f.parameters.properties) || {};
    if (Object.keys(props).length) {
      n += 3;
      for (const [k, p] of Object.entries(props)) {
        n += 3;
        if (p.enum) { n -= 3; for (const e of p.enum) n += 3 + enc.encode(e).length; }
        n += enc.encode(`${k}:${p.type}:${strip(p.description || "")}`).length;
      }
    }
  }
  return n + 12;
}

const out = {};
for (const [name, req] of Object.entries(REQUESTS)) {
  out[name] = { json: JSON.stringify(req) };
  for (const [encName, funcInit] of [["cl100k_base", 10], ["o200k_base", 7]]) {
    const enc = getEncoding(encName);
    out[name][encName] = countMessages(enc, req.messages) + countTools(enc, req.tools, funcInit);
  }
  out[name].estimate = Math.ceil(out[name].o200k_base * 1.25);
}
console.log(JSON.stringify(out, null, 1));
