--- switchyard.sla — service-level ceilings for policies: the client's tier and priority
-- (req.meta.tier, req.meta.priority) → a price and a p95-latency ceiling. Loaded into the
-- policy sandbox by `require "switchyard.sla"`.
local _M = {}

--- Tier → { price_in, price_out (USD per 1k tokens), latency_p95 (ms) } ceilings.
_M.TIERS = {
  free       = { price_in = 0.0005, price_out = 0.002, latency_p95 = 2000 },
  standard   = { price_in = 0.001,  price_out = 0.004, latency_p95 = 1500 },
  premium    = { price_in = 0.003,  price_out = 0.012, latency_p95 = 1500 },
  enterprise = { price_in = 0.01,   price_out = 0.04,  latency_p95 = 5000 },
}

--- Priority → factors applied to the ceilings.
_M.PRIORITIES = {
  low    = { price = 1, latency = 2 },
  normal = { price = 1, latency = 1 },
  high   = { price = 2, latency = 0.5 },
}

--- The ceilings for a tier and priority.
-- @tparam table tiers tier → ceilings (e.g. TIERS)
-- @tparam table priorities priority → factors (e.g. PRIORITIES)
-- @tparam string tier a key of tiers
-- @tparam string prio a key of priorities
-- @treturn number price_in ceiling
-- @treturn number price_out ceiling
-- @treturn number latency_p95 ceiling (ms)
function _M.ceilings(tiers, priorities, tier, prio)
  local c, f = tiers[tier], priorities[prio]
  return c.price_in * f.price, c.price_out * f.price, c.latency_p95 * f.latency
end

return _M
