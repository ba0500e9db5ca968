--[[
  flush-partition (variable number of keys): apply one Kafka partition's
  pending view deltas and record the partition's next offset, atomically and
  exactly once.

  The deltas were computed from the offsets [expected, next). They are applied
  only if the stored offset of the partition equals `expected` (compare and
  set): a replay after a crash, or a zombie worker after a rebalance, sees a
  different stored offset and changes nothing.

  Input:
    KEYS[1]    partition state hash (speed:<group>:partitions)
    KEYS[2..]  the keys the ops below refer to by index
    ARGV[1]    offset field   (o:<topic>:<partition>)
    ARGV[2]    expected offset ('' = none stored yet)
    ARGV[3]    next offset
    ARGV[4]    max-event-time field (t:<topic>:<partition>)
    ARGV[5]    max event time of the partition so far (ms; '' = none)
    ARGV[6]    last-seen field (s:<topic>:<partition>)
    ARGV[7]    wall clock now (ms), or '' when this flush saw no events
    ARGV[8]    the ops as one MessagePack array of strings (speed/scripts.ts
               packStrings; Redis's cmsgpack unpacks it), each op an opcode,
               a key index, then its arguments:
      I k field n        add an integer (as HINCRBY)
      F k field x        add a double (as HINCRBYFLOAT, but in double precision, written
                         so it reads back as the same double)
      < k field x        keep the minimum
      > k field x        keep the maximum
      P k count e1..en   PFADD
      Z k member n       ZINCRBY
      S k field value    HSET
      D k field          HDEL
      A k score member   ZADD
      R k member         ZREM
      T k ms             PEXPIRE
      E k value          SET (records which consumer group computes a view)
      X kIdx kHash cutoff   remove sessions whose start < cutoff from index kIdx and hash kHash

  Consecutive ops of one kind (I/F/</>, S, A, D, R) on one key are applied
  together (see below); their effect is that of applying them one by one.

  Output:
     1                  applied
    {-1, stored}        offset mismatch (stored offset, '' when none): nothing changed
    error               unknown opcode (a bug): nothing changed
]]
local stored = redis.call('HGET', KEYS[1], ARGV[1])
if stored == false then stored = '' end
if stored ~= ARGV[2] then
  return {-1, stored}
end

-- One argument instead of one per op string: far less for the client to encode and Redis to parse.
local ops = cmsgpack.unpack(ARGV[8])

-- Validate every opcode before writing anything, so a bad program changes nothing.
local known = {I=4, F=4, ['<']=4, ['>']=4, Z=4, S=4, D=3, A=4, R=3, T=3, E=3, X=4}
local i = 1
local n = #ops
while i <= n do
  local op = ops[i]
  if op == 'P' then
    i = i + 3 + tonumber(ops[i + 2])
  elseif known[op] then
    i = i + known[op]
  else
    return redis.error_reply('braid flush-partition: unknown opcode ' .. tostring(op) .. ' at ' .. i)
  end
end

-- Runs of consecutive ops of one kind on one key become one or two commands (HMGET + HSET, variadic
-- HSET/ZADD/HDEL/ZREM): a command called from Lua costs microseconds, and a flush holds tens of
-- thousands of ops, mostly in runs (an operator writes a window's or a view's cells together).
-- Within a run the ops commute, so the result is that of running them one by one.
local CHUNK = 500 -- pairs per variadic call: unpack() is bounded by Lua's C stack

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
      local field, delta, kind = fields[j], deltas[j], kinds[j]
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
        pairs_out[#pairs_out + 1] = field
        pairs_out[#pairs_out + 1] = value
      end
    end
    if #pairs_out > 0 then redis.call('HSET', key, unpack(pairs_out)) end
  end
end

-- Variadic commands over a list of arguments, in chunks of `per` arguments.
local function variadic(command, key, args, per)
  for from = 1, #args, per do
    redis.call(command, key, unpack(args, from, math.min(#args, from + per - 1)))
  end
end

local RUN_KIND = {I = 'inc', F = 'inc', ['<'] = 'inc', ['>'] = 'inc', S = 'S', A = 'A', D = 'D', R = 'R'}
local WIDTH = {I = 2, F = 2, ['<'] = 2, ['>'] = 2, S = 2, A = 2, D = 1, R = 1}

-- The run being gathered: kind, key, and its arguments.
local run_kind, run_key = nil, nil
local run_fields, run_deltas, run_kinds, run_index, run_args = {}, {}, {}, {}, {}

local function end_run()
  if run_kind == 'inc' then
    combine_fields(run_key, run_fields, run_deltas, run_kinds)
  elseif run_kind == 'S' then
    variadic('HSET', run_key, run_args, 2 * CHUNK)
  elseif run_kind == 'A' then
    variadic('ZADD', run_key, run_args, 2 * CHUNK)
  elseif run_kind == 'D' then
    variadic('HDEL', run_key, run_args, CHUNK)
  elseif run_kind == 'R' then
    variadic('ZREM', run_key, run_args, CHUNK)
  end
  run_kind, run_key = nil, nil
  run_fields, run_deltas, run_kinds, run_index, run_args = {}, {}, {}, {}, {}
end

i = 1
while i <= n do
  local op = ops[i]
  local key = KEYS[tonumber(ops[i + 1])]
  local kind = RUN_KIND[op]
  if kind then
    if kind ~= run_kind or key ~= run_key then
      end_run()
      run_kind, run_key = kind, key
    end
    if kind == 'inc' then
      local field, delta = ops[i + 2], tonumber(ops[i + 3])
      local at = run_index[field]
      if at == nil then
        at = #run_fields + 1
        run_index[field] = at
        run_fields[at] = field
        run_kinds[at] = op
        run_deltas[at] = delta
      elseif op == 'I' or op == 'F' then
        run_deltas[at] = run_deltas[at] + delta
      elseif (op == '<' and delta < run_deltas[at]) or (op == '>' and delta > run_deltas[at]) then
        run_deltas[at] = delta
      end
    else
      for j = 2, WIDTH[op] + 1 do run_args[#run_args + 1] = ops[i + j] end
    end
    i = i + 2 + WIDTH[op]
  else
    end_run()
    if op == 'P' then
      local count = tonumber(ops[i + 2])
      redis.call('PFADD', key, unpack(ops, i + 3, i + 2 + count))
      i = i + 3 + count
    elseif op == 'Z' then
      redis.call('ZINCRBY', key, ops[i + 3], ops[i + 2])
      i = i + 4
    elseif op == 'T' then
      redis.call('PEXPIRE', key, ops[i + 2])
      i = i + 3
    elseif op == 'E' then
      redis.call('SET', key, ops[i + 2])
      i = i + 3
    elseif op == 'X' then
      local hash = KEYS[tonumber(ops[i + 2])]
      local old = redis.call('ZRANGEBYSCORE', key, '-inf', '(' .. ops[i + 3], 'LIMIT', 0, 500)
      for _, member in ipairs(old) do
        redis.call('HDEL', hash, member)
        redis.call('ZREM', key, member)
      end
      i = i + 4
    end
  end
end
end_run()

redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
if ARGV[5] ~= '' then
  redis.call('HSET', KEYS[1], ARGV[4], ARGV[5])
end
if ARGV[7] ~= '' then
  redis.call('HSET', KEYS[1], ARGV[6], ARGV[7])
end
return 1
