-- policies/heuristic.lua — the fast router: the client's task type, then keyword rules and
-- Lua patterns on the last user message, pick a tier; the decision is a chain from that tier
-- upward (small → medium → large), so a weak answer falls over to a stronger model.
--
-- Reads: req.meta.task, req.text. Never req.messages or req.tokens. Every scan is a plain
-- (memchr-fast) find: a Lua pattern costs ~0.15 ms per rule on 24 KB in the interpreter,
-- plain text ~0.02 ms, so a 24 KB prompt that every rule scans to the end stays well inside
-- the 2 ms budget (longer prompts stop at long_chars).
-- Options (OPTIONS below, data only):
--   tiers        tier → model id; order is the escalation order
--   tasks        req.meta.task → tier
--   rules        { needle, tier, label [, word = true] }: plain text in the lower-cased prompt
--                (word: not inside a longer word, "prove" but not "improve"); first match wins
--   list         a numbered list "1." (or "1)") … min_items at line starts → tier
--   long_chars   a text longer than this is "long prompt" → large (checked before the rules)
--   short_chars  a text up to this long with no rule matched is "short prompt" → small;
--                anything between short_chars and long_chars is "medium prompt" → medium
local sy = require "switchyard"
local text = require "switchyard.text"

local OPTIONS = {
  tiers = { small = "small", medium = "medium", large = "large" },
  order = { "small", "medium", "large" },
  tasks = text.TASKS, -- task → tier; see lua/switchyard/text.lua (copy it to change it)
  rules = text.RULES, -- keyword rules, first match wins
  list = { min_items = 5, tier = "large" },
  long_chars = 24000,
  short_chars = 280,
}

local RANK = {}
for i, tier in ipairs(OPTIONS.order) do RANK[tier] = i end

-- The tier's model and every stronger one, as a chain.
local function chain_from(tier, reason)
  local ids = { reason = reason }
  for i = RANK[tier], #OPTIONS.order do
    ids[#ids + 1] = OPTIONS.tiers[OPTIONS.order[i]]
  end
  return sy.chain(ids)
end


return {
  name = "heuristic",
  options = OPTIONS,

  route = function(req, ctx)
    local task = req.meta.task
    local tier = type(task) == "string" and OPTIONS.tasks[task]
    if tier then return chain_from(tier, "task: " .. task) end
    return chain_from(text.classify(req.text, OPTIONS))
  end,
}
