"""Keep each cluster's beat entry in step with the cluster, whoever saves it."""

from .beat import follow
from .models import Cluster


def _sync(cluster: Cluster) -> None:
    from .services import cluster_sync_schedule  # services import models; signals load first

    cluster_sync_schedule(cluster=cluster)


follow(Cluster, _sync)
