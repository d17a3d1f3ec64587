-- tokens_spec.lua — what policies see of token counts: req.tokens (exact, for the route's
-- default model's tokenizer), sy.tokens(model, req) per model, sy.cost on those counts, and
-- context-window skips in a decision. Through the real engine (switchyard.testing).
local sy = require "switchyard.testing"

-- OpenAI cookbook's example conversation: 129 tokens for cl100k_base, 124 for o200k_base.
local COOKBOOK = {
  { role = "system", content = "You are a helpful, pattern-following assistant that translates corporate jargon into plain English." },
  { role = "system", name = "example_user", content = "New synergies will help drive top-line growth." },
  { role = "system", name = "example_assistant", content = "Things working well together will increase revenue." },
  { role = "system", name = "example_user", content = "Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage." },
  { role = "system", name = "example_assistant", content = "Let's talk later when we're less busy about how to do better." },
  { role = "user", content = "This late pivot means we don't have time to boil the ocean for the client deliverable." },
}

local function write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

describe("token counts in policies", function()
  local engine, dir

  setup(function()
    dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -p " .. dir))
    write(dir .. "/counts.lua", [[
local sy = require 'switchyard'
return { route = function(req)
  local c, est = sy.tokens('c', req)
  return sy.pick('a', string.format('%d %s %d %d %s %.10f', req.tokens, req.tokenizer,
    sy.tokens('b', req), c, tostring(est), sy.cost('b', req)))
end }
]])
    write(dir .. "/bad.lua", [[
local sy = require 'switchyard'
return { route = function(req)
  if req.meta.which == 'model' then return sy.pick('a', tostring(sy.tokens('zz', req))) end
  return sy.pick('a', tostring(sy.tokens('a', { messages = {} })))
end }
]])
    write(dir .. "/chain.lua", [[
local sy = require 'switchyard'
return { route = function(req) return sy.chain{ 'small', 'a', reason = 'small first' } end }
]])
    write(dir .. "/config.lua", [[
provider { id = "sim", kind = "sim" }
model { id = "a", provider = "sim", tokenizer = "o200k_base", context_window = 100000 }
model { id = "b", provider = "sim", upstream = "gpt-4-0613", price = { input = 0.03, output = 0.06 },
        output_reserve = 100 }
model { id = "c", provider = "sim", tokenizer = "estimate" }
model { id = "small", provider = "sim", tokenizer = "o200k_base", context_window = 150, output_reserve = 50 }
route { name = "counts", policy = "counts.lua", default = "a" }
route { name = "bad", policy = "bad.lua", default = "a" }
route { name = "chain", policy = "chain.lua", default = "a" }
]])
    engine = assert(sy.engine(dir .. "/config.lua"))
  end)

  teardown(function()
    os.execute("rm -rf " .. dir)
  end)

  it("counts exactly, per model tokenizer", function()
    local d = assert(engine:route({ model = "counts", messages = COOKBOOK }))
    -- b's tokenizer is guessed from its upstream name (gpt-4 → cl100k_base)
    local cost = (129 * 0.03 + 100 * 0.06) / 1000
    assert.equal(string.format("124 o200k_base 129 155 true %.10f", cost), d.reason)
    assert.equal(124, d.tokens)
    assert.equal("o200k_base", d.tokenizer)
    assert.is_false(d.tokens_estimated)
  end)

  it("rejects an unknown model and a req that is not this call's", function()
    local d = engine:route(sy.request("hi", { model = "bad", metadata = { which = "model" } }))
    assert.is_true(d.fallback_used)
    assert.matches("sy.tokens: unknown model", d.policy_error, 1, true)
    d = engine:route(sy.request("hi", { model = "bad" }))
    assert.is_true(d.fallback_used)
    assert.matches("the second argument must be the req of this call", d.policy_error, 1, true)
  end)

  it("shows which chain models the executor will skip for their window", function()
    local d = assert(engine:route({ model = "chain", messages = COOKBOOK }))
    assert.same({ "small", "a" }, d.chain)
    assert.equal(1, #d.skipped)
    assert.equal("small", d.skipped[1].model)
    assert.equal(124 + 50, d.skipped[1].needs)
    assert.equal(150, d.skipped[1].context_window)
    assert.is_nil(d.context_length_exceeded)
    d = assert(engine:route(sy.request("hi", { model = "chain" })))
    assert.is_nil(d.skipped)
  end)
end)
