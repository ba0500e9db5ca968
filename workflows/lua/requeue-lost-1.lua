--[[
  requeue-lost (1 key): a running task whose queue job is gone (its worker died and the job was dropped) is made
  ready again with a new sequence, its lost attempt counted, unless it moved on meanwhile.
    KEYS[1] run hash    ARGV[1] task    ARGV[2] the fencing token seen running
  Returns {1, task, seq, pool} when requeued, {0} otherwise.
]]
local run, task = KEYS[1], ARGV[1]
if redis.call('HGET', run, 'state') ~= 'running' then return { 0 } end
if redis.call('HGET', run, 's:' .. task) ~= 'running' or redis.call('HGET', run, 'k:' .. task) ~= ARGV[2] then return { 0 } end
local ready = {}
redis.call('HINCRBY', run, 'a:' .. task, 1)
make_ready(run, graph_of(run), task, ready)
return { 1, ready[1], ready[2], ready[3] }
