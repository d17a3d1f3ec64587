-- examples/quickstart.lua — the config `make run` serves: three simulated models behind one
-- routed virtual model, "auto". No API key and no network needed.
-- Reference: README.md, section "Configuration". Check it with: switchyard check examples/quickstart.lua

server {
  listen = "127.0.0.1:8080",
  -- workers = 4,          -- default: one per core
  max_body = "8MiB",
  request_timeout_ms = 120000,
}

-- Built-in simulated models: answer in-process, stream, fail on demand, deterministic per seed.
provider { id = "sim", kind = "sim", seed = 42 }

-- A real OpenAI-compatible provider (OpenAI, vLLM, Ollama, llama.cpp, Groq, Together...):
-- provider { id = "openai", kind = "openai", base_url = "https://api.openai.com/v1",
--            api_key_env = "OPENAI_API_KEY", timeout_ms = 60000 }
-- model { id = "gpt-4o-mini", provider = "openai", upstream = "gpt-4o-mini",
--         price = { input = 0.00015, output = 0.0006 }, context_window = 128000 }

model {
  id = "small", provider = "sim", upstream = "sim-small",
  price = { input = 0.00015, output = 0.0006 },        -- USD per 1k tokens
  context_window = 16384, max_output = 4096,
  capabilities = { "json", "stream" },
  tokenizer = "o200k_base",
  latency = { p50 = 250, p95 = 600 },                  -- ms, the static profile
  tags = { "cheap", "fast" },
  -- a small model breaks JSON now and then: one structured answer in five misses a required
  -- field (caught and escalated), one in five comes wrapped in a Markdown fence (normalised)
  sim = { tokens_per_second = 120, invalid_json_rate = 0.2, fenced_json_rate = 0.2 },
}

model {
  id = "medium", provider = "sim", upstream = "sim-medium",
  price = { input = 0.0008, output = 0.0032 },
  context_window = 128000, max_output = 8192,
  capabilities = { "json", "tools", "stream" },
  tokenizer = "o200k_base",
  latency = { p50 = 500, p95 = 1100 },
  tags = { "balanced" },
  sim = { tokens_per_second = 80 },
}

model {
  id = "large", provider = "sim", upstream = "sim-large",
  price = { input = 0.0025, output = 0.01 },
  context_window = 128000, max_output = 16384,
  capabilities = { "json", "tools", "vision", "stream" },
  tokenizer = "o200k_base",
  latency = { p50 = 900, p95 = 1450 },
  tags = { "frontier" },
  sim = { tokens_per_second = 50 },
}

-- "auto" is a virtual model: its policy picks a real one per request (client metadata, then
-- heuristics on the prompt, SLA ceilings, context and capability fit; a cascade when unsure).
-- A request too long for every model the policy chose is a 400 context_length_exceeded; add
-- truncate = "drop_oldest" (or "middle_out") to trim old turns instead.
route { name = "auto", policy = "../policies/composite.lua", default = "large" }
-- "starter" is the first policy to read and copy: a dozen lines of rules.
route { name = "starter", policy = "../policies/starter.lua", default = "large" }
