-- heuristic_spec.lua — policies/heuristic.lua through the real engine (tests/fixtures/policies.lua).
local H = dofile((os.getenv("SY_SOURCE_DIR") or ".") .. "/tests/fixtures/spec_helper.lua")

describe("policies/heuristic.lua", function()
  local engine
  local function route(text, fields)
    return assert(engine:route(H.request(text, fields), "heuristic"))
  end

  setup(function() engine = H.engine() end)

  it("sends a simple task type to the small tier, with the stronger tiers as fallbacks", function()
    local d = route("Is this spam? Buy now!!!", { metadata = { task = "classify" } })
    assert.equal("small", d.model)
    assert.same({ "small", "medium", "large" }, d.chain)
    assert.equal("chain", d.kind)
    assert.equal("task: classify", d.reason)
  end)

  it("sends a hard task type to the large tier even when the prompt is short", function()
    local d = route("hi", { metadata = { task = "legal" } })
    assert.same({ "large" }, d.chain)
    assert.equal("task: legal", d.reason)
  end)

  it("sends a password reset to the small tier", function()
    local d = route("I forgot my password", { metadata = { task = "password_reset" } })
    assert.same({ "small", "medium", "large" }, d.chain)
    assert.equal("task: password_reset", d.reason)
  end)

  it("ignores an unknown task type and looks at the text", function()
    local d = route("What is the capital of France?", { metadata = { task = "poetry" } })
    assert.same({ "small", "medium", "large" }, d.chain)
    assert.equal("short prompt", d.reason)
  end)

  it("sends a code block to the large tier", function()
    local d = route("Why does this fail?\n```c\nint *p = 0; *p = 1;\n```")
    assert.same({ "large" }, d.chain)
    assert.equal("code block", d.reason)
  end)

  it("sends a request for a proof to the large tier", function()
    local d = route("Prove that the square root of 2 is irrational.")
    assert.same({ "large" }, d.chain)
    assert.equal("proof", d.reason)
  end)

  it("does not mistake a word containing a keyword for the keyword", function()
    local d = route("How can I improve my illegible handwriting?")
    assert.same({ "small", "medium", "large" }, d.chain)
    assert.equal("short prompt", d.reason)
  end)

  it("sends step-by-step reasoning to the large tier", function()
    local d = route("Analyse this architecture step by step")
    assert.same({ "large" }, d.chain)
    assert.equal("step by step", d.reason)
  end)

  it("sends an explanation request to the medium tier, with large as fallback", function()
    local d = route("Explain how DNS works.")
    assert.same({ "medium", "large" }, d.chain)
    assert.equal("explanation", d.reason)
  end)

  it("sends a numbered list of five items to the large tier", function()
    local d = route("Do these:\n1. a\n2. b\n3. c\n4. d\n5) e")
    assert.same({ "large" }, d.chain)
    assert.equal("numbered list", d.reason)
  end)

  it("treats a list of four items as a short prompt", function()
    local d = route("Do these:\n1. a\n2. b\n3. c\n4. d")
    assert.same({ "small", "medium", "large" }, d.chain)
    assert.equal("short prompt", d.reason)
  end)

  it("sends a prompt longer than 24000 characters to the large tier", function()
    local d = route(string.rep("lorem ipsum ", 2001))
    assert.same({ "large" }, d.chain)
    assert.equal("long prompt", d.reason)
  end)

  it("sends a mid-sized prompt without keywords to the medium tier", function()
    local d = route(string.rep("lorem ipsum ", 30))
    assert.same({ "medium", "large" }, d.chain)
    assert.equal("medium prompt", d.reason)
  end)

  it("reads only the last user message", function()
    local d = assert(engine:route({ model = "heuristic", messages = {
      { role = "user", content = "Prove Fermat's last theorem." },
      { role = "assistant", content = "That is hard." },
      { role = "user", content = "Thanks!" } } }))
    assert.same({ "small", "medium", "large" }, d.chain)
    assert.equal("short prompt", d.reason)
  end)

  it("routes every odd request without failing", function()
    assert.equal("", H.odd_failures(engine, "heuristic"))
  end)
end)
