-- policies/starter.lua — a first routing policy: client metadata first, then the size and
-- shape of the prompt. Simple tasks go to the cheapest model, with the next tier as fallback;
-- long or hard-looking requests go to the strongest.
--
-- Reads: req.meta.task / req.meta.tier (body "metadata" or x-switchyard-* headers), req.text,
-- req.tokens, req.tools. Models: small, medium, large (examples/quickstart.lua).
local sy = require "switchyard"

local SIMPLE_TASKS = { password_reset = true, classify = true, extract = true, faq = true }
local HARD_WORDS = { "prove", "analy[sz]e", "architecture", "step by step", "refactor", "legal" }

local function looks_hard(text)
  local lower = text:lower()
  for _, pattern in ipairs(HARD_WORDS) do
    if lower:find(pattern) then return pattern end
  end
  return nil
end

return {
  name = "starter",

  route = function(req, ctx)
    local meta = req.meta
    if meta.tier == "premium" then
      return sy.chain{ "large", "medium", reason = "premium tier" }
    end
    if meta.task and SIMPLE_TASKS[meta.task] then
      return sy.chain{ "small", "medium", reason = "simple task: " .. meta.task }
    end
    if req.tools then
      return sy.chain{ "medium", "large", reason = "tool use" }
    end
    -- length first: it is free, and scanning a long prompt is not
    if req.tokens > 2000 then
      return sy.chain{ "large", "medium", reason = "long prompt" }
    end
    local hard = looks_hard(req.text)
    if hard then
      return sy.chain{ "large", "medium", reason = "hard keyword: " .. hard }
    end
    return sy.chain{ "small", "medium", "large", reason = "short prompt" }
  end,
}
