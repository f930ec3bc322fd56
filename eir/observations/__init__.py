"""Who uses which handset: the IMEI-IMSI pairs eir sees as it answers.

* :mod:`eir.observations.record`: one pair's observed state per node, and how two states merge;
* :mod:`eir.observations.delta`: the message a node publishes its changed pairs in;
* :mod:`eir.observations.store`: the LMDB observation store, separate from the list store;
* :mod:`eir.observations.buffer`: the bounded buffer the answer path appends sightings to;
* :mod:`eir.observations.writer`: the task that flushes it into the store, and retention.

The observation store holds full IMSIs: it is personal data (docs/observations.md).
"""
