--- switchyard.testing — test routing policies with busted through the real C engine.
-- The same config loader, sandbox and policy VM as `switchyard serve`, loaded from
-- libswitchyard.so through LuaJIT's FFI: no server, no upstream, no re-implementation.
--
--     local sy = require "switchyard.testing"
--     local engine = assert(sy.engine("examples/quickstart.lua"))
--     local d = engine:route{ model = "auto", messages = { { role = "user", content = "hi" } } }
--     assert.equal("small", d.model)
--
-- The library is found through $SWITCHYARD_LIB (a path), else the system's libswitchyard.
local ffi = require "ffi"
local cjson = require "cjson"

local _M = {}

ffi.cdef [[
typedef struct sy_engine sy_engine;
int sy_global_init(void);
int sy_engine_open(sy_engine **out, const char *config_path);
void sy_engine_free(sy_engine *eng);
const char *sy_engine_errmsg(const sy_engine *eng);
int sy_engine_route(sy_engine *eng, const char *route, const char *request_json, size_t len,
                    const char **decision_json);
int sy_engine_explain(sy_engine *eng, const char *route, const char *request_json, size_t len,
                      const char **decision_json);
]]

local lib = ffi.load(os.getenv("SWITCHYARD_LIB") or "switchyard")
lib.sy_global_init()

local Engine = {}
Engine.__index = Engine

--- Opens an engine from a config file.
-- @tparam string config_path path of a switchyard config (Lua)
-- @treturn table|nil the engine, or nil and the problems ("file:line: key: message" lines)
function _M.engine(config_path)
  local out = ffi.new("sy_engine *[1]")
  local rc = lib.sy_engine_open(out, config_path)
  local eng = out[0]
  if rc ~= 0 then
    local msg = eng ~= nil and ffi.string(lib.sy_engine_errmsg(eng)) or "out of memory"
    lib.sy_engine_free(eng)
    return nil, msg
  end
  return setmetatable({ handle = ffi.gc(eng, lib.sy_engine_free) }, Engine)
end

--- Routes a request without calling any upstream (Engine:route; Engine:explain adds the
-- candidates).
-- @tparam table request a Chat Completions request (model, messages, metadata, ...)
-- @tparam[opt] string route route name overriding request.model
-- @treturn table the decision: model, chain, kind, reason, tokens, fallback_used, policy_error
-- @treturn[2] nil
-- @treturn[2] string the error
local function call(self, fn, request, route)
  local json = type(request) == "string" and request or cjson.encode(request)
  local out = ffi.new("const char *[1]")
  local rc = fn(self.handle, route, json, #json, out)
  if out[0] == nil then
    return nil, ffi.string(lib.sy_engine_errmsg(self.handle))
  end
  local decision = cjson.decode(ffi.string(out[0]))
  return decision, rc ~= 0 and ffi.string(lib.sy_engine_errmsg(self.handle)) or nil
end

function Engine:route(request, route)
  return call(self, lib.sy_engine_route, request, route)
end

--- Routes a request like route(), with "candidates": every model, kept or dropped, and why.
-- @tparam table request a Chat Completions request
-- @tparam[opt] string route route name overriding request.model
-- @treturn table the decision with a candidates list
function Engine:explain(request, route)
  return call(self, lib.sy_engine_explain, request, route)
end

--- A request with one user message (and optional fields merged in).
-- @tparam string text the user message
-- @tparam[opt] table fields extra request fields (model, metadata, tools, ...)
-- @treturn table the request
function _M.request(text, fields)
  local req = { model = "auto", messages = { { role = "user", content = text } } }
  for k, v in pairs(fields or {}) do req[k] = v end
  return req
end

return _M
