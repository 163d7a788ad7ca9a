from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, render

from auditor.models import Cluster
from auditor.selectors import active_snapshot, latest_snapshot


@login_required
def home(request):
    rows = [
        {
            "cluster": cluster,
            "current": latest_snapshot(cluster),
            "active": active_snapshot(cluster),
            "recent": list(cluster.snapshots.all()[:5]),
        }
        for cluster in Cluster.objects.all()
    ]
    return render(request, "webui/home.html", {"rows": rows})


@login_required
def cluster_snapshots(request, name):
    cluster = get_object_or_404(Cluster, name=name)
    page = Paginator(cluster.snapshots.all(), 50).get_page(request.GET.get("page"))
    return render(request, "webui/snapshots.html", {"cluster": cluster, "page": page, "current": latest_snapshot(cluster)})
