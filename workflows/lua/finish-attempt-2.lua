--[[
  finish-attempt (2 keys): ends a task's attempt, if the caller still holds it.
    KEYS[1] run hash    KEYS[2] active runs (zset)
    ARGV[1] task    ARGV[2] fencing token of the attempt    ARGV[3] outcome: success | failed | retry | poke
    ARGV[4] result JSON (success) or error text (failed, retry)    ARGV[5] ready at, ms (retry, poke)
  success and failed are final: the task's downstream tasks are decided by their trigger rules, and the run ends
  once every task is final. retry waits for its next attempt (retry_wait); poke (a sensor not yet satisfied) waits
  without counting an attempt (sensing). Both are ready again at ARGV[5], with a new sequence.
  Returns {1, outcome, run's final state or '', [task, seq, pool]*} (for retry and poke: the task itself), or
  {0, reason} when the token is not the task's latest (a stale attempt: nothing changes).
]]
local run, active, task = KEYS[1], KEYS[2], ARGV[1]
if redis.call('HGET', run, 'k:' .. task) ~= ARGV[2] then return { 0, 'stale attempt' } end
if redis.call('HGET', run, 's:' .. task) ~= 'running' then return { 0, 'task is not running' } end
local dag = cjson.decode(redis.call('HGET', run, 'dag'))
local now = now_ms()
local outcome = ARGV[3]
local ready = {}
local final = false
if outcome == 'success' then
  redis.call('HSET', run, 's:' .. task, 'success', 't1:' .. task, now, 'r:' .. task, ARGV[4])
  redis.call('HDEL', run, 'e:' .. task)
  final = settle(run, active, dag, task, now, ready)
elseif outcome == 'failed' then
  redis.call('HSET', run, 's:' .. task, 'failed', 't1:' .. task, now, 'e:' .. task, ARGV[4])
  final = settle(run, active, dag, task, now, ready)
elseif outcome == 'retry' or outcome == 'poke' then
  if outcome == 'retry' then
    redis.call('HINCRBY', run, 'a:' .. task, 1)
    redis.call('HSET', run, 'e:' .. task, ARGV[4], 't1:' .. task, now)
  end
  make_ready(run, dag, task, ready, ARGV[5])
  local waiting = 'retry_wait'
  if outcome == 'poke' then waiting = 'sensing' end
  redis.call('HSET', run, 's:' .. task, waiting)
else
  return redis.error_reply('unknown outcome ' .. outcome)
end
local result = { 1, outcome, final or '' }
for _, v in ipairs(ready) do table.insert(result, v) end
return result
