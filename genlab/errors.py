"""User-facing errors: each names the file, key or resource and what was expected.

The CLI and the components print a ``GenlabError`` as one line, without a traceback;
anything else is a bug and keeps its traceback.
"""


class GenlabError(Exception):
    """A failure the user can fix; the message says what and where."""


class ConfigError(GenlabError):
    """A bad preset, config key, or value."""


class DataError(GenlabError):
    """Missing, corrupt or inconsistent data."""


class LaunchError(GenlabError):
    """Distributed training could not start or a worker failed."""


class ClusterError(GenlabError):
    """A Kubernetes cluster or KFP host is unreachable or refused the request."""


class TrainingError(GenlabError):
    """Training diverged (NaN/Inf) or could not resume."""
