"""The list store: LMDB for real, an in-memory twin for tests, and the list-file loader.

* ``api``: the :class:`~eir.store.api.ListStore` protocol and the values it takes and returns;
* ``records``: the on-disk layout (tables, keys, packed entry records) and the range index;
* ``batch``: a load as the store applies it (:class:`~eir.store.batch.Batch` of ``Group`` s);
* ``apply``: a batch applied in one transaction (its mode's writes, counters, history):
  ``writes`` for add and remove, over any ``WriteTxn``; ``replace``, one merge walk per table;
* ``reading``: export, content digest, counters and history, over any ``ReadTxn``;
* ``lmdb_store`` and ``memory``: the two backends;
* the loader, list files -> a ``Batch``: ``loader`` (its entry), ``formats`` (input and file
  shape), ``fields`` (the check of each value), ``rows`` (the row-by-row reference path),
  ``bulk`` (the numpy path), ``assemble`` (groups, duplicates, counts).
"""
