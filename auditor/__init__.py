"""The Django app: stores clusters, snapshots and their analyses, and schedules the work.

The policy engine, findings and the CLI live in the Django-free ``netpol`` package.
"""
