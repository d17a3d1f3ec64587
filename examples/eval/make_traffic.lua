-- examples/eval/make_traffic.lua — writes traffic.jsonl: SYNTHETIC labelled traffic for the
-- quickstart's simulated models (small, medium, large), about two thirds simple requests
-- (password resets, extraction, classification, short Q&A) and one third complex ones (code,
-- proofs, analysis, planning). Every row is marked "synthetic": true. The per-model scores are
-- drawn from assumed accuracies (ACCURACY below), not measured on any real model: the file
-- exists to make the seed scenario reproducible, not to claim how good a model is.
-- Run: luajit examples/eval/make_traffic.lua > examples/eval/traffic.jsonl
local N, SEED = 3000, 20261128

-- assumed probability that each model answers well, by group
local ACCURACY = {
  simple = { small = 0.978, medium = 0.986, large = 0.992 },
  complex = { small = 0.52, medium = 0.90, large = 0.985 },
}
-- output tokens by group: { min, max }
local OUTPUT = { simple = { 20, 120 }, complex = { 250, 900 } }

local state = SEED
local function rand() -- Park–Miller, deterministic everywhere
  state = (state * 48271) % 2147483647
  return state / 2147483647
end
local function pick(t) return t[math.floor(rand() * #t) + 1] end
local function int(a, b) return a + math.floor(rand() * (b - a + 1)) end

local NAMES = { "Ada", "Grace", "Linus", "Margaret", "Ken", "Barbara", "Dennis", "Frances" }
local PRODUCTS = { "router", "headset", "standing desk", "monitor", "keyboard", "webcam" }
local DAYS = { "Monday", "Saturday", "Sunday", "public holidays" }

-- each template: group, optional meta.task, and a function making the prompt
local TEMPLATES = {
  { "simple", "password_reset", function()
      return ("I forgot my password for the account %s%d, how do I reset it?"):format(pick(NAMES):lower(), int(1, 999)) end },
  { "simple", nil, function()
      return ("Hi, I can't log in since yesterday, can you send me a reset link? My user is %s."):format(pick(NAMES)) end },
  { "simple", "extract", function()
      return ("Extract the order number, date and total from: \"Order #%d placed on 2026-%02d-%02d by %s, total %d.%02d EUR.\" Reply as JSON."):format(
        int(10000, 99999), int(1, 12), int(1, 28), pick(NAMES), int(5, 900), int(0, 99)) end },
  { "simple", "classify", function()
      return ("Classify the sentiment of this review as positive, negative or neutral: \"The %s arrived %s and %s.\""):format(
        pick(PRODUCTS), pick({ "late", "on time", "early" }), pick({ "works fine", "stopped working after a day", "is ok I guess" })) end },
  { "simple", nil, function()
      return ("Is the %s in stock in black?"):format(pick(PRODUCTS)) end },
  { "simple", nil, function()
      return ("What are your opening hours on %s?"):format(pick(DAYS)) end },
  { "simple", "faq", function()
      return ("How long does shipping to %s take?"):format(pick({ "Spain", "Canada", "Japan", "Kenya" })) end },
  { "simple", "summarize", function()
      return ("Summarise in one sentence: %s reported that the %s was delivered with a scratch and asked for a replacement or a partial refund."):format(
        pick(NAMES), pick(PRODUCTS)) end },
  { "complex", "code", function()
      return ("Refactor this function so that it streams the file instead of reading it whole, and keep the error handling:\n```c\nint load(const char *p) { FILE *f = fopen(p, \"r\"); char buf[%d]; size_t n = fread(buf, 1, sizeof buf, f); return parse(buf, n); }\n```"):format(
        int(1024, 65536)) end },
  { "complex", nil, function()
      return ("Prove that the sum of the first %d odd numbers is a perfect square, and generalise the argument."):format(int(10, 500)) end },
  { "complex", "analysis", function()
      return ("Our churn went from %d%% to %d%% after the price change while signups grew %d%%. Analyse the likely causes step by step and propose three experiments to tell them apart."):format(
        int(2, 5), int(6, 12), int(5, 40)) end },
  { "complex", nil, function()
      return ("We need to migrate %d services from a monolith database to per-service databases without downtime. Lay out the architecture, the order of migration and how to handle cross-service transactions."):format(
        int(5, 60)) end },
  { "complex", nil, function()
      -- hard but short and without keywords: heuristics call it simple (a routing mistake)
      return ("What is the smallest n > %d such that n, n+2 and n+6 are all prime?"):format(int(100, 5000)) end },
  { "complex", nil, function()
      return ("A customer disputes a charge of %d EUR, says the contract of %s allows cancellation within 30 days, and the contract text has two clauses that contradict each other about notice periods. Draft our position, weigh both readings, and say what evidence we should ask for."):format(
        int(100, 5000), pick(NAMES)) end },
}

local function esc(s)
  return (s:gsub('[%c"\\]', function(c)
    if c == "\n" then return "\\n" end
    if c == '"' then return '\\"' end
    if c == "\\" then return "\\\\" end
    return ("\\u%04x"):format(c:byte())
  end))
end

local simple, complex = {}, {}
for _, t in ipairs(TEMPLATES) do
  if t[1] == "simple" then simple[#simple + 1] = t else complex[#complex + 1] = t end
end

for i = 1, N do
  local t = rand() < 2 / 3 and pick(simple) or pick(complex)
  local group, task = t[1], t[2]
  local prompt = t[3]()
  local out = {}
  local scores = {}
  for _, m in ipairs({ "small", "medium", "large" }) do
    scores[#scores + 1] = ('"%s":%d'):format(m, rand() < ACCURACY[group][m] and 1 or 0)
    out[#out + 1] = ('"%s":%d'):format(m, int(OUTPUT[group][1], OUTPUT[group][2]))
  end
  local meta = task and rand() < 0.7 and ('"meta":{"task":"%s"},'):format(task) or ""
  io.write(('{"id":"synthetic/%04d","synthetic":true,"group":"%s",%s"prompt":"%s","scores":{%s},"tokens":{"output":{%s}}}\n'):format(
    i, group, meta, esc(prompt), table.concat(scores, ","), table.concat(out, ",")))
end
