"""The one error type for bad input files: it always names the file, line and column."""

from __future__ import annotations


class DataFormatError(ValueError):
    """A problem with an input file, located to the line and column (both 1-based).

    ``line`` or ``column`` may be 0 when the problem is the whole file or the whole line.
    ``str(err)`` is one line in the ``file:line:column: message`` form that editors and
    compilers use.
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
