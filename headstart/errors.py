"""The one exception type users see.

Anything raised as ``HeadstartError`` is a problem with the user's input (a file, a config key, a
checkpoint) and is printed by the CLI as a single line, never a traceback.  Its message must name the
file, line, key or value at fault.
"""


class HeadstartError(Exception):
    """A user-facing error: its message is shown as one line and the CLI exits with status 2."""
