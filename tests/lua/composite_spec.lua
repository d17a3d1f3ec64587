-- composite_spec.lua — policies/composite.lua through the real engine: the fixture config
-- (tests/fixtures/policies.lua, route "composite") and the quickstart's "auto" route, whose
-- answers README.md shows.
local H = dofile((os.getenv("SY_SOURCE_DIR") or ".") .. "/tests/fixtures/spec_helper.lua")

local TOOLS, IMAGE = H.TOOLS, H.IMAGE
local HARD = "Analyse this architecture step by step"

describe("policies/composite.lua", function()
  local engine
  local function route(text, fields)
    return assert(engine:route(H.request(text, fields), "composite"))
  end

  setup(function() engine = H.engine() end)

  it("sends a short question to the small tier, with the stronger tiers as fallbacks", function()
    local d = route("What is the capital of France?")
    assert.equal("small", d.model)
    assert.same({ "small", "medium", "large" }, d.chain)
    assert.equal("chain", d.kind)
    assert.equal("short prompt", d.reason)
  end)

  it("sends a hard-looking prompt to the large tier", function()
    local d = route(HARD)
    assert.same({ "large" }, d.chain)
    assert.equal("step by step", d.reason)
  end)

  it("follows the client's task type before reading the prompt", function()
    local d = route(HARD, { metadata = { task = "password_reset" } })
    assert.same({ "small", "medium", "large" }, d.chain)
    assert.equal("task: password_reset", d.reason)
  end)

  it("follows an explicit model tier before the task type", function()
    local d = route("hi", { metadata = { model_tier = "medium", task = "code" } })
    assert.same({ "medium", "large" }, d.chain)
    assert.equal("client tier: medium", d.reason)
  end)

  it("cascades from the small tier when the prompt is neither clearly simple nor hard", function()
    local d = route(string.rep("lorem ipsum ", 30))
    assert.equal("cascade", d.kind)
    assert.same({ "small", "medium", "large" }, d.chain)
    assert.equal("uncertain: medium prompt", d.reason)
  end)

  it("cascades on a medium keyword too", function()
    local d = route("Explain how DNS works.")
    assert.equal("cascade", d.kind)
    assert.equal("uncertain: explanation", d.reason)
  end)

  it("keeps a client's medium task as a plain chain, not a cascade", function()
    local d = route("Bonjour", { metadata = { task = "translate" } })
    assert.equal("chain", d.kind)
    assert.same({ "medium", "large" }, d.chain)
  end)

  it("leaves out tier models over the client's SLA and says so", function()
    local d = route("hi", { metadata = { tier = "standard", priority = "high" } })
    assert.same({ "small" }, d.chain)
    assert.equal("short prompt; sla standard/high", d.reason)
  end)

  it("keeps the large tier for a premium client with a hard prompt", function()
    local d = route(HARD, { metadata = { tier = "premium" } })
    assert.same({ "large" }, d.chain)
    assert.equal("step by step; sla premium/normal", d.reason)
  end)

  it("caps a hard prompt of a free client at the strongest tier the SLA allows", function()
    local d = route(HARD, { metadata = { tier = "free" } })
    assert.same({ "small" }, d.chain)
    assert.equal("step by step; sla free/normal; capped below large", d.reason)
  end)

  it("skips tier models without the tools the request uses", function()
    local d = route("call f", { tools = TOOLS })
    assert.same({ "medium", "large" }, d.chain)
    assert.equal("short prompt", d.reason)
  end)

  it("skips tier models whose context window cannot hold the request", function()
    local d = route(string.rep("abcd ", 10000), { metadata = { task = "summarize" } })
    assert.same({ "medium", "large" }, d.chain)
    assert.equal("task: summarize", d.reason)
  end)

  it("falls back to the cheapest fitting registry model when no tier model fits", function()
    local d = route(IMAGE, { metadata = { tier = "free" } })
    assert.same({ "flash" }, d.chain)
    assert.equal("short prompt; sla free/normal; no tier fits, cheapest fit", d.reason)
  end)

  it("picks the largest context window when nothing fits", function()
    local d = route("hi", { max_tokens = 2000000 })
    assert.equal("pick", d.kind)
    assert.same({ "long" }, d.chain)
    assert.equal("short prompt; nothing fits: largest context", d.reason)
  end)

  it("routes every odd request without failing", function()
    assert.equal("", H.odd_failures(engine, "composite"))
  end)
end)

describe("policies/composite.lua as the quickstart's auto route", function()
  local engine

  setup(function() engine = H.engine("examples/quickstart.lua") end)

  it("answers the README's short question from small", function()
    local d = assert(engine:route(H.request("What is the capital of France?")))
    assert.equal("small", d.model)
    assert.equal("short prompt", d.reason)
    assert.matches("^composite@", d.policy)
  end)

  it("answers the README's architecture question from large", function()
    local d = assert(engine:route(H.request(HARD)))
    assert.equal("large", d.model)
  end)

  it("answers the README's password reset task from small", function()
    local d = assert(engine:route(H.request("I forgot my password",
                                            { metadata = { task = "password_reset" } })))
    assert.equal("small", d.model)
    assert.equal("task: password_reset", d.reason)
  end)

  it("routes every odd request without failing", function()
    local failures = H.odd_failures(engine, "auto")
    assert.equal("", failures)
  end)
end)
