--[[
  flush-partitions (variable number of keys): apply the pending view deltas of
  one or more Kafka partitions (a pipeline thread's partitions, one flush
  round) and record each partition's next offset, atomically and exactly once.

  The deltas were computed from each partition's offsets [expected, next). They
  are applied only if the stored offset of every partition equals its
  `expected` (compare and set): a replay after a crash, or a zombie worker
  after a rebalance, sees a different stored offset, and then nothing changes,
  for any of the partitions; the caller restores them all from Redis.

  Input:
    KEYS[1]    partition state hash (speed:<group>:partitions)
    KEYS[2..]  the keys the ops below refer to by index
    ARGV[1]    m, the number of partitions
    ARGV[2..1+7m]  per partition, 7 arguments:
               offset field   (o:<topic>:<partition>)
               expected offset ('' = none stored yet)
               next offset
               max-event-time field (t:<topic>:<partition>)
               max event time of the partition so far (ms; '' = none)
               last-seen field (s:<topic>:<partition>)
               wall clock now (ms), or '' when this flush saw no events of it
    ARGV[2+7m] the ops of all the partitions as one MessagePack array
               (speed/flush-program.ts; Redis's cmsgpack unpacks it) of runs. A
               run is an opcode, a key index, a count n, then n entries of the
               opcode's width (WIDTH below):
      I k n (field, integer)*       add integers (as HINCRBY)
      F k n (field, number)*        add doubles (as HINCRBYFLOAT, but in double precision,
                                    written so they read back as the same doubles)
      < k n (field, number)*        keep the minimum
      > k n (field, number)*        keep the maximum
      Z k n (member, number)*       ZINCRBY
      S k n (field, value)*         HSET (values may be binary: partition sketches)
      D k n field*                  HDEL
      A k n (score, member)*        ZADD
      R k n member*                 ZREM
      T 0 n (key index, ms)*        PEXPIRE (the run spans keys: each entry names its key)
      E k n value*                  SET (records which consumer group computes a view)
      X k n (hash index, cutoff)*   remove sessions whose start < cutoff from index k and hash

  Consecutive I/F/</> runs on one key are applied together as one HMGET and
  one HSET per chunk of fields; S, A, D and R runs as variadic commands.
  Their effect is that of applying the ops one by one.

  Output:
     1                  applied
    {-1, i, stored, …}  offset mismatch, for each refused partition its position i (1-based) in
                        the header and its stored offset ('' when none): nothing changed
    error               malformed program (a bug): nothing changed
]]
-- Compare and set on every partition first: one stale offset and the whole round changes nothing.
local HEADER = 7
local m = tonumber(ARGV[1])
if m == nil or m < 1 or #ARGV ~= 2 + HEADER * m then
  return redis.error_reply('braid flush-partitions: bad header (' .. tostring(ARGV[1]) .. ' partitions, ' .. #ARGV .. ' arguments)')
end
local refused = {}
for p = 0, m - 1 do
  local at = 2 + HEADER * p
  local stored = redis.call('HGET', KEYS[1], ARGV[at])
  if stored == false then stored = '' end
  if stored ~= ARGV[at + 1] then
    refused[#refused + 1] = p + 1
    refused[#refused + 1] = stored
  end
end
if #refused > 0 then
  table.insert(refused, 1, -1)
  return refused
end

-- One argument instead of one per op string: far less for the client to encode and Redis to parse.
local ops = cmsgpack.unpack(ARGV[2 + HEADER * m])

local WIDTH = {I=2, F=2, ['<']=2, ['>']=2, Z=2, S=2, D=1, A=2, R=1, T=2, E=1, X=2}
local NUMERIC = {I=true, F=true, ['<']=true, ['>']=true}
local VARIADIC = {S='HSET', A='ZADD', D='HDEL', R='ZREM'}

-- Validate every run header before writing anything, so a malformed program changes nothing.
local n = #ops
local i = 1
while i <= n do
  local op, count = ops[i], ops[i + 2]
  local width = WIDTH[op]
  if width == nil then
    return redis.error_reply('braid flush-partitions: unknown opcode ' .. tostring(op) .. ' at ' .. i)
  end
  if type(count) ~= 'number' or (op ~= 'T' and KEYS[ops[i + 1]] == nil) then
    return redis.error_reply('braid flush-partitions: bad run header at ' .. i)
  end
  i = i + 3 + width * count
end
if i ~= n + 1 then
  return redis.error_reply('braid flush-partitions: program ends inside a run')
end

-- A command called from Lua costs microseconds, and a flush holds tens of thousands of ops, mostly in
-- long runs (an operator writes a window's or a view's cells together): a run is one command per chunk.
local CHUNK = 500 -- arguments per variadic call: unpack() is bounded by Lua's C stack

local function number_text(value)
  -- The shortest of 15, 16 or 17 significant digits that reads back as the same double.
  local text = string.format('%.15g', value)
  if tonumber(text) ~= value then
    text = string.format('%.16g', value)
    if tonumber(text) ~= value then text = string.format('%.17g', value) end
  end
  return text
end

-- Increments (I, F) and extremes (<, >) of one hash: read the fields, combine, write back.
local function combine_fields(key, fields, deltas, kinds)
  for from = 1, #fields, CHUNK do
    local to = math.min(#fields, from + CHUNK - 1)
    local current = redis.call('HMGET', key, unpack(fields, from, to))
    local pairs_out = {}
    for j = from, to do
      local delta, kind = deltas[j], kinds[j]
      local stored = current[j - from + 1]
      local value
      if kind == 'I' then
        value = string.format('%d', (stored and tonumber(stored) or 0) + delta)
      elseif kind == 'F' then
        value = number_text((stored and tonumber(stored) or 0) + delta)
      elseif stored == false or (kind == '<' and delta < tonumber(stored)) or (kind == '>' and delta > tonumber(stored)) then
        value = number_text(delta)
      end
      if value then
        pairs_out[#pairs_out + 1] = fields[j]
        pairs_out[#pairs_out + 1] = value
      end
    end
    if #pairs_out > 0 then redis.call('HSET', key, unpack(pairs_out)) end
  end
end

-- The numeric fields gathered from consecutive I/F/</> runs on one key.
local num_key = nil
local num_fields, num_deltas, num_kinds, num_index = {}, {}, {}, {}

local function end_numeric()
  if num_key == nil then return end
  combine_fields(num_key, num_fields, num_deltas, num_kinds)
  num_key = nil
  num_fields, num_deltas, num_kinds, num_index = {}, {}, {}, {}
end

i = 1
while i <= n do
  local op, count = ops[i], ops[i + 2]
  local from = i + 3
  local to = i + 2 + WIDTH[op] * count
  local key = KEYS[ops[i + 1]]
  if NUMERIC[op] then
    if key ~= num_key then
      end_numeric()
      num_key = key
    end
    for j = from, to, 2 do
      local field, delta = ops[j], ops[j + 1]
      local at = num_index[field]
      if at == nil then
        at = #num_fields + 1
        num_index[field] = at
        num_fields[at] = field
        num_kinds[at] = op
        num_deltas[at] = delta
      elseif op == 'I' or op == 'F' then
        num_deltas[at] = num_deltas[at] + delta
      elseif (op == '<' and delta < num_deltas[at]) or (op == '>' and delta > num_deltas[at]) then
        num_deltas[at] = delta
      end
    end
  else
    end_numeric()
    local command = VARIADIC[op]
    if command then
      -- Whole entries per call: a chunk of pairs for S and A.
      local per = CHUNK * WIDTH[op]
      for a = from, to, per do
        redis.call(command, key, unpack(ops, a, math.min(to, a + per - 1)))
      end
    elseif op == 'T' then
      for j = from, to, 2 do redis.call('PEXPIRE', KEYS[ops[j]], ops[j + 1]) end
    elseif op == 'Z' then
      for j = from, to, 2 do redis.call('ZINCRBY', key, ops[j + 1], ops[j]) end
    elseif op == 'E' then
      for j = from, to do redis.call('SET', key, ops[j]) end
    elseif op == 'X' then
      for j = from, to, 2 do
        local hash = KEYS[ops[j]]
        local old = redis.call('ZRANGEBYSCORE', key, '-inf', '(' .. ops[j + 1], 'LIMIT', 0, 500)
        for _, member in ipairs(old) do
          redis.call('HDEL', hash, member)
          redis.call('ZREM', key, member)
        end
      end
    end
  end
  i = to + 1
end
end_numeric()

local state = {}
for p = 0, m - 1 do
  local at = 2 + HEADER * p
  state[#state + 1] = ARGV[at]
  state[#state + 1] = ARGV[at + 2]
  if ARGV[at + 4] ~= '' then
    state[#state + 1] = ARGV[at + 3]
    state[#state + 1] = ARGV[at + 4]
  end
  if ARGV[at + 6] ~= '' then
    state[#state + 1] = ARGV[at + 5]
    state[#state + 1] = ARGV[at + 6]
  end
end
redis.call('HSET', KEYS[1], unpack(state))
return 1
