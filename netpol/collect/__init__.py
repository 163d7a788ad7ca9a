"""Collection: backends that fetch raw Kubernetes objects, and their normalisation.

Each backend is an object with a ``fetch()`` generator that yields ``(kind, obj)``
pairs, where ``obj`` is the object as the API server returns it in JSON (camelCase
keys). ``normalize`` turns those into the compact records that snapshots store.
"""
