"""SIGTRAN for MAP CheckIMEI: M3UA (RFC 4666), then SCCP, TCAP and MAP. Sans-IO."""
