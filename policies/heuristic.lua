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

local OPTIONS = {
  tiers = { small = "small", medium = "medium", large = "large" },
  order = { "small", "medium", "large" },
  tasks = {
    classify = "small", extract = "small", password_reset = "small", faq = "small",
    summarize = "small", translate = "medium", chat = "medium",
    code = "large", analysis = "large", legal = "large", math = "large",
  },
  rules = {
    { "```", "large", "code block" },
    { "prove", "large", "proof", word = true },
    { "step by step", "large", "step by step" },
    { "analy", "large", "analysis" },
    { "architecture", "large", "architecture" },
    { "refactor", "large", "refactoring" },
    { "theorem", "large", "proof" },
    { "legal", "large", "legal", word = true },
    { "explain", "medium", "explanation" },
    { "compare", "medium", "comparison" },
    { "write", "medium", "writing", word = true },
    { "translate", "medium", "translation" },
  },
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

local MAX_HITS = 4 -- occurrences of a word rule's needle checked for word boundaries

local function is_word_byte(b)
  return b ~= nil and (b >= 97 and b <= 122 or b >= 48 and b <= 57 or b == 95)
end

-- Does the lower-cased text contain the rule's needle (as a whole word if rule.word)?
local function matches(lower, rule)
  local init = 1
  for _ = 1, MAX_HITS do
    local s, e = lower:find(rule[1], init, true)
    if not s then return false end
    if not rule.word or (not is_word_byte(lower:byte(s - 1)) and not is_word_byte(lower:byte(e + 1))) then
      return true
    end
    init = e + 1
  end
  return false
end

-- Is there a list numbered 1 … n at line starts, in order? (n plain finds, no pattern)
local function numbered_list(lower, n)
  local text, pos = "\n" .. lower, 1
  for i = 1, n do
    local s = text:find("\n" .. i .. ". ", pos, true) or text:find("\n" .. i .. ") ", pos, true)
    if not s then return false end
    pos = s + 1
  end
  return true
end

-- The tier for a text and why, from OPTIONS.
local function classify_text(text)
  if #text > OPTIONS.long_chars then return "large", "long prompt" end
  local lower = text:lower()
  for _, rule in ipairs(OPTIONS.rules) do
    if matches(lower, rule) then return rule[2], rule[3] end
  end
  if numbered_list(lower, OPTIONS.list.min_items) then return OPTIONS.list.tier, "numbered list" end
  if #text <= OPTIONS.short_chars then return "small", "short prompt" end
  return "medium", "medium prompt"
end

return {
  name = "heuristic",
  options = OPTIONS,

  route = function(req, ctx)
    local task = req.meta.task
    local tier = type(task) == "string" and OPTIONS.tasks[task]
    if tier then return chain_from(tier, "task: " .. task) end
    return chain_from(classify_text(req.text))
  end,
}
