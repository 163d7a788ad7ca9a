"""kombu's Redis transport, with one guard that keeps the worker alive across a Redis restart.

With kombu 5.7 / redis-py 8.1, when Redis goes away while a worker holds an unacknowledged
message (every snapshot task is ``acks_late``), the consumer closes the dead connection
and kombu tries to put that message back through a transport that has already been
detached from its connection (``transport.client`` is None). The ``AttributeError`` that
follows is not a connection error, so Celery calls it unrecoverable and the worker exits
for good ("Unrecoverable error: AttributeError('NoneType' … 'hostname')"). Raised as a
connection error instead, the close goes on and the consumer reconnects as usual; the
message stays in Redis's unacked set, and the running task still acknowledges it.
tests/faults/test_broker.py reproduces the crash without this guard.
"""

from __future__ import annotations

from kombu.transport import redis
from redis.exceptions import ConnectionError as RedisConnectionError


class Channel(redis.Channel):
    def _connparams(self, asynchronous=False):
        if self.connection.client is None:
            raise RedisConnectionError("the broker connection is closed")
        return super()._connparams(asynchronous=asynchronous)


class Transport(redis.Transport):
    Channel = Channel
