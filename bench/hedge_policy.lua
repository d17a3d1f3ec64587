-- bench/hedge_policy.lua — the two routes of bench/hedge.sh: the same two models as a plain
-- chain, or as a hedge (the second model starts when the first has no answer after after_ms).
local sy = require "switchyard"

local OPTIONS = { hedge = false, after_ms = 40 }

return {
  name = "hedge_bench",
  options = OPTIONS,
  route = function(req, ctx, conf)
    if conf.hedge then
      return sy.hedge{ "a", "b", after_ms = conf.after_ms, reason = "hedge" }
    end
    return sy.chain{ "a", "b", reason = "chain" }
  end,
}
