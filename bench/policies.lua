-- bench/policies.lua — the config of sy-policy-bench (policy_bench.c, run by policy.sh): the
-- quickstart's three simulated models and one route per ready policy, named after the policy.
--
-- SY_BENCH_POLICIES (names separated by spaces) limits the routes to those policies;
-- sy-policy-bench sets it to the policies/*.lua files that exist when it is not set, so a policy
-- that is not written yet is skipped instead of failing the whole config.
-- Check it with: switchyard check bench/policies.lua

server { log_level = "warn" }

provider { id = "sim", kind = "sim", seed = 42, time_scale = 0 }

model {
  id = "small", provider = "sim", upstream = "sim-small",
  price = { input = 0.00015, output = 0.0006 },
  context_window = 16384, max_output = 4096,
  capabilities = { "json", "stream" },
  latency = { p50 = 250, p95 = 600 },
  tags = { "cheap", "fast" },
}

model {
  id = "medium", provider = "sim", upstream = "sim-medium",
  price = { input = 0.0008, output = 0.0032 },
  context_window = 128000, max_output = 8192,
  capabilities = { "json", "tools", "stream" },
  latency = { p50 = 500, p95 = 1100 },
  tags = { "balanced" },
}

model {
  id = "large", provider = "sim", upstream = "sim-large",
  price = { input = 0.0025, output = 0.01 },
  context_window = 128000, max_output = 16384,
  capabilities = { "json", "tools", "vision", "stream" },
  latency = { p50 = 900, p95 = 1450 },
  tags = { "frontier" },
}

local POLICIES = os.getenv("SY_BENCH_POLICIES")
  or "starter heuristic sla cheapest_fit cascade composite"

for name in POLICIES:gmatch("[%w_]+") do
  -- budget_ms is the default (2 ms): a policy that overruns it on the 32 KB prompt shows up
  -- as SY_EPOLICY in the bench's `fail` column, as it would fall back in the gateway
  route { name = name, policy = "../policies/" .. name .. ".lua", default = "large" }
end
