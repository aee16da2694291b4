"""Errors that name the bad input precisely: file, line or field, value, and the expected form."""
from __future__ import annotations

from pathlib import Path


class InputError(ValueError):
    """Bad input data or configuration.

    The message always names the file; where known also the 1-based line, the field, the bad
    value and what was expected, so a user can fix the input without reading code.
    """

    def __init__(
        self,
        file: str | Path,
        problem: str,
        *,
        line: int | None = None,
        field: str | None = None,
        value: object = None,
        expected: str | None = None,
    ) -> None:
        self.file = str(file)
        self.problem = problem
        self.line = line
        self.field = field
        self.value = value
        self.expected = expected
        where = self.file + (f":{line}" if line is not None else "")
        parts = [f"{where}: {problem}"]
        if field is not None:
            parts.append(f"field '{field}'")
        if value is not None:
            parts.append(f"got {value!r}")
        if expected is not None:
            parts.append(f"expected {expected}")
        super().__init__("; ".join(parts))


class SettingsError(ValueError):
    """A bad environment setting: names the variable, the value and the expected form."""

    def __init__(self, variable: str, value: object, problem: str, expected: str | None) -> None:
        self.variable = variable
        self.value = value
        message = f"{variable}: {problem}; got {value!r}"
        if expected:
            message += f"; expected {expected}"
        super().__init__(message)
