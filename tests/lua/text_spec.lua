-- text_spec.lua — lua/switchyard/text.lua, the text rules policies share.
local text = require "switchyard.text"

describe("switchyard.text", function()
  it("classifies a short question as small", function()
    assert.same({ "small", "short prompt" }, { text.classify("What is the capital of France?") })
  end)

  it("takes the first keyword rule that matches", function()
    assert.same({ "large", "step by step" }, { text.classify("Walk me through it step by step") })
  end)

  it("honours word boundaries for word rules", function()
    assert.same({ "large", "proof" }, { text.classify("prove it") })
    assert.same({ "small", "short prompt" }, { text.classify("improvement ideas") })
  end)

  it("sends long text to large before scanning it", function()
    assert.same({ "large", "long prompt" }, { text.classify(string.rep("a", 24001)) })
  end)

  it("spots a numbered list of five items", function()
    local list = "Do these:\n1. a\n2. b\n3. c\n4. d\n5. e\n" .. string.rep("filler ", 60)
    assert.same({ "large", "numbered list" }, { text.classify(list) })
  end)

  it("calls the middle medium", function()
    assert.same({ "medium", "medium prompt" }, { text.classify(string.rep("plain words ", 40)) })
  end)

  it("takes rules and bands from options", function()
    local opts = { rules = { { "cat", "large", "cats" } }, short_chars = 3, long_chars = 100 }
    assert.same({ "large", "cats" }, { text.classify("a cat", opts) })
    assert.same({ "medium", "medium prompt" }, { text.classify("dogs", opts) })
  end)

  it("maps task names to tiers and ignores the rest", function()
    assert.equal("small", text.task_tier("password_reset"))
    assert.is_nil(text.task_tier("nope"))
    assert.is_nil(text.task_tier(42))
  end)
end)
