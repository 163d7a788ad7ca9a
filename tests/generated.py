"""A generated cluster of realistic shape for page tests: ``bench.synthetic.kubectl_list``
written as a manifests directory, registered, snapshotted and analysed in process, the way
``manage.py snapshot`` does it (the analysis task is not queued)."""

from __future__ import annotations

from pathlib import Path
from unittest import mock

import yaml


def analysed_cluster(directory: Path, name: str, pods: int = 5_000, namespaces: int = 200,
                     policies: int = 1_000, **fields):
    from auditor import services
    from auditor.models import Cluster, Snapshot
    from bench.synthetic import kubectl_list

    directory.mkdir(parents=True, exist_ok=True)
    (directory / "cluster.yaml").write_text(
        yaml.dump(kubectl_list(pods, namespaces, policies), Dumper=yaml.CSafeDumper, sort_keys=False)
    )
    with mock.patch("django.db.transaction.on_commit"):
        cluster = Cluster.objects.create(
            name=name, source=Cluster.Source.MANIFESTS, manifest_path=str(directory), **fields
        )
        snapshot = services.snapshot_request(cluster=cluster, trigger=Snapshot.Trigger.MANUAL, enqueue=False)
        services.snapshot_collect(snapshot_id=snapshot.pk)
        services.snapshot_analyze(snapshot=Snapshot.objects.get(pk=snapshot.pk))
    return cluster
