--[[
  lease (2 keys): the scheduler's lease, held by one scheduler at a time, with a fencing token per holding.
    KEYS[1] the lease (holder string)    KEYS[2] fencing counter
    ARGV[1] acquire | renew | release    ARGV[2] holder (a renew or release names the holder it got)
    ARGV[3] time to live, ms
  acquire: when free, takes it as '<ARGV[2]>#<fence>' (a new fence each time) and returns that holder string;
    when held returns {0, holder}. renew: returns {1, holder} if ARGV[2] still holds it (extending it), else {0}.
    release: frees it if ARGV[2] holds it.
]]
local held = redis.call('GET', KEYS[1])
if ARGV[1] == 'acquire' then
  if held then return { 0, held } end
  local holder = ARGV[2] .. '#' .. redis.call('INCR', KEYS[2])
  redis.call('SET', KEYS[1], holder, 'PX', ARGV[3])
  return { 1, holder }
elseif ARGV[1] == 'renew' then
  if held ~= ARGV[2] then return { 0 } end
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return { 1, held }
elseif ARGV[1] == 'release' then
  if held == ARGV[2] then redis.call('DEL', KEYS[1]) end
  return { 1 }
end
return redis.error_reply('unknown lease operation ' .. ARGV[1])
