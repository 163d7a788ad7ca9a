"""What-if runs computed by a worker: ``services`` (request, execute, fail stale) and
``tasks`` (load by id, call the service), as ``auditor.reports`` has its own."""
