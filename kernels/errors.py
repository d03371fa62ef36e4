"""The project's input-error types.

:class:`InputError` is every problem caused by what a user gave us (a file, an option, a
config value): the command line prints it as one line and exits 2. Anything else that is
raised is a bug and surfaces as one (a traceback), never as "bad input".
"""

from __future__ import annotations


class InputError(Exception):
    """Bad input from the user; ``str(err)`` is the one line the command line prints."""


class UsageError(InputError, ValueError):
    """A bad option, argument or config value (not a file's content). Also a ``ValueError``:
    API callers that pass a bad value get the exception they expect."""


class DataFormatError(InputError, ValueError):
    """A problem with an input file, located to the line and column (both 1-based).

    ``line`` or ``column`` may be 0 when the problem is the whole file or the whole line.
    ``str(err)`` is one line in the ``file:line:column: message`` form that editors and
    compilers use. (Also a ``ValueError``, so callers of the readers may catch either.)
    """

    def __init__(self, path: str, line: int, column: int, message: str):
        self.path = str(path)
        self.line = int(line)
        self.column = int(column)
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.path
        if self.line:
            where += f":{self.line}"
            if self.column:
                where += f":{self.column}"
        return f"{where}: {self.message}"


def show(value) -> str:
    """``repr(value)`` cut to 60 characters, for a one-line message about untrusted input."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
