-- policies/learned.lua — route by a trained classifier: the cheapest model whose predicted
-- chance of answering well clears the threshold. The classifier (`switchyard train`) predicts,
-- for each model it was trained on, the probability that the model answers this prompt well;
-- the config declares it: classifier { id = "difficulty", path = "model.bin" }.
--
-- Two rules, by option `rule`:
--   "margin" (default): the cheapest model whose probability is within `threshold` of the
--            best model's. For two models this sends to the strong one exactly the prompts
--            where it is predicted to gain more than `threshold`.
--   "absolute": the cheapest model whose probability is at least `threshold`; when none is,
--            the model with the highest probability.
-- The models the classifier knows are taken cheapest first (input + output price); a model
-- that does not fit the request's context window is skipped. The decision is a chain from the
-- chosen model to the stronger ones, so an error still falls over.
--
-- Reads: req.text (through sy.classify), req.tokens, req.max_tokens.
-- Options (OPTIONS below, data only; sweep one with
--   switchyard eval ... --sweep threshold=0:0.5:0.01):
--   classifier  the classifier's id in the config
--   threshold   see the rules above
--   rule        "margin" or "absolute"
--   max_tokens  output tokens assumed when the request sets none (for the context check)
local sy = require "switchyard"

local OPTIONS = {
  classifier = "difficulty",
  threshold = 0.1,
  rule = "margin",
  max_tokens = 512,
}

return {
  name = "learned",
  options = OPTIONS,

  route = function(req, ctx, opt)
    local p = sy.classify(opt.classifier, req)
    local need = req.tokens + (req.max_tokens or opt.max_tokens)
    local ids, best = {}, nil
    for _, m in ipairs(sy.models{ sort = "price", min_context = need }) do
      if p[m.id] then
        ids[#ids + 1] = m.id
        if not best or p[m.id] > p[best] then best = m.id end
      end
    end
    if #ids == 0 then
      return sy.pick(sy.models{ sort = "context" }[1].id, "no model of the classifier fits: largest context")
    end
    local cut = opt.rule == "absolute" and opt.threshold or p[best] - opt.threshold
    for i, id in ipairs(ids) do
      if p[id] >= cut then
        local chain = { reason = string.format("%s: p(%s)=%.3f, best %s %.3f", opt.rule, id, p[id], best, p[best]) }
        for k = i, #ids do chain[#chain + 1] = ids[k] end
        return sy.chain(chain)
      end
    end
    return sy.pick(best, string.format("%s: none clears %.3f, best %s %.3f", opt.rule, cut, best, p[best]))
  end,
}
