-- cascade_spec.lua — policies/cascade.lua through the real engine (tests/fixtures/policies.lua).
local H = dofile((os.getenv("SY_SOURCE_DIR") or ".") .. "/tests/fixtures/spec_helper.lua")

local TOOLS, IMAGE = H.TOOLS, H.IMAGE

describe("policies/cascade.lua", function()
  local engine
  local function route(text, fields)
    return assert(engine:route(H.request(text, fields), "cascade"))
  end

  setup(function() engine = H.engine() end)

  it("cascades from the two cheapest fitting models to the strongest", function()
    local d = route("hi")
    assert.equal("cascade", d.kind)
    assert.equal("tiny", d.model)
    assert.same({ "tiny", "small", "large" }, d.chain)
    assert.equal(("cascade: %d tokens, cheap first, then large"):format(d.tokens + 512), d.reason)
  end)

  it("starts with models that have the tools the request uses", function()
    local d = route("call f", { tools = TOOLS })
    assert.same({ "medium", "long", "large" }, d.chain)
  end)

  it("starts with a vision model when a message has an image part", function()
    local d = route(IMAGE)
    assert.same({ "flash", "long", "large" }, d.chain)
  end)

  it("starts with models that hold a long prompt", function()
    local d = route(string.rep("abcd ", 10000))
    assert.same({ "flash", "medium", "large" }, d.chain)
  end)

  it("ends with the strongest model that fits, here the long-context one", function()
    local d = route("hi", { max_tokens = 200000 })
    assert.same({ "long" }, d.chain)
    assert.equal(("cascade: %d tokens, cheap first, then long"):format(d.tokens + 200000), d.reason)
  end)

  it("picks the largest context window when no model holds the request", function()
    local d = route("hi", { max_tokens = 2000000 })
    assert.equal("pick", d.kind)
    assert.same({ "long" }, d.chain)
    assert.equal(("nothing fits %d tokens: largest context"):format(d.tokens + 2000000), d.reason)
  end)

  it("routes every odd request without failing", function()
    assert.equal("", H.odd_failures(engine, "cascade"))
  end)
end)
