--- switchyard.text — cheap text rules for policies: task tables, keyword rules with word
-- boundaries, numbered lists, length bands. Plain finds only (no Lua patterns), so a 32 KB
-- prompt costs microseconds. Loaded into the policy sandbox by `require "switchyard.text"`.
local _M = {}

local ipairs, type = ipairs, type

--- Task names (req.meta.task) and the tier each needs.
_M.TASKS = {
  classify = "small", extract = "small", password_reset = "small", faq = "small",
  summarize = "small", translate = "medium", chat = "medium",
  code = "large", analysis = "large", legal = "large", math = "large",
}

--- Keyword rules: { needle, tier, label [, word = true] }, plain text in the lower-cased
-- prompt (word: not inside a longer word); the first match wins.
_M.RULES = {
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
}

--- Defaults of classify()'s options.
_M.DEFAULTS = {
  list = { min_items = 5, tier = "large" },
  long_chars = 24000,
  short_chars = 280,
}

local MAX_HITS = 4 -- occurrences of a word rule's needle checked for word boundaries

local function is_word_byte(b)
  return b ~= nil and (b >= 97 and b <= 122 or b >= 48 and b <= 57 or b == 95)
end

--- Whether the lower-cased text holds the rule's needle (as a whole word if rule.word).
-- @tparam string lower lower-cased text
-- @tparam table rule { needle, tier, label, word = bool }
-- @treturn boolean
function _M.matches(lower, rule)
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

--- Whether a list numbered 1 … n starts lines, in order (n plain finds).
-- @tparam string lower lower-cased text
-- @tparam number n items
-- @treturn boolean
function _M.numbered_list(lower, n)
  local text, pos = "\n" .. lower, 1
  for i = 1, n do
    local s = text:find("\n" .. i .. ". ", pos, true) or text:find("\n" .. i .. ") ", pos, true)
    if not s then return false end
    pos = s + 1
  end
  return true
end

--- The tier of a text and why: long → large, then rules, then a numbered list, then length.
-- @tparam string text the prompt
-- @tparam[opt] table opts rules, list, long_chars, short_chars (defaults above)
-- @treturn string tier ("small", "medium" or "large")
-- @treturn string the reason
function _M.classify(text, opts)
  opts = opts or _M.DEFAULTS
  local rules = opts.rules or _M.RULES
  local list = opts.list or _M.DEFAULTS.list
  if #text > (opts.long_chars or _M.DEFAULTS.long_chars) then return "large", "long prompt" end
  local lower = text:lower()
  for _, rule in ipairs(rules) do
    if _M.matches(lower, rule) then return rule[2], rule[3] end
  end
  if _M.numbered_list(lower, list.min_items) then return list.tier, "numbered list" end
  if #text <= (opts.short_chars or _M.DEFAULTS.short_chars) then return "small", "short prompt" end
  return "medium", "medium prompt"
end

--- The tier a task name asks for, or nil.
-- @tparam any task req.meta.task
-- @tparam[opt] table tasks task → tier (default TASKS)
-- @treturn string|nil
function _M.task_tier(task, tasks)
  if type(task) ~= "string" then return nil end
  return (tasks or _M.TASKS)[task]
end

return _M
