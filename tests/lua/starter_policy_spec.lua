-- starter_policy_spec.lua — policies/starter.lua through the real engine (quickstart config,
-- route "starter").
local sy = require "switchyard.testing"

local ROOT = os.getenv("SY_SOURCE_DIR") or "."

describe("policies/starter.lua", function()
  local engine

  setup(function()
    engine = assert(sy.engine(ROOT .. "/examples/quickstart.lua"))
  end)

  local function route(request)
    return engine:route(request, "starter")
  end

  it("sends a short prompt to the cheapest model, with the next tiers as fallbacks", function()
    local d = assert(route(sy.request("What is the capital of France?")))
    assert.equal("small", d.model)
    assert.same({ "small", "medium", "large" }, d.chain)
    assert.equal("short prompt", d.reason)
    assert.equal("chain", d.kind)
    assert.is_false(d.fallback_used)
  end)

  it("routes on client metadata without reading the prompt", function()
    local d = assert(route(sy.request("x", { metadata = { task = "password_reset" } })))
    assert.same({ "small", "medium" }, d.chain)
    assert.equal("simple task: password_reset", d.reason)
  end)

  it("gives the premium tier the strongest model first", function()
    local d = assert(route(sy.request("hi", { metadata = { tier = "premium" } })))
    assert.same({ "large", "medium" }, d.chain)
  end)

  it("sends hard-looking prompts to the strongest model", function()
    local d = assert(route(sy.request("Please analyse this contract step by step")))
    assert.equal("large", d.model)
    assert.equal("hard keyword: analy[sz]e", d.reason)
  end)

  it("sends long prompts to the strongest model", function()
    local d = assert(route(sy.request(string.rep("lorem ipsum ", 1000))))
    assert.equal("large", d.model)
    assert.equal("long prompt", d.reason)
  end)

  it("sends tool use to a model with tools", function()
    local tools = { { type = "function", ["function"] = { name = "f", parameters = {} } } }
    local d = assert(route(sy.request("call f", { tools = tools })))
    assert.same({ "medium", "large" }, d.chain)
  end)

  it("answers a request for a registry model directly", function()
    local d = assert(engine:route(sy.request("hi", { model = "medium" })))
    assert.equal("medium", d.model)
    assert.equal("model requested by name", d.reason)
  end)

  it("reports an unknown model", function()
    local d, err = engine:route(sy.request("hi", { model = "nope" }))
    assert.is_nil(d)
    assert.equal("unknown model or route 'nope'", err)
  end)
end)

describe("switchyard.testing", function()
  it("returns every config problem as file:line: key: message", function()
    local path = os.tmpname()
    local f = assert(io.open(path, "w"))
    f:write("provider { id = 'sim', kind = 'sim' }\n",
            "model { id = 'm', provider = 'sim', price = { input = -2 } }\n")
    f:close()
    local engine, err = sy.engine(path)
    os.remove(path)
    assert.is_nil(engine)
    assert.matches(":2: model%[m%]%.price%.input: must not be negative %(got %-2%)", err)
  end)
end)
