--[[
  create-run (5 keys): creates a run of a workflow for one data interval, once: a run that exists is left as it is.
    KEYS[1] run hash             KEYS[2] the workflow's runs (zset by interval start)
    KEYS[3] active runs (zset)   KEYS[4] queued runs (zset by interval start)   KEYS[5] the scheduler lease
    ARGV[1] run id    ARGV[2] workflow    ARGV[3] DAG (JSON: tasks {id: {up, down, rule, pool}}, order)
    ARGV[4] interval start (ms)   ARGV[5] interval end (ms)   ARGV[6] trigger (schedule | manual | backfill:<id>)
    ARGV[7] the workflow's maxActiveRuns    ARGV[8] the lease holder the caller believes it is ('' = no check)
  Returns {1, state, [task, seq, pool]*} for a new run (state running: its ready tasks; queued: none),
    {0, state} when the run exists, or {-1} when ARGV[8] no longer holds the lease (a stale scheduler).
]]
if ARGV[8] ~= '' and redis.call('GET', KEYS[5]) ~= ARGV[8] then return { -1 } end
if redis.call('EXISTS', KEYS[1]) == 1 then return { 0, redis.call('HGET', KEYS[1], 'state') } end
local dag = cjson.decode(ARGV[3])
local now = now_ms()
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'workflow', ARGV[2], 'dag', ARGV[3], 'start', ARGV[4], 'end', ARGV[5],
  'trigger', ARGV[6], 'created', now, 'total', #dag.order, 'done', 0, 'failed', 0)
for _, t in ipairs(dag.order) do redis.call('HSET', KEYS[1], 's:' .. t, 'waiting', 'g:' .. t, cjson.encode(dag.tasks[t])) end
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
local ready = {}
if redis.call('ZCARD', KEYS[3]) < tonumber(ARGV[7]) then
  redis.call('HSET', KEYS[1], 'state', 'running', 'started', now)
  redis.call('ZADD', KEYS[3], now, ARGV[1])
  start_tasks(KEYS[1], KEYS[3], graph_of(KEYS[1], dag), now, ready)
  local result = { 1, 'running' }
  for _, v in ipairs(ready) do table.insert(result, v) end
  return result
end
redis.call('HSET', KEYS[1], 'state', 'queued')
redis.call('ZADD', KEYS[4], ARGV[4], ARGV[1])
return { 1, 'queued' }
