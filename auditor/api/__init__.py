"""The read-only JSON API: clusters, snapshots, findings, reports and reach queries.

Plain Django function views (``views``) behind a token check (``http.api_view``),
dict shapes in ``serialize``, and the OpenAPI 3.1 document in ``schema``, kept by hand
beside the views and checked against their answers by the tests in ``tests/api/``.
"""
