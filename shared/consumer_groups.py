"""A consumer group's upkeep on Redis: created at id 0 when missing, pending entries whose
stream entry was deleted acknowledged, and consumers that left with nothing pending forgotten.
"""

from redis.asyncio import Redis
from redis.exceptions import ResponseError
from redis.typing import StreamIdT

# Deletes a consumer only if, at that very moment, it has nothing pending and is still idle:
# XGROUP DELCONSUMER would otherwise drop the pending entries of a consumer that just read.
DELETE_IF_IDLE_AND_EMPTY = """
for _, consumer in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
  local fields = {}
  for i = 1, #consumer, 2 do fields[consumer[i]] = consumer[i + 1] end
  if fields['name'] == ARGV[2] then
    if fields['pending'] == 0 and fields['idle'] > tonumber(ARGV[3]) then
      redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
      return 1
    end
    return 0
  end
end
return 0
"""


async def provision(redis: Redis, stream: str, group: str) -> bool:
    """Create the group at id 0 (entries published before it existed are read); whether it had
    to be created."""
    try:
        await redis.xgroup_create(stream, group, id="0", mkstream=True)
    except ResponseError as error:
        if "BUSYGROUP" not in str(error):
            raise
        return False
    return True


async def forget_deleted_entries(
    redis: Redis, stream: str, group: str, *, idle_ms: int
) -> list[StreamIdT]:
    """Acknowledge pending entries deleted from the stream: nothing is left to process, and
    Redis 6.2 would hand them to the reclaimer without fields forever. The ids acknowledged."""
    pending = await redis.xpending_range(stream, group, min="-", max="+", count=100, idle=idle_ms)
    forgotten: list[StreamIdT] = []
    for entry in pending:
        entry_id = entry["message_id"]
        if not await redis.xrange(stream, min=entry_id, max=entry_id):
            await redis.xack(stream, group, entry_id)
            forgotten.append(entry_id)
    return forgotten


async def forget_stale_consumers(
    redis: Redis, stream: str, group: str, *, keep: str, idle_ms: int
) -> list[str]:
    """Delete the group's consumers, other than ``keep``, idle longer than ``idle_ms`` with
    nothing pending; the names deleted."""
    removed: list[str] = []
    for consumer in await redis.xinfo_consumers(stream, group):
        name = consumer["name"].decode()
        stale = consumer["idle"] > idle_ms
        if (
            name != keep
            and consumer["pending"] == 0
            and stale
            and await redis.eval(DELETE_IF_IDLE_AND_EMPTY, 1, stream, group, name, idle_ms)
        ):
            removed.append(name)
    return removed
