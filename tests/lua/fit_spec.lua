-- fit_spec.lua — lua/switchyard/fit.lua, what a request needs of a model.
local fit = require "switchyard.fit"

describe("switchyard.fit", function()
  it("reads json and tools needs from cheap fields", function()
    assert.same({ "json", "tools" }, fit.needed_caps{
      response_format = { type = "json_schema" }, tools = { { type = "function" } } })
    assert.same({}, fit.needed_caps{ response_format = { type = "text" }, tools = {} })
  end)

  it("knows when JSON output is wanted", function()
    assert.is_true(fit.wants_json{ response_format = { type = "json_object" } })
    assert.is_false(fit.wants_json{})
  end)

  it("finds image parts in messages", function()
    assert.is_true(fit.has_image{ { role = "user", content = {
      { type = "text", text = "what is this" }, { type = "image_url", image_url = { url = "x" } } } } })
    assert.is_false(fit.has_image{ { role = "user", content = "plain" } })
    assert.is_false(fit.has_image(nil))
  end)
end)

describe("switchyard.sla", function()
  local sla = require "switchyard.sla"

  it("scales a tier's ceilings by the priority's factors", function()
    assert.same({ 0.002, 0.008, 750 },
                { sla.ceilings(sla.TIERS, sla.PRIORITIES, "standard", "high") })
    assert.same({ 0.0005, 0.002, 4000 },
                { sla.ceilings(sla.TIERS, sla.PRIORITIES, "free", "low") })
  end)
end)
