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
      I k field n        HINCRBY
      F k field x        HINCRBYFLOAT
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

i = 1
while i <= n do
  local op = ops[i]
  local key = KEYS[tonumber(ops[i + 1])]
  if op == 'I' then
    redis.call('HINCRBY', key, ops[i + 2], ops[i + 3])
    i = i + 4
  elseif op == 'F' then
    redis.call('HINCRBYFLOAT', key, ops[i + 2], ops[i + 3])
    i = i + 4
  elseif op == '<' or op == '>' then
    local current = redis.call('HGET', key, ops[i + 2])
    local value = tonumber(ops[i + 3])
    if current == false or (op == '<' and value < tonumber(current)) or (op == '>' and value > tonumber(current)) then
      redis.call('HSET', key, ops[i + 2], ops[i + 3])
    end
    i = i + 4
  elseif op == 'P' then
    local count = tonumber(ops[i + 2])
    redis.call('PFADD', key, unpack(ops, i + 3, i + 2 + count))
    i = i + 3 + count
  elseif op == 'Z' then
    redis.call('ZINCRBY', key, ops[i + 3], ops[i + 2])
    i = i + 4
  elseif op == 'S' then
    redis.call('HSET', key, ops[i + 2], ops[i + 3])
    i = i + 4
  elseif op == 'D' then
    redis.call('HDEL', key, ops[i + 2])
    i = i + 3
  elseif op == 'A' then
    redis.call('ZADD', key, ops[i + 2], ops[i + 3])
    i = i + 4
  elseif op == 'R' then
    redis.call('ZREM', key, ops[i + 2])
    i = i + 3
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

redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
if ARGV[5] ~= '' then
  redis.call('HSET', KEYS[1], ARGV[4], ARGV[5])
end
if ARGV[7] ~= '' then
  redis.call('HSET', KEYS[1], ARGV[6], ARGV[7])
end
return 1
