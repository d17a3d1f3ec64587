-- examples/eval/routellm.lua — the two models of data/routing/routellm_train.jsonl (GPT-4 and
-- Mixtral, at the RouteLLM paper's blended prices) as simulated models, and
--   learned   policies/learned.lua on the shipped classifier (trained on the train split)
--   strong    always GPT-4, the baseline
-- Measure the classifier on the held-out test split:
--   switchyard eval --config examples/eval/routellm.lua --route learned \
--     --data data/routing/routellm_train.jsonl --split test --sweep threshold=-0.3:0.6:0.01
provider { id = "sim", kind = "sim", seed = 7 }

model {
  id = "gpt-4", provider = "sim", upstream = "gpt-4-1106-preview",
  price = { input = 0.0247, output = 0.0247 },          -- USD per 1k tokens ($24.7 per 1M)
  context_window = 128000, tokenizer = "cl100k_base",
  latency = { p50 = 1200, p95 = 3000 },
}

model {
  id = "mixtral", provider = "sim", upstream = "mistralai/Mixtral-8x7B-Instruct-v0.1",
  price = { input = 0.00024, output = 0.00024 },        -- $0.24 per 1M
  context_window = 32000, tokenizer = "estimate",
  latency = { p50 = 400, p95 = 1100 },
}

-- predicts, for each model, the probability that it answers a prompt correctly; its labels
-- are the data's model names, matched here by upstream name
classifier { id = "difficulty", path = "routellm-difficulty.bin" }

route { name = "learned", policy = "../../policies/learned.lua", default = "gpt-4" }
