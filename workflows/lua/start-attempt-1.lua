--[[
  start-attempt (1 key): a worker takes a task's queue job and starts an attempt.
    KEYS[1] run hash
    ARGV[1] task    ARGV[2] the job's ready sequence    ARGV[3] worker id
  A job of an older readiness (ARGV[2] is not the task's q) is stale. A task already running was lost by a worker
  that died (its job came back): its attempt is fenced off by a new token and counted.
  Returns {1, token, attempt, handoff ms (-1 for a task without upstream), first start ms, workflow, interval start,
    interval end, trigger, [upstream, result]*}, or {0, reason}.
]]
local run, task = KEYS[1], ARGV[1]
if redis.call('HGET', run, 'state') ~= 'running' then return { 0, 'run is ' .. tostring(redis.call('HGET', run, 'state')) } end
if redis.call('HGET', run, 'q:' .. task) ~= ARGV[2] then return { 0, 'stale job' } end
local state = redis.call('HGET', run, 's:' .. task)
local attempt = tonumber(redis.call('HGET', run, 'a:' .. task) or '0')
if state == 'running' or attempt == 0 then
  attempt = attempt + 1
  redis.call('HSET', run, 'a:' .. task, attempt)
elseif state ~= 'ready' and state ~= 'retry_wait' and state ~= 'sensing' then
  return { 0, 'task is ' .. tostring(state) }
end
local now = now_ms()
local token = redis.call('HINCRBY', run, 'k:' .. task, 1)
redis.call('HSET', run, 's:' .. task, 'running', 't0:' .. task, now, 'w:' .. task, ARGV[3])
redis.call('HSETNX', run, 'ss:' .. task, now)
local handoff, latest = -1, nil
local result = {}
-- Each upstream task's end and result, in one read.
local ups, fields = graph_of(run).spec(task).up, {}
for i, up in ipairs(ups) do fields[2 * i - 1] = 't1:' .. up; fields[2 * i] = 'r:' .. up end
local values = {}
if #fields > 0 then values = redis.call('HMGET', run, unpack(fields)) end
for i, up in ipairs(ups) do
  local ended = tonumber(values[2 * i - 1] or '')
  if ended and (not latest or ended > latest) then latest = ended end
  local value = values[2 * i]
  if value then table.insert(result, up); table.insert(result, value) end
end
if latest and attempt == 1 and tonumber(redis.call('HGET', run, 'k:' .. task)) == 1 then handoff = now - latest end
local head = { 1, token, attempt, handoff, redis.call('HGET', run, 'ss:' .. task), redis.call('HGET', run, 'workflow'),
  redis.call('HGET', run, 'start'), redis.call('HGET', run, 'end'), redis.call('HGET', run, 'trigger') }
for _, v in ipairs(result) do table.insert(head, v) end
return head
