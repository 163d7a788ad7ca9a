"""Netpol Auditor: clusters, snapshots, collection, the policy engine and findings."""

from .celery import app as celery_app

__all__ = ("celery_app",)
