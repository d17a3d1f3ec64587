--- switchyard.fit — what a request needs of a model: capabilities read from cheap request
-- fields, and images (which need the messages, so read only when it matters). Loaded into
-- the policy sandbox by `require "switchyard.fit"`.
local _M = {}

local ipairs, type = ipairs, type

local JSON_FORMATS = { json_object = true, json_schema = true }

--- Capabilities the request uses, from response_format and tools (not vision: see has_image).
-- @tparam table req the request view
-- @treturn table list of capability names, for sy.models{ cap = ... }
function _M.needed_caps(req)
  local caps = {}
  local rf = req.response_format
  if type(rf) == "table" and JSON_FORMATS[rf.type] then caps[#caps + 1] = "json" end
  local tools = req.tools
  if type(tools) == "table" and #tools > 0 then caps[#caps + 1] = "tools" end
  return caps
end

--- Whether the request wants JSON out (response_format json_object or json_schema).
-- @tparam table req the request view
-- @treturn boolean
function _M.wants_json(req)
  local rf = req.response_format
  return type(rf) == "table" and JSON_FORMATS[rf.type] == true
end

--- Whether any message has an image part (reads req.messages: call it only when needed).
-- @tparam table messages req.messages
-- @treturn boolean
function _M.has_image(messages)
  if type(messages) ~= "table" then return false end
  for _, msg in ipairs(messages) do
    local content = type(msg) == "table" and msg.content
    if type(content) == "table" then
      for _, part in ipairs(content) do
        if type(part) == "table" and part.type == "image_url" then return true end
      end
    end
  end
  return false
end

return _M
