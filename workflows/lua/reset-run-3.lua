--[[
  reset-run (3 keys): runs a finished run again: its failed tasks (and those that could not run for them), or all.
    KEYS[1] run hash    KEYS[2] active runs (zset)    KEYS[3] queued runs (zset)
    ARGV[1] which tasks: failed | all    ARGV[2] the workflow's maxActiveRuns    ARGV[3] trigger of the new try
  Sequences and tokens keep counting, so jobs and attempts of the earlier try stay stale.
  Returns {1, state, [task, seq, pool]*}, or {0, state} when the run is not finished.
]]
local run = KEYS[1]
local state = redis.call('HGET', run, 'state')
if state ~= 'success' and state ~= 'failed' then return { 0, tostring(state) } end
local graph = graph_of(run)
local done, failed = 0, 0
for _, t in ipairs(graph.whole().order) do
  local s = redis.call('HGET', run, 's:' .. t)
  local again = ARGV[1] == 'all' or s == 'failed' or s == 'upstream_failed' or s == 'skipped'
  if again then
    redis.call('HSET', run, 's:' .. t, 'waiting')
    redis.call('HDEL', run, 'a:' .. t, 't0:' .. t, 't1:' .. t, 'ss:' .. t, 'r:' .. t, 'e:' .. t, 'w:' .. t, 'ra:' .. t)
  else
    done = done + 1
  end
end
local now = now_ms()
local id = redis.call('HGET', run, 'id')
redis.call('HSET', run, 'done', done, 'failed', failed, 'trigger', ARGV[3], 'created', now)
redis.call('HDEL', run, 'ended')
local ready = {}
if redis.call('ZCARD', KEYS[2]) < tonumber(ARGV[2]) then
  redis.call('HSET', run, 'state', 'running', 'started', now)
  redis.call('ZADD', KEYS[2], now, id)
  start_tasks(run, KEYS[2], graph, now, ready)
  local final = finish_if_done(run, KEYS[2], now)
  local result = { 1, final or 'running' }
  for _, v in ipairs(ready) do table.insert(result, v) end
  return result
end
redis.call('HSET', run, 'state', 'queued')
redis.call('ZADD', KEYS[3], redis.call('HGET', run, 'start'), id)
return { 1, 'queued' }
