"""The S13 application (3GPP TS 29.272 clause 5.3 ME Identity Check; ECR/ECA in 7.2.19,
7.2.20) on the Diameter base of `eir.diameter`:

- `scan`: `scan_ecr`, the bounded reader of the common ECR (the fast path);
- `request`: `EcrFields`, `decode_ecr` (the complete reader) and `to_request`, every value
  check of an ECR into the protocol-neutral `CheckRequest`;
- `answer`: `Answers`, the ECA and error answers (templates, or encoded whole);
- `server`: `S13Server`, the EIR's application: request bytes in, answer bytes out;
- `client`: the MME's side, `ecr` and `decode_eca` (the simulator, tests, benchmarks).
"""
