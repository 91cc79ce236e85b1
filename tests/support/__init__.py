"""Test support shared by every test package: real API servers (in-process or as a subprocess)."""
