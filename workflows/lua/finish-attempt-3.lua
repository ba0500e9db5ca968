--[[
  finish-attempt (3 keys): ends a task's attempt, if the caller still holds it.
    KEYS[1] run hash    KEYS[2] active runs (zset)    KEYS[3] the attempt's log (list)
    ARGV[1] task    ARGV[2] fencing token of the attempt    ARGV[3] outcome: success | failed | retry | poke
    ARGV[4] result JSON (success) or error text (failed, retry)    ARGV[5] ready at, ms (retry, poke)
    ARGV[6] the events channel    ARGV[7] log lines kept    ARGV[8] the log's lifetime, ms    ARGV[9…] log lines
  The attempt's last log lines are appended first, whether or not the attempt is still the task's latest, so its
  log is complete once the task's end is visible. An accepted end is published on the events channel (the task's,
  and the run's when it ended).
  success and failed are final: the task's downstream tasks are decided by their trigger rules, and the run ends
  once every task is final. retry waits for its next attempt (retry_wait); poke (a sensor not yet satisfied) waits
  without counting an attempt (sensing). Both are ready again at ARGV[5], with a new sequence.
  Returns {1, outcome, run's final state or '', [task, seq, pool]*} (for retry and poke: the task itself), or
  {0, reason} when the token is not the task's latest (a stale attempt: nothing changes).
]]
local run, active, task = KEYS[1], KEYS[2], ARGV[1]
if #ARGV > 8 then
  redis.call('RPUSH', KEYS[3], unpack(ARGV, 9))
  redis.call('LTRIM', KEYS[3], -tonumber(ARGV[7]), -1)
  redis.call('PEXPIRE', KEYS[3], ARGV[8])
end
if redis.call('HGET', run, 'k:' .. task) ~= ARGV[2] then return { 0, 'stale attempt' } end
if redis.call('HGET', run, 's:' .. task) ~= 'running' then return { 0, 'task is not running' } end
local graph = graph_of(run)
local now = now_ms()
local outcome = ARGV[3]
local ready = {}
local final = false
if outcome == 'success' then
  redis.call('HSET', run, 's:' .. task, 'success', 't1:' .. task, now, 'r:' .. task, ARGV[4])
  redis.call('HDEL', run, 'e:' .. task)
  final = settle(run, active, graph, task, now, ready)
elseif outcome == 'failed' then
  redis.call('HSET', run, 's:' .. task, 'failed', 't1:' .. task, now, 'e:' .. task, ARGV[4])
  final = settle(run, active, graph, task, now, ready)
elseif outcome == 'retry' or outcome == 'poke' then
  if outcome == 'retry' then
    redis.call('HINCRBY', run, 'a:' .. task, 1)
    redis.call('HSET', run, 'e:' .. task, ARGV[4], 't1:' .. task, now)
  end
  make_ready(run, graph, task, ready, ARGV[5])
  local waiting = 'retry_wait'
  if outcome == 'poke' then waiting = 'sensing' end
  redis.call('HSET', run, 's:' .. task, waiting)
else
  return redis.error_reply('unknown outcome ' .. outcome)
end
local id, workflow = unpack(redis.call('HMGET', run, 'id', 'workflow'))
redis.call('PUBLISH', ARGV[6], cjson.encode({ type = 'task', runId = id, workflow = workflow, task = task, state = outcome }))
if final then redis.call('PUBLISH', ARGV[6], cjson.encode({ type = 'run', runId = id, workflow = workflow, state = final })) end
local result = { 1, outcome, final or '' }
for _, v in ipairs(ready) do table.insert(result, v) end
return result
