"""The one exception type that reaches users as a single clear sentence."""


class VmobError(Exception):
    """A user-facing error: bad input, a missing file, an unknown road or station.

    The CLI prints ``str(error)`` on one line and exits non-zero, without a
    traceback. The message must name the file, key, road or station at fault.
    """
