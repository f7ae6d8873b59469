"""What stops a run, as types: each says in one line what to fix, and carries its exit code.

The CLI maps them to exit codes (2: the command or its configuration cannot
work; 1: the run could not complete, or its data was refused) instead of
reading messages. Anything else is a bug, reported with its type.
"""
from __future__ import annotations


class CleanwireError(Exception):
    """A run stopped for a reason its user can act on."""
    exit_code = 1


class ConfigError(CleanwireError, ValueError):
    """A problem with the run's configuration: reported in one line, before any work."""
    exit_code = 2


class SuiteError(ConfigError):
    """An expectation suite file cannot be used."""


class OutputLocked(CleanwireError, RuntimeError):
    """Another run holds the output folder."""


class StoreError(CleanwireError, RuntimeError):
    """The output directory cannot be used as a cleanwire store."""


class GateRefused(CleanwireError):
    """The batch gate refused to publish this run's records (a verdict on the data, not a crash)."""


class ConcurrentCommit(OutputLocked):
    """Another run committed the version this run was about to commit (a Delta output on S3 has no lock)."""
