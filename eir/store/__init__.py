"""The list store: LMDB for real, an in-memory twin for tests, and the list-file loader."""
