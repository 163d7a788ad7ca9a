"""The model stored with an analysed snapshot: loaded instead of built after a restart,
and ignored (built again) when missing, tampered with, or made for other ranges."""

from __future__ import annotations

import gc
import logging
import pickle
import random
from pathlib import Path

import pytest

from auditor import services, storage
from auditor.models import Analysis, Snapshot
from bench.synthetic import generate_cluster
from netpol import load_paths
from netpol.engine import ClusterModel, InputError, Selector, model_from_bytes, model_to_bytes
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
    assert (
        model.reach("shop/web-1", "10.0.0.1", 8080).to_dict()
        == storage.load_model(analysed).reach("shop/web-1", "10.0.0.1", 8080).to_dict()
    )
    assert model.derived("x", lambda: 1) == 1  # a loaded model works as a built one


def test_the_stored_model_holds_what_pages_ask_for(analysed, monkeypatch):
    """The allowed set and the whole exposure are computed before storing, not by the
    first page that asks after a restart."""
    fresh = storage.build_model(analysed)
    expected = fresh.external_exposure().to_dict(), fresh.allowed_connections().to_dict()
    loaded = storage.load_model(analysed)

    def refuse(*args, **kwargs):
        raise AssertionError("computed after loading")

    # The engine's own names, patched where the model builds them.
    monkeypatch.setattr("netpol.engine.cluster.ExternalExposure", refuse)
    monkeypatch.setattr("netpol.engine.cluster.AllowedConnections", refuse)
    assert (
        loaded.external_exposure().to_dict(),
        loaded.allowed_connections().to_dict(),
    ) == expected


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


# -- the stored form answers as the model it was made from ------------------------------

DEMO = Path(__file__).resolve().parent.parent / "auditor" / "demo_cluster"


def _generated() -> ClusterModel:
    objects = generate_cluster(pods=600, namespaces=30, policies=150, seed=3, address_blocks=True)
    return ClusterModel.from_objects(
        namespaces=objects["Namespace"],
        pods=objects["Pod"],
        nodes=objects["Node"],
        policies=objects["NetworkPolicy"],
        services=objects["Service"],
    )


def _answers(model: ClusterModel, seed: int) -> dict:
    """Every kind of answer pages and the CLI ask for, on a fixed sample of questions."""
    rng = random.Random(seed)
    keys = sorted(p.key for p in model.pods)
    addresses = ["8.8.8.8", "10.0.0.1", "192.168.0.10", "2001:db8::1"]
    reach = []
    for _ in range(150):
        src = rng.choice(keys + addresses)
        dst = rng.choice(keys + addresses[:1])
        port, protocol = rng.choice(
            [(53, "UDP"), (80, "TCP"), (5432, "TCP"), (8080, "TCP"), (9090, "TCP")]
        )
        try:
            reach.append(model.reach(src, dst, port, protocol).to_dict())
        except InputError as exc:
            reach.append(str(exc))
    allowed = model.allowed_connections()
    return {
        "isolation": [i.to_dict() for i in model.isolation()],
        "reach": reach,
        "matrix": model.matrix(),
        "matrix 8080": model.matrix(port=8080),
        "by namespace": model.grouped_matrix("namespace"),
        "by workload": model.grouped_matrix("workload", port=5432),
        "allowed": allowed.to_dict(),
        "edges": allowed.edges("namespace"),
        "workload edges": allowed.edges("workload"),
        "exposure": model.external_exposure().to_dict(),
        "ranges": model.ranges_summary(),
        "errors": [str(e) for e in model.errors],
        "selected": [[p.key for p in model.policies_selecting(pod)] for pod in model.pods],
        "namespaces": model.namespaces_matching(Selector(match_labels=(("team", "team-1"),))),
        "findings": audit(model).to_dict(),
    }


@pytest.mark.parametrize(
    "make", [lambda: load_paths([DEMO]), _generated], ids=["demo", "generated"]
)
def test_a_stored_model_answers_exactly_as_the_fresh_one(make):
    fresh = make()
    expected = _answers(fresh, seed=1)  # computes what the analysis computes before storing
    loaded = model_from_bytes(model_to_bytes(fresh))
    assert loaded is not fresh and loaded.pods[0] is not fresh.pods[0]
    assert _answers(loaded, seed=1) == expected
    # A question nobody asked before storing (a new selector, a new port) is answered too.
    new_selector = Selector(match_labels=(("role", "db"),))
    assert loaded.evaluation.pod_index.eval(new_selector) == fresh.evaluation.pod_index.eval(
        new_selector
    )
    assert loaded.matrix(port=6379) == fresh.matrix(port=6379)


def test_a_model_stored_before_its_evaluation_evaluates_after_loading():
    fresh = _generated()  # built, nothing asked yet (load_paths asks about the tiers)
    loaded = model_from_bytes(model_to_bytes(fresh))
    assert "evaluation" not in loaded.__dict__
    assert _answers(loaded, seed=2) == _answers(fresh, seed=2)


def test_the_stored_form_keeps_equal_parts_once():
    """Equal selectors, labels and bitsets are stored (and loaded) once each."""
    model = _generated()
    audit(model)
    stored = model_to_bytes(model)
    assert len(stored) * 3 < len(pickle.dumps(model, protocol=5)) * 2
    loaded = model_from_bytes(stored)
    selectors = [p.pod_selector for p in loaded.policies]
    assert len({id(s) for s in selectors}) == len(set(selectors)) < len(selectors)
    labels = [p.labels for p in loaded.pods]
    assert len({id(d) for d in labels}) == len({tuple(d.items()) for d in labels}) < len(labels)
    bitsets = [b for b in loaded.evaluation.selected if b.bit_length() > 256]
    assert len({id(b) for b in bitsets}) == len(set(bitsets)) < len(bitsets)


def test_a_loaded_model_goes_to_the_collectors_oldest_generation():
    """The young collections after a load do not walk the model's objects again."""
    model = _generated()
    audit(model)
    stored = model_to_bytes(model)
    gc.collect()
    loaded = model_from_bytes(stored)
    young = gc.get_objects(generation=0) + gc.get_objects(generation=1)
    assert not any(obj is loaded or obj is loaded.pods for obj in young)
    assert len(young) < len(loaded.pods)


def test_a_stored_model_may_call_nothing_outside_the_engine():
    class Payload:
        def __reduce__(self):
            return (print, ("called",))

    with pytest.raises(pickle.UnpicklingError, match="builtins.print"):
        model_from_bytes(pickle.dumps(Payload()))
