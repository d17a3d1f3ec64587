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
-- Shares its text rules with heuristic.lua and its fit checks with cheapest_fit.lua through
-- the trusted modules switchyard.text and switchyard.fit (lua/switchyard/).
local sy = require "switchyard"
local fit = require "switchyard.fit"
local text = require "switchyard.text"
local levels = require "switchyard.sla"

local OPTIONS = {
  tiers = { small = "small", medium = "medium", large = "large" },
  order = { "small", "medium", "large" },
  tasks = text.TASKS, -- task → tier; see lua/switchyard/text.lua (copy it to change it)
  rules = text.RULES, -- keyword rules, first match wins
  list = { min_items = 5, tier = "large" },
  long_chars = 24000,
  short_chars = 280,
  sla = levels.TIERS,             -- see lua/switchyard/sla.lua
  priorities = levels.PRIORITIES,
  max_tokens = 512,
  max_chain = 3,
}

local RANK = {}
for i, tier in ipairs(OPTIONS.order) do RANK[tier] = i end

-- Step 1: the tier the client asks for, and why (nil when it says nothing usable).
local function client_tier(meta)
  local tier, task = meta.model_tier, meta.task
  if RANK[tier] then return tier, "client tier: " .. tier end
  if type(task) == "string" and OPTIONS.tasks[task] then return OPTIONS.tasks[task], "task: " .. task end
  return nil
end

-- Steps 3 and 4: a predicate model → bool, and the SLA label ("" when the client names no tier).
local function admission(req, meta)
  local need = req.tokens + (req.max_tokens or OPTIONS.max_tokens)
  local tools = req.tools
  local json = fit.wants_json(req)
  local use_tools = type(tools) == "table" and #tools > 0
  local limit, label = OPTIONS.sla[meta.tier], ""
  local price_in, price_out, latency = math.huge, math.huge, math.huge
  if limit then
    local prio = OPTIONS.priorities[meta.priority] and meta.priority or "normal"
    price_in, price_out, latency = levels.ceilings(OPTIONS.sla, OPTIONS.priorities, meta.tier, prio)
    label = "; sla " .. meta.tier .. "/" .. prio
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
      if vision == nil then vision = fit.has_image(req.messages) end
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
      tier, why = text.classify(req.text, OPTIONS)
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
