"""Observing a running eir: the Prometheus metrics of a process (`eir.observe.metrics`), the
endpoint that serves them (`eir.observe.endpoint`), and the watch on the store's lists that
feeds the metrics and the ``events/lists`` event (`eir.observe.list_watch`). An adapter layer: the
endpoint and the watch do IO.
"""
