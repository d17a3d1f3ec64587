-- tests/clients/conformance.lua — the gateway that run_conformance.sh starts for the official
-- SDKs (conformance.mjs): the quickstart's three sim models, made deterministic and fast
-- (no broken JSON, time_scale 0.01), its two routes, and two models behind the mock upstream
-- (tests/mock): `tooler` (OpenAI-compatible, always answers with a call of get_weather) and
-- `claude` (the mock's Anthropic Messages API, through the anthropic provider).
-- run_conformance.sh passes --listen and SY_MOCK_PORT (the mock upstream's port).

server { listen = "127.0.0.1:0", workers = 1 }

provider { id = "sim", kind = "sim", seed = 42, time_scale = 0.01 }
provider { id = "mock", kind = "openai",
           base_url = "http://127.0.0.1:" .. (os.getenv("SY_MOCK_PORT") or "9") .. "/v1" }
provider { id = "mock_anthropic", kind = "anthropic",
           base_url = "http://127.0.0.1:" .. (os.getenv("SY_MOCK_PORT") or "9") .. "/v1" }

model {
  id = "small", provider = "sim", upstream = "sim-small",
  price = { input = 0.00015, output = 0.0006 },
  context_window = 16384, max_output = 4096,
  capabilities = { "json", "stream" },
  latency = { p50 = 250, p95 = 600 },
  sim = { tokens_per_second = 120 },
}

model {
  id = "medium", provider = "sim", upstream = "sim-medium",
  price = { input = 0.0008, output = 0.0032 },
  context_window = 128000, max_output = 8192,
  capabilities = { "json", "tools", "stream" },
  latency = { p50 = 500, p95 = 1100 },
  sim = { tokens_per_second = 80 },
}

model {
  id = "large", provider = "sim", upstream = "sim-large",
  price = { input = 0.0025, output = 0.01 },
  context_window = 128000, max_output = 16384,
  capabilities = { "json", "tools", "vision", "stream" },
  latency = { p50 = 900, p95 = 1450 },
  sim = { tokens_per_second = 50 },
}

-- the mock answers every request to this model with a call of get_weather({"city":"Paris"})
model {
  id = "tooler", provider = "mock",
  upstream = "mock?tool=get_weather&content=%7B%22city%22%3A%22Paris%22%7D",
  price = { input = 0.001, output = 0.002 },
  context_window = 128000, capabilities = { "json", "tools" },
}

-- the mock's Messages API answers "Hello from <upstream>", streamed in 4 pieces when asked
model {
  id = "claude", provider = "mock_anthropic", upstream = "mock?tag=conformance&chunks=4",
  price = { input = 0.0008, output = 0.004 },
  context_window = 200000, max_output = 8192, capabilities = { "json", "tools", "stream" },
}

route { name = "auto", policy = "../../policies/composite.lua", default = "large" }
route { name = "starter", policy = "../../policies/starter.lua", default = "large" }
