--[[
  Shared by the run scripts (prepended to each): the DAG of a run, its tasks' states, and how a finished task
  decides its downstream tasks. Task fields of a run hash:
    s:<task>   state: waiting | ready | running | retry_wait | sensing | success | failed | skipped | upstream_failed
    q:<task>   ready sequence: bumped each time the task is made ready; a queue job names it, so a job for an
               older readiness is stale
    k:<task>   fencing token: bumped by every start; only the holder of the latest may finish the attempt
    a:<task>   attempt number (1 for the first; a retry or a lost attempt adds one)
    t0:<task>  start of the current attempt, ms     t1:<task>  end, ms      ra:<task>  ready at, ms (delayed)
    ss:<task>  first start, ms (a sensor's timeout runs from it)
    r:<task>   result (JSON)      e:<task>  error      w:<task>  worker of the attempt
    g:<task>   the task's place in the graph (JSON: up, down, rule, pool)
    p:<task>   upstream tasks not final yet (0 for one_success, which any upstream success decides): an upstream
               success that leaves it above 0 decides nothing, so a wide fan-in reads its upstream states once
  Run fields: workflow, dag (the whole graph and its order), start, end, trigger, state (queued | running |
  success | failed), created, started, ended, total (tasks), done (tasks in a final state), failed (tasks failed
  or upstream_failed).
]]
local TERMINAL = { success = true, failed = true, skipped = true, upstream_failed = true }

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- A run's graph, read as a script needs it: a task's spec ({up, down, rule, pool}) comes from its own g:<task>
-- field, so starting or ending a task decodes a few small specs, not the whole graph (tens of KB for a wide DAG);
-- `whole()` decodes `dag` for what walks every task; when the caller has decoded it already (`whole` given), the
-- specs come from it.
local function graph_of(run, whole)
  local specs = {}
  local graph = {}
  function graph.whole()
    if not whole then whole = cjson.decode(redis.call('HGET', run, 'dag')) end
    return whole
  end
  function graph.spec(task)
    local spec = specs[task]
    if not spec then
      local text = not whole and redis.call('HGET', run, 'g:' .. task)
      if text then spec = cjson.decode(text) else spec = graph.whole().tasks[task] end
      specs[task] = spec
    end
    return spec
  end
  return graph
end

local function state_of(run, task)
  return redis.call('HGET', run, 's:' .. task)
end

-- What a waiting task's rule decides from its upstream states: 'ready', 'skipped', 'upstream_failed' or nil (not yet).
local function decide(run, spec)
  local success, failed, skipped, pending = 0, 0, 0, 0
  local fields = {}
  for i, up in ipairs(spec.up) do fields[i] = 's:' .. up end
  local states = {}
  if #fields > 0 then states = redis.call('HMGET', run, unpack(fields)) end
  for i = 1, #fields do
    local s = states[i]
    if s == 'success' then success = success + 1
    elseif s == 'failed' or s == 'upstream_failed' then failed = failed + 1
    elseif s == 'skipped' then skipped = skipped + 1
    else pending = pending + 1 end
  end
  local rule = spec.rule
  if rule == 'all_success' then
    if failed > 0 then return 'upstream_failed' end
    if skipped > 0 then return 'skipped' end
    if pending == 0 then return 'ready' end
  elseif rule == 'all_done' then
    if pending == 0 then return 'ready' end
  elseif rule == 'none_failed' then
    if failed > 0 then return 'upstream_failed' end
    if pending == 0 then return 'ready' end
  elseif rule == 'one_success' then
    if success > 0 then return 'ready' end
    if pending == 0 then if failed > 0 then return 'upstream_failed' end return 'skipped' end
  elseif rule == 'one_failed' then
    if failed > 0 then return 'ready' end
    if pending == 0 then return 'skipped' end
  end
  return nil
end

-- Marks `task` ready (bumping its sequence) and appends it to `ready` as task, seq, pool.
local function make_ready(run, graph, task, ready, ready_at)
  local seq = redis.call('HINCRBY', run, 'q:' .. task, 1)
  redis.call('HSET', run, 's:' .. task, 'ready', 'ra:' .. task, ready_at or 0)
  table.insert(ready, task)
  table.insert(ready, tostring(seq))
  table.insert(ready, graph.spec(task).pool)
end

-- Finishes the run once every task is final: failed if any task failed or could not run for a failure, else
-- success. Returns the final state, or false while tasks remain.
local function finish_if_done(run, active, now)
  if tonumber(redis.call('HGET', run, 'done')) < tonumber(redis.call('HGET', run, 'total')) then return false end
  local final = 'success'
  if tonumber(redis.call('HGET', run, 'failed') or '0') > 0 then final = 'failed' end
  redis.call('HSET', run, 'state', final, 'ended', now)
  redis.call('ZREM', active, redis.call('HGET', run, 'id'))
  return final
end

-- After `task` reached a final state: decide its downstream tasks (cascading through skips and upstream
-- failures), count finished tasks, and finish the run once every task is final. Returns the run's final state
-- or false.
local function settle(run, active, graph, task, now, ready)
  local function finished(t, s)
    redis.call('HINCRBY', run, 'done', 1)
    if s == 'failed' or s == 'upstream_failed' then redis.call('HINCRBY', run, 'failed', 1) end
  end
  finished(task, state_of(run, task))
  local queue = { task }
  while #queue > 0 do
    local t = table.remove(queue, 1)
    local succeeded = state_of(run, t) == 'success'
    for _, down in ipairs(graph.spec(t).down) do
      -- One more upstream final: a success that leaves others pending decides nothing (no rule can fire yet).
      local pending = redis.call('HINCRBY', run, 'p:' .. down, -1)
      if (pending <= 0 or not succeeded) and state_of(run, down) == 'waiting' then
        local decision = decide(run, graph.spec(down))
        if decision == 'ready' then
          make_ready(run, graph, down, ready)
        elseif decision then
          redis.call('HSET', run, 's:' .. down, decision, 't1:' .. down, now)
          finished(down, decision)
          table.insert(queue, down)
        end
      end
    end
  end
  return finish_if_done(run, active, now)
end

-- Sets p:<task> of a waiting task: its upstream tasks not final yet (0 for one_success).
local function count_pending(run, t, spec)
  local pending = 0
  if spec.rule ~= 'one_success' then
    for _, up in ipairs(spec.up) do
      if not TERMINAL[state_of(run, up)] then pending = pending + 1 end
    end
  end
  redis.call('HSET', run, 'p:' .. t, pending)
end

-- Makes the run's tasks that can start now ready: roots, and waiting tasks whose rule already decides.
local function start_tasks(run, active, graph, now, ready)
  for _, t in ipairs(graph.whole().order) do
    if state_of(run, t) == 'waiting' then
      local spec = graph.spec(t)
      count_pending(run, t, spec)
      if #spec.up == 0 then
        make_ready(run, graph, t, ready)
      else
        local decision = decide(run, spec)
        if decision == 'ready' then make_ready(run, graph, t, ready)
        elseif decision then
          redis.call('HSET', run, 's:' .. t, decision, 't1:' .. t, now)
          redis.call('HINCRBY', run, 'done', 1)
          if decision == 'upstream_failed' then redis.call('HINCRBY', run, 'failed', 1) end
        end
      end
    end
  end
end
