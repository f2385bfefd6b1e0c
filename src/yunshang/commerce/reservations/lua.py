"""The Lua scripts the Redis engine runs; each is atomic in Redis.

Keys per sale (see ``RedisEngine.keys``): the units left, a hash buyer → units,
a hash of pending claims (order id → "buyer|quantity|ms", admitted but not yet
known to be in the database) and the set of order ids whose units were released.
"""

# Admit a batch of claims on one sale, in order, atomically. ARGV: the per-buyer
# limit, the time in ms, then the claims as one JSON array of [buyer, quantity,
# order id] (one argument to pack and send, whatever the batch size). Returns a
# JSON array with a (status, value) pair per claim: (1, left after it),
# (-2, already bought), (-1, left); or [-3] alone when the sale is not loaded.
RESERVE = """
local left = redis.call('GET', KEYS[1])
if not left then return '[-3]' end
left = tonumber(left)
local limit = tonumber(ARGV[1])
local taken = 0
local out = {}
local pending = {}
for _, c in ipairs(cjson.decode(ARGV[3])) do
  local buyer, qty = c[1], c[2]
  if left < qty then
    local bought = tonumber(redis.call('HGET', KEYS[2], buyer) or '0')
    if bought + qty > limit then
      out[#out + 1] = -2; out[#out + 1] = bought
    else
      out[#out + 1] = -1; out[#out + 1] = left
    end
  else
    local bought = redis.call('HINCRBY', KEYS[2], buyer, qty)
    if bought > limit then
      redis.call('HINCRBY', KEYS[2], buyer, -qty)
      out[#out + 1] = -2; out[#out + 1] = bought - qty
    else
      left = left - qty
      taken = taken + qty
      pending[#pending + 1] = c[3]
      pending[#pending + 1] = buyer .. '|' .. qty .. '|' .. ARGV[2]
      out[#out + 1] = 1; out[#out + 1] = left
    end
  end
end
if taken > 0 then
  redis.call('DECRBY', KEYS[1], taken)
  for i = 1, #pending, 2000 do  -- one HSET per 1,000 claims (unpack's stack limit)
    redis.call('HSET', KEYS[3], unpack(pending, i, math.min(i + 1999, #pending)))
  end
end
return cjson.encode(out)
"""

# Load a sale once (only if no server has loaded it yet). ARGV: left, the
# number of buyers, buyer/quantity pairs, then the ids of orders already
# cancelled, whose units ``left`` already counts: their releases are no-ops.
LOAD = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2])
local n = tonumber(ARGV[2])
for i = 3, 2 + 2 * n, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
for i = 3 + 2 * n, #ARGV do redis.call('SADD', KEYS[3], ARGV[i]) end
return 1
"""

# Give back a claim's units: ARGV quantity, buyer, order id.
_RETURN_UNITS = """redis.call('INCRBY', KEYS[1], ARGV[1])
redis.call('HINCRBY', KEYS[2], ARGV[2], -tonumber(ARGV[1]))
return 1
"""

# Undo an admitted claim that never reached the database (only once: the claim
# leaves the pending hash).
UNDO = """
if redis.call('HDEL', KEYS[3], ARGV[3]) == 0 then return 0 end
""" + _RETURN_UNITS

# Return a cancelled order's units (only once per order: it joins the released set).
RELEASE = """
if redis.call('SADD', KEYS[3], ARGV[3]) == 0 then return 0 end
""" + _RETURN_UNITS
