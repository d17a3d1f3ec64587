-- sla_spec.lua — policies/sla.lua through the real engine (tests/fixtures/policies.lua).
local H = dofile((os.getenv("SY_SOURCE_DIR") or ".") .. "/tests/fixtures/spec_helper.lua")

local TOKENS_20K = string.rep("abcd ", 10000) -- 20000 tokens (o200k_base): only flash and up hold it
local TOKENS_40K = string.rep("abcd ", 20000) -- 40000 tokens: only medium and up hold it

describe("policies/sla.lua", function()
  local engine
  local function route(text, meta, fields)
    fields = fields or {}
    fields.metadata = meta
    return assert(engine:route(H.request(text, fields), "sla"))
  end

  setup(function() engine = H.engine() end)

  it("gives a request without tier or priority the standard ceilings, cheapest first", function()
    local d = route("hi")
    assert.equal("tiny", d.model)
    assert.same({ "tiny", "small", "flash" }, d.chain)
    assert.equal("chain", d.kind)
    assert.equal("sla standard/normal: $0.001/$0.004 per 1k, p95 <= 1500 ms", d.reason)
  end)

  it("treats an unknown tier and priority as standard and normal", function()
    local d = route("hi", { tier = "gold", priority = "urgent" })
    assert.equal("sla standard/normal: $0.001/$0.004 per 1k, p95 <= 1500 ms", d.reason)
  end)

  it("keeps a free-tier request within the free price ceiling", function()
    local d = route(TOKENS_20K, { tier = "free" })
    assert.same({ "flash" }, d.chain)
    assert.equal("sla free/normal: $0.0005/$0.002 per 1k, p95 <= 2000 ms", d.reason)
  end)

  it("lets standard traffic use the medium model when the cheap ones are too small", function()
    local d = route(TOKENS_20K, { tier = "standard" })
    assert.same({ "flash", "medium" }, d.chain)
  end)

  it("lets low-priority enterprise traffic use slow long-context models", function()
    local d = route(TOKENS_20K, { tier = "enterprise", priority = "low" })
    assert.same({ "flash", "medium", "long" }, d.chain)
    assert.equal("sla enterprise/low: $0.01/$0.04 per 1k, p95 <= 10000 ms", d.reason)
  end)

  it("halves the latency ceiling and doubles the price ceiling for high priority", function()
    local d = route("hi", { tier = "premium", priority = "high" })
    assert.same({ "tiny", "small" }, d.chain)
    assert.equal("sla premium/high: $0.006/$0.024 per 1k, p95 <= 750 ms", d.reason)
  end)

  it("counts max_tokens against the context window", function()
    local d = route("hi", nil, { max_tokens = 8000 })
    assert.same({ "small", "flash", "medium" }, d.chain)
  end)

  it("picks the fastest model that holds the request when no model meets the SLA", function()
    local d = route(TOKENS_40K, { tier = "free" })
    assert.equal("pick", d.kind)
    assert.same({ "medium" }, d.chain)
    assert.equal("sla free/normal not met: fastest model", d.reason)
  end)

  it("picks the fastest model of all when none even holds the request", function()
    local d = route("hi", { tier = "free" }, { max_tokens = 2000000 })
    assert.same({ "tiny" }, d.chain)
    assert.equal("sla free/normal not met: fastest model", d.reason)
  end)

  it("routes every odd request without failing", function()
    assert.equal("", H.odd_failures(engine, "sla"))
  end)
end)
