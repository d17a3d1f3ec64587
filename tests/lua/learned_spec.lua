-- learned_spec.lua — sy.classify and policies/learned.lua through the real engine on the
-- shipped classifier (tests/fixtures/learned.lua).
local sy = require "switchyard.testing"

local ROOT = os.getenv("SY_SOURCE_DIR") or "."

describe("sy.classify and policies/learned.lua", function()
  local engine

  setup(function()
    engine = assert(sy.engine(ROOT .. "/tests/fixtures/learned.lua"))
  end)

  local MATH = "Natalia sold clips to 48 of her friends in April, and then she sold half as many "
    .. "clips in May. How many clips did Natalia sell altogether in April and May?"

  it("gives every model of the file a probability, keyed by registry model id", function()
    local d = assert(engine:route(sy.request(MATH), "raw"))
    local p4, pm, t = d.reason:match("^gpt%-4=([%d.]+) mixtral=([%d.]+) text=([%d.]+)$")
    assert.is_truthy(p4, d.reason)
    for _, v in ipairs({ tonumber(p4), tonumber(pm), tonumber(t) }) do
      assert.is_true(v > 0 and v < 1)
    end
    -- the same prompt, the same answer: nothing is cached or kept between calls
    local again = assert(engine:route(sy.request(MATH), "raw"))
    assert.equal(d.reason, again.reason)
  end)

  it("routes to the cheapest model whose probability is within the margin of the best", function()
    local d = assert(engine:route(sy.request(MATH), "learned"))
    assert.is_false(d.fallback_used)
    assert.is_truthy(d.reason:match("^margin: p%(") or d.reason:match("^margin: none"), d.reason)
    local cheap = assert(engine:route(sy.request(MATH), "always_cheap"))
    assert.equal("mixtral", cheap.model)
    assert.same({ "mixtral", "gpt-4" }, cheap.chain)
    local best = assert(engine:route(sy.request(MATH), "always_best"))
    assert.is_truthy(best.reason:match("none clears"), best.reason)
    local abs = assert(engine:route(sy.request(MATH), "absolute"))
    assert.equal("mixtral", abs.model) -- every probability is at least 0
  end)

  it("skips a model whose context window is too small", function()
    local long = string.rep("word ", 5000)
    local d = assert(engine:route(sy.request(long), "always_cheap"))
    assert.equal("gpt-4", d.model)
  end)

  it("fails over to the route's default when the classifier is not declared", function()
    local d = assert(engine:route(sy.request(MATH), "nowhere"))
    assert.is_true(d.fallback_used)
    assert.is_truthy(d.policy_error:match("no classifier named 'nope' %(declared: difficulty mapped%)"),
      d.policy_error)
  end)
end)
