"""Environment variables mlplab sets for a call, only where the user has not set them."""

import contextlib
import os


@contextlib.contextmanager
def defaults(**values: str):
    """Set the environment variables in ``values`` that are not set, for the block."""
    added = [k for k in values if k not in os.environ]
    os.environ.update({k: values[k] for k in added})
    try:
        yield
    finally:
        for key in added:
            os.environ.pop(key, None)
