"""The model stored with an analysed snapshot: loaded instead of built after a restart,
and ignored (built again) when missing, tampered with, or made for other ranges."""

from __future__ import annotations

import logging

import pytest

from auditor import services, storage
from auditor.models import Analysis, Snapshot
from netpol.findings import audit

from .test_snapshots import SHOP, collect, manifest_cluster

pytestmark = pytest.mark.django_db


@pytest.fixture
def analysed(tmp_path, settings):
    settings.VAR_DIR = tmp_path / "var"
    (tmp_path / "shop.yaml").write_text(SHOP)
    cluster = manifest_cluster(tmp_path)
    snapshot = collect(cluster)
    Analysis.objects.filter(snapshot=snapshot).delete()
    services.snapshot_analyze(snapshot=snapshot)
    storage.forget_models()
    return Snapshot.objects.select_related("cluster").get(pk=snapshot.pk)


def _no_build(monkeypatch):
    def refuse(snapshot):
        raise AssertionError("the model was built, not loaded")

    monkeypatch.setattr(storage, "build_model", refuse)


def test_the_first_page_after_a_restart_loads_the_stored_model(analysed, monkeypatch):
    expected = {f.fingerprint for f in audit(storage.build_model(analysed)).findings}
    _no_build(monkeypatch)
    model = storage.engine_model(analysed)
    assert {f.fingerprint for f in audit(model).findings} == expected
    assert model.reach("shop/web-1", "10.0.0.1", 8080).to_dict() == storage.load_model(analysed).reach(
        "shop/web-1", "10.0.0.1", 8080
    ).to_dict()
    assert model.derived("x", lambda: 1) == 1  # a loaded model works as a built one


def test_a_tampered_file_is_refused_and_the_model_built(analysed, caplog):
    [path] = list(storage._model_path(analysed).parent.glob("*.model"))
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="auditor.storage"):
        assert storage.load_model(analysed) is None
    assert "not a model signed by this installation" in caplog.text
    assert storage.engine_model(analysed).pods  # built from the rows instead


def test_other_declared_ranges_mean_another_model(analysed):
    assert storage.load_model(analysed) is not None
    analysed.cluster.pod_cidrs = "10.244.0.0/16"
    analysed.cluster.save()
    fresh = Snapshot.objects.select_related("cluster").get(pk=analysed.pk)
    assert storage.load_model(fresh) is None  # stored for the ranges it was built with
    assert storage.build_model(fresh).pod_ranges == (["10.244.0.0/16"], "declared")


def test_other_engine_code_means_another_model(analysed, monkeypatch):
    monkeypatch.setattr(storage, "_engine_code", lambda: "other-code")
    assert storage.load_model(analysed) is None


def test_a_cluster_keeps_its_two_newest_stored_models(analysed):
    cluster = analysed.cluster
    for _ in range(3):
        snapshot = collect(cluster)
        Analysis.objects.filter(snapshot=snapshot).delete()
        services.snapshot_analyze(snapshot=snapshot)
    stored = list(storage._model_path(analysed).parent.glob(f"{cluster.pk}-*.model"))
    assert len(stored) == storage.MODELS_KEPT_PER_CLUSTER
