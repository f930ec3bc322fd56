"""eir: an Equipment Identity Register (MAP CheckIMEI and Diameter S13) on an LMDB list store."""

__version__ = "0.1.0"
