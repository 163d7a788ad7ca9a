"""Observed flows: read Hubble, Calico and CSV flow files and replay them on a model.

Pure Python, no Django. ``formats`` reads the files (one record a line, streamed);
``judge`` matches their ends to the snapshot's pods and judges them with the engine::

    from netpol.flows import replay
    result = replay(model, ["flows.json"], changed=changed_model)
    result.to_dict()["denied"]
"""

from .counting import count_flows
from .formats import (
    FORMATS,
    Counts,
    End,
    FlowFileError,
    Observed,
    detect,
    instant,
    read_flows,
    widen,
)
from .judge import Replay, Resolver, replay, replay_counted, time_text, unused_rules, would_deny

__all__ = [
    "FORMATS",
    "Counts",
    "End",
    "FlowFileError",
    "Observed",
    "Replay",
    "Resolver",
    "count_flows",
    "detect",
    "instant",
    "read_flows",
    "replay",
    "replay_counted",
    "time_text",
    "unused_rules",
    "widen",
    "would_deny",
]
