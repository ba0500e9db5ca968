--[[
  start-run (3 keys): starts a queued run when its workflow has a free active slot.
    KEYS[1] run hash    KEYS[2] active runs (zset)    KEYS[3] queued runs (zset)
    ARGV[1] the workflow's maxActiveRuns
  Returns {1, [task, seq, pool]*} when started, {0} when there is no free slot or the run is not queued.
]]
if redis.call('HGET', KEYS[1], 'state') ~= 'queued' then return { 0 } end
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[1]) then return { 0 } end
local now = now_ms()
local id = redis.call('HGET', KEYS[1], 'id')
redis.call('ZREM', KEYS[3], id)
redis.call('ZADD', KEYS[2], now, id)
redis.call('HSET', KEYS[1], 'state', 'running', 'started', now)
local ready = {}
start_tasks(KEYS[1], KEYS[2], graph_of(KEYS[1]), now, ready)
local result = { 1 }
for _, v in ipairs(ready) do table.insert(result, v) end
return result
