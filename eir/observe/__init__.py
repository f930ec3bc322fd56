"""Observing a running eir: the Prometheus metrics of a process (`eir.observe.metrics`) and
the endpoint that serves them (`eir.observe.endpoint`). An adapter layer: the endpoint does IO.
"""
