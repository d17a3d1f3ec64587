-- policies/cascade.lua — cheap first, escalate when the answer is not good enough: a cascade
-- of the cheapest model that can take the request, the next cheapest, and the strongest
-- (the most expensive that fits). Until the executor checks answers, a cascade runs as a
-- chain: the next model is tried only when one fails.
--
-- Reads: req.tokens, req.max_tokens, req.response_format (json_object / json_schema → json),
-- req.tools (→ tools), and req.messages (an image_url part → vision) only when a model
-- without vision is a candidate.
-- Options (OPTIONS below, data only):
--   max_tokens   output tokens assumed when the request has no max_tokens
--   cheap_steps  how many of the cheapest fitting models come before the strongest
--   strongest    model id used as the last step instead of the most expensive fitting one
local sy = require "switchyard"
local fit = require "switchyard.fit"

local OPTIONS = {
  max_tokens = 512,
  cheap_steps = 2,
  strongest = nil,
}

-- Every model that can take the request, cheapest first (array of model tables).
local function fitting(req, need)
  local caps, vision, out = fit.needed_caps(req), nil, {}
  for _, m in ipairs(sy.models{ cap = caps, min_context = need, sort = "price" }) do
    if not m.capabilities.vision and vision == nil then vision = fit.has_image(req.messages) end
    if m.capabilities.vision or not vision then out[#out + 1] = m end
  end
  return out
end

return {
  name = "cascade",
  options = OPTIONS,

  route = function(req, ctx)
    local need = req.tokens + (req.max_tokens or OPTIONS.max_tokens)
    local fits = fitting(req, need)
    if #fits == 0 then
      local widest = sy.models{ sort = "context" }[1]
      return sy.pick(widest.id, string.format("nothing fits %d tokens: largest context", need))
    end
    local strongest = OPTIONS.strongest or fits[#fits].id
    local steps, seen = {}, { [strongest] = true }
    for i = 1, math.min(#fits, OPTIONS.cheap_steps) do
      if not seen[fits[i].id] then
        steps[#steps + 1], seen[fits[i].id] = fits[i].id, true
      end
    end
    steps[#steps + 1] = strongest
    steps.reason = string.format("cascade: %d tokens, cheap first, then %s", need, strongest)
    return sy.cascade(steps)
  end,
}
