"""The device database: what the handset behind a TAC is (the GSMA TAC database, a lab's CSV)
and the national approved-models list.

Pure (layer 1): :mod:`eir.devices.record` (the record, its radio technologies, the in-memory
index the answer path probes), :mod:`eir.devices.packing` (the record as the list store keeps
it), :mod:`eir.devices.formats` (the files read into records, every bad row as ``file:line``),
:mod:`eir.devices.approved` (the approved-models list), :mod:`eir.devices.sample` (generated
sample files, never real GSMA data).
"""
