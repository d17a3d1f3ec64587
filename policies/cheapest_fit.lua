-- policies/cheapest_fit.lua — the cheapest models that can take the request at all: a context
-- window that holds the prompt plus the answer, and the capabilities the request uses. The
-- decision is a chain of up to three fitting models, cheapest first. When none fits, the
-- model with the largest context window (that has the capabilities, if one does).
--
-- Reads: req.tokens, req.max_tokens, req.response_format (json_object / json_schema → json),
-- req.tools (→ tools), and req.messages (an image_url content part → vision) only when a
-- candidate without vision would otherwise be chosen.
-- Options (OPTIONS below, data only):
--   max_tokens   output tokens assumed when the request has no max_tokens
--   max_chain    longest chain returned
local sy = require "switchyard"
local fit = require "switchyard.fit"

local OPTIONS = {
  max_tokens = 512,
  max_chain = 3,
}



return {
  name = "cheapest_fit",
  options = OPTIONS,

  route = function(req, ctx)
    local need = req.tokens + (req.max_tokens or OPTIONS.max_tokens)
    local caps = fit.needed_caps(req)
    local vision -- nil until a model without vision makes the answer matter
    local ids = {}
    for _, m in ipairs(sy.models{ cap = caps, min_context = need, sort = "price" }) do
      if not m.capabilities.vision and vision == nil then
        vision = fit.has_image(req.messages)
        if vision then caps[#caps + 1] = "vision" end
      end
      if m.capabilities.vision or not vision then
        ids[#ids + 1] = m.id
        if #ids == OPTIONS.max_chain then break end
      end
    end
    if #ids == 0 and vision == nil and fit.has_image(req.messages) then caps[#caps + 1] = "vision" end
    local with = #caps > 0 and " with " .. table.concat(caps, "+") or ""
    if #ids > 0 then
      ids.reason = string.format("cheapest fit: %d tokens%s", need, with)
      return sy.chain(ids)
    end
    local widest = sy.models{ cap = caps, sort = "context" }[1] or sy.models{ sort = "context" }[1]
    return sy.pick(widest.id, string.format("nothing fits %d tokens%s: largest context", need, with))
  end,
}
