"""Tests of the suite machinery itself: how `make test` spreads tests over xdist workers."""
