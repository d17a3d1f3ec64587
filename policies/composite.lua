-- policies/composite.lua — the composite router, in four steps:
--   1. what the client says: req.meta.model_tier (small | medium | large), else req.meta.task;
--   2. else heuristics on the last user message (keywords, code, lists, length), as in
--      heuristic.lua; "medium" there means neither clearly simple nor clearly hard;
--   3. SLA ceilings when the client names its tier (req.meta.tier, req.meta.priority), as in
--      sla.lua: models over the tier's price or latency are left out;
--   4. fit: each model must hold the prompt plus the answer and have the capabilities the
--      request uses (json, tools, vision).
-- The decision is a chain from the chosen tier upward; the uncertain middle gets a cascade
-- from the cheapest tier that fits. When the SLA or the request rules out that tier and every
-- stronger one, the lower tiers that fit, strongest first; when no tier model fits, the
-- cheapest fitting models of the registry; when nothing fits, the largest context window.
--
-- Reads: req.meta, req.text, req.tokens, req.max_tokens, req.response_format, req.tools, and
-- req.messages (image parts) only when a model without vision is a candidate.
-- Options (OPTIONS below, data only): tiers / order (tier → model id, escalation order),
-- tasks, rules, list, long_chars, short_chars (see heuristic.lua), sla and priorities (see
-- sla.lua), max_tokens (output tokens assumed when the request has none), max_chain.
-- Self-contained on purpose: a policy can only require "switchyard".
local sy = require "switchyard"

local OPTIONS = {
  tiers = { small = "small", medium = "medium", large = "large" },
  order = { "small", "medium", "large" },
  tasks = {
    classify = "small", extract = "small", password_reset = "small", faq = "small",
    summarize = "small", translate = "medium", chat = "medium",
    code = "large", analysis = "large", legal = "large", math = "large",
  },
  rules = { -- { needle, tier, label [, word = true] }: plain text found in the lower-cased
            -- prompt (word: not inside a longer word); first match wins
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
  sla = {
    free       = { price_in = 0.0005, price_out = 0.002, latency_p95 = 2000 },
    standard   = { price_in = 0.001,  price_out = 0.004, latency_p95 = 1500 },
    premium    = { price_in = 0.003,  price_out = 0.012, latency_p95 = 1500 },
    enterprise = { price_in = 0.01,   price_out = 0.04,  latency_p95 = 5000 },
  },
  priorities = {
    low    = { price = 1, latency = 2 },
    normal = { price = 1, latency = 1 },
    high   = { price = 2, latency = 0.5 },
  },
  max_tokens = 512,
  max_chain = 3,
}

local RANK = {}
for i, tier in ipairs(OPTIONS.order) do RANK[tier] = i end
local JSON_FORMATS = { json_object = true, json_schema = true }

-- Step 1: the tier the client asks for, and why (nil when it says nothing usable).
local function client_tier(meta)
  local tier, task = meta.model_tier, meta.task
  if RANK[tier] then return tier, "client tier: " .. tier end
  if type(task) == "string" and OPTIONS.tasks[task] then return OPTIONS.tasks[task], "task: " .. task end
  return nil
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

-- Step 2: the tier the text looks like, and why. Plain finds only (see heuristic.lua).
local function text_tier(text)
  if #text > OPTIONS.long_chars then return "large", "long prompt" end
  local lower = text:lower()
  for _, rule in ipairs(OPTIONS.rules) do
    if matches(lower, rule) then return rule[2], rule[3] end
  end
  if numbered_list(lower, OPTIONS.list.min_items) then return OPTIONS.list.tier, "numbered list" end
  if #text <= OPTIONS.short_chars then return "small", "short prompt" end
  return "medium", "medium prompt"
end

local function has_image(messages)
  if type(messages) ~= "table" then return false end
  for _, msg in ipairs(messages) do
    local content = type(msg) == "table" and msg.content
    if type(content) == "table" then
      for _, part in ipairs(content) do
        if type(part) == "table" and part.type == "image_url" then return true end
      end
    end
  end
  return false
end

-- Steps 3 and 4: a predicate model → bool, and the SLA label ("" when the client names no tier).
local function admission(req, meta)
  local need = req.tokens + (req.max_tokens or OPTIONS.max_tokens)
  local rf, tools = req.response_format, req.tools
  local json = type(rf) == "table" and JSON_FORMATS[rf.type]
  local use_tools = type(tools) == "table" and #tools > 0
  local limit, label = OPTIONS.sla[meta.tier], ""
  local price_in, price_out, latency = math.huge, math.huge, math.huge
  if limit then
    local prio = OPTIONS.priorities[meta.priority] and meta.priority or "normal"
    local f = OPTIONS.priorities[prio]
    price_in, price_out = limit.price_in * f.price, limit.price_out * f.price
    latency, label = limit.latency_p95 * f.latency, "; sla " .. meta.tier .. "/" .. prio
  end
  local vision -- nil until a model without vision is a candidate
  local function admits(m)
    local caps = m.capabilities
    if m.context_window < need or (json and not caps.json) or (use_tools and not caps.tools) then
      return false
    end
    if m.price_in > price_in or m.price_out > price_out or m.latency_p95 > latency then
      return false
    end
    if not caps.vision then
      if vision == nil then vision = has_image(req.messages) end
      if vision then return false end
    end
    return true
  end
  return admits, label
end

return {
  name = "composite",
  options = OPTIONS,

  route = function(req, ctx)
    local meta = req.meta
    local tier, why = client_tier(meta)
    local uncertain = false
    if not tier then
      tier, why = text_tier(req.text)
      uncertain = tier == "medium"
    end
    local admits, sla = admission(req, meta)
    why = (uncertain and "uncertain: " or "") .. why .. sla

    local start, ids = uncertain and 1 or RANK[tier], {}
    for i = start, #OPTIONS.order do
      local m = sy.model(OPTIONS.tiers[OPTIONS.order[i]])
      if m and admits(m) then ids[#ids + 1] = m.id end
    end
    if #ids == 0 then -- the tier and every stronger one ruled out: the strongest lower ones
      for i = start - 1, 1, -1 do
        local m = sy.model(OPTIONS.tiers[OPTIONS.order[i]])
        if m and admits(m) then ids[#ids + 1] = m.id end
      end
      if #ids > 0 then why = why .. "; capped below " .. tier end
    end
    if #ids == 0 then -- no tier model at all: the cheapest that fit in the registry
      for _, m in ipairs(sy.models{ sort = "price" }) do
        if admits(m) then ids[#ids + 1] = m.id end
        if #ids == OPTIONS.max_chain then break end
      end
      if #ids > 0 then why = why .. "; no tier fits, cheapest fit" end
    end
    if #ids == 0 then
      return sy.pick(sy.models{ sort = "context" }[1].id, why .. "; nothing fits: largest context")
    end
    ids.reason = why
    if uncertain and #ids > 1 then return sy.cascade(ids) end
    return sy.chain(ids)
  end,
}
