-- explain_spec.lua — decisions that explain themselves (sy_engine_explain, `route --explain`).
local sy = require "switchyard.testing"

local ROOT = os.getenv("SY_SOURCE_DIR") or "."

describe("explained decisions", function()
  local engine

  setup(function()
    local path = os.tmpname()
    local f = assert(io.open(path, "w"))
    f:write([[
provider { id = "sim", kind = "sim" }
model { id = "tiny", provider = "sim", context_window = 100, price = { input = 0.0001, output = 0.0001 } }
model { id = "plain", provider = "sim", context_window = 100000, capabilities = { "stream" } }
model { id = "smart", provider = "sim", context_window = 100000, capabilities = { "json", "stream" },
        price = { input = 0.001, output = 0.002 } }
model { id = "other", provider = "sim", context_window = 100000, capabilities = { "json", "stream" } }
route { name = "r", policy = "]] .. ROOT .. [[/tests/fixtures/explain_policy.lua", default = "smart" }
]])
    f:close()
    engine = assert(sy.engine(path))
    os.remove(path)
  end)

  it("says why each model was kept or dropped", function()
    local req = sy.request(string.rep("word ", 400), {
      model = "r", max_tokens = 50, response_format = { type = "json_object" } })
    local d = assert(engine:explain(req))
    local by = {}
    for _, c in ipairs(d.candidates) do by[c.model] = c end
    assert.equal("chosen first", by.smart.why)
    assert.equal(0, by.smart.position)
    assert.is_true(by.smart.kept)
    assert.matches("^dropped: needs %d+ tokens, context window is 100$", by.tiny.why)
    assert.is_false(by.tiny.fits_context)
    assert.equal("dropped: lacks the json capability the request needs", by.plain.why)
    assert.equal("not chosen by the policy", by.other.why)
    assert.near((d.tokens * 0.001 + 50 * 0.002) / 1000, by.smart.estimated_cost_usd, 1e-8)
  end)

  it("leaves candidates out of a plain route()", function()
    local d = assert(engine:route(sy.request("hi", { model = "r" })))
    assert.is_nil(d.candidates)
  end)
end)
