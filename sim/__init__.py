"""eir-sim: workloads and (with the protocol issues) S13 and MAP traffic against an EIR."""
