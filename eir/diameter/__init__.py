"""Diameter (RFC 6733). The base protocol lives here: `message` (values), `dictionary`
(numbers), `wire` (the daemon's bounded decoder and encoder), `codec` (the pycrate reference),
`errors`, `node` (who we are), `base` (CER/CEA, DWR/DWA, DPR/DPA, answer-message), `peer`
(the peer state machine), `allow_list` (who may connect) and `peer_table` (one open connection
per peer, the election). The S13 application (3GPP TS 29.272) is `eir.diameter.s13`; the base
never imports it. Sans-IO."""
