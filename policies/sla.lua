-- policies/sla.lua — routes by service level: the client's tier and priority set a price and
-- a latency ceiling; the decision is a chain of the models within both ceilings (and whose
-- context window holds the request), cheapest first. When no model is within them, the
-- fastest model that holds the request, with a reason saying the SLA could not be met.
--
-- Reads: req.meta.tier (free | standard | premium | enterprise), req.meta.priority
-- (low | normal | high), req.tokens, req.max_tokens. Never the prompt text.
-- Options (OPTIONS below, data only):
--   tiers        tier → { price_in, price_out (USD per 1k tokens), latency_p95 (ms) } ceilings
--   priorities   priority → { price = factor, latency = factor } applied to the ceilings
--   default_tier, default_priority   used when the client sends none or an unknown one
--   max_tokens   output tokens assumed when the request has no max_tokens
--   max_chain    longest chain returned
local sy = require "switchyard"
local levels = require "switchyard.sla"

local OPTIONS = {
  tiers = levels.TIERS,           -- see lua/switchyard/sla.lua
  priorities = levels.PRIORITIES,
  default_tier = "standard",
  default_priority = "normal",
  max_tokens = 512,
  max_chain = 3,
}

return {
  name = "sla",
  options = OPTIONS,

  route = function(req, ctx)
    local meta = req.meta
    local tier = OPTIONS.tiers[meta.tier] and meta.tier or OPTIONS.default_tier
    local prio = OPTIONS.priorities[meta.priority] and meta.priority or OPTIONS.default_priority
    local price_in, price_out, latency = levels.ceilings(OPTIONS.tiers, OPTIONS.priorities,
                                                         tier, prio)
    local need = req.tokens + (req.max_tokens or OPTIONS.max_tokens)

    local fit = sy.models{ min_context = need, max_price_in = price_in,
                           max_price_out = price_out, max_latency_p95 = latency,
                           sort = "price" }
    if #fit > 0 then
      local ids = {}
      for i = 1, math.min(#fit, OPTIONS.max_chain) do ids[i] = fit[i].id end
      ids.reason = string.format("sla %s/%s: $%g/$%g per 1k, p95 <= %d ms", tier, prio,
                                 price_in, price_out, latency)
      return sy.chain(ids)
    end
    local fastest = sy.models{ min_context = need, sort = "latency" }[1]
                    or sy.models{ sort = "latency" }[1]
    return sy.pick(fastest.id, string.format("sla %s/%s not met: fastest model", tier, prio))
  end,
}
