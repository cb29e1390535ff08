"""Helpers shared by the Python test suites (tests/attach, tests/faults, tests/integration): where
the built binaries are, running `layertrace`, and reading what it prints. Each suite's conftest.py
puts tests/pyhelpers on sys.path and imports from here; suite-specific machinery stays there."""
