"""Workload identity: which workload a pod belongs to, the one definition in the core.

A pod names its controlling owner; where the owner's name says how, the identity climbs
one level, so it survives the next rollout or run:

* a ReplicaSet ``<deployment>-<pod-template-hash>`` is its Deployment;
* a Job ``<cronjob>-<minutes>`` is its CronJob. The CronJob controller names each Job
  after the scheduled time in minutes since the epoch, as a decimal number
  (``fmt.Sprintf("%s-%d", name, scheduledTime.Unix()/60)``): eight digits since 1989 and
  more later, so fewer digits (``migrate-2``) is a plain Job.
"""

from __future__ import annotations

import re

_CRONJOB_RUN = re.compile(r"(?P<cronjob>.+)-\d{8,}")


def owning_workload(kind: str, name: str, template_hash: str = "") -> tuple[str, str]:
    """``(kind, name)`` of the workload behind an owner (see the module docstring)."""
    if kind == "ReplicaSet" and template_hash and name.endswith("-" + template_hash):
        return "Deployment", name[: -len(template_hash) - 1]
    if kind == "Job" and (m := _CRONJOB_RUN.fullmatch(name)):
        return "CronJob", m["cronjob"]
    return kind, name


def controlling_workload(metadata: dict, labels: dict[str, str]) -> tuple[str, str]:
    """``(kind, name)`` of a pod's workload from its metadata; ``("", "")`` without owner."""
    owners = metadata.get("ownerReferences") or []
    owner = next((o for o in owners if o.get("controller")), owners[0] if owners else None)
    if not owner:
        return "", ""
    return owning_workload(
        owner.get("kind") or "", owner.get("name") or "", labels.get("pod-template-hash") or ""
    )
