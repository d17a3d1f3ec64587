-- cheapest_fit_spec.lua — policies/cheapest_fit.lua through the real engine (tests/fixtures/policies.lua).
local H = dofile((os.getenv("SY_SOURCE_DIR") or ".") .. "/tests/fixtures/spec_helper.lua")

local TOOLS, IMAGE = H.TOOLS, H.IMAGE

describe("policies/cheapest_fit.lua", function()
  local engine
  local function route(text, fields)
    return assert(engine:route(H.request(text, fields), "cheapest_fit"))
  end

  setup(function() engine = H.engine() end)

  it("chains the three cheapest models that hold a plain request, cheapest first", function()
    local d = route("hi")
    assert.equal("tiny", d.model)
    assert.same({ "tiny", "small", "flash" }, d.chain)
    assert.equal("chain", d.kind)
    assert.equal(("cheapest fit: %d tokens"):format(d.tokens + 512), d.reason)
  end)

  it("counts max_tokens instead of 512 when the request sets it", function()
    local d = route("hi", { max_tokens = 4100 })
    assert.same({ "small", "flash", "medium" }, d.chain)
    assert.equal(("cheapest fit: %d tokens"):format(d.tokens + 4100), d.reason)
  end)

  it("skips models whose context window cannot hold a long prompt", function()
    local d = route(string.rep("abcd ", 10000))
    assert.same({ "flash", "medium", "long" }, d.chain)
  end)

  it("requires json for a json_object response format", function()
    local d = route("hi", { response_format = { type = "json_object" } })
    assert.same({ "small", "flash", "medium" }, d.chain)
    assert.equal(("cheapest fit: %d tokens with json"):format(d.tokens + 512), d.reason)
  end)

  it("requires json for a json_schema response format", function()
    local d = route("hi", { response_format = { type = "json_schema",
      json_schema = { name = "x", schema = { type = "object" } } } })
    assert.same({ "small", "flash", "medium" }, d.chain)
  end)

  it("does not require json for a text response format", function()
    local d = route("hi", { response_format = { type = "text" } })
    assert.same({ "tiny", "small", "flash" }, d.chain)
  end)

  it("requires tools when the request has tools", function()
    local d = route("call f", { tools = TOOLS })
    assert.same({ "medium", "long", "large" }, d.chain)
    assert.equal(("cheapest fit: %d tokens with tools"):format(d.tokens + 512), d.reason)
  end)

  it("requires vision when a message has an image part", function()
    local d = route(IMAGE)
    assert.same({ "flash", "long", "large" }, d.chain)
    assert.equal(("cheapest fit: %d tokens with vision"):format(d.tokens + 512), d.reason)
  end)

  it("combines the capabilities a request needs", function()
    local d = route(IMAGE, { tools = TOOLS, response_format = { type = "json_object" } })
    assert.same({ "long", "large" }, d.chain)
    assert.equal(("cheapest fit: %d tokens with json+tools+vision"):format(d.tokens + 512), d.reason)
  end)

  it("picks the largest context window when no model holds the request", function()
    local d = route("hi", { max_tokens = 2000000 })
    assert.equal("pick", d.kind)
    assert.same({ "long" }, d.chain)
    assert.equal(("nothing fits %d tokens: largest context"):format(d.tokens + 2000000), d.reason)
  end)

  it("routes every odd request without failing", function()
    assert.equal("", H.odd_failures(engine, "cheapest_fit"))
  end)
end)
