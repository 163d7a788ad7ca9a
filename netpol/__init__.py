"""Netpol's Django-free core: collectors, the policy engine, findings, diff, graph, what-if, CLI."""
