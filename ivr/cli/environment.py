"""The `IVR_*` settings of a command, read once at its start; a wrong value stops it (exit 2)."""

from __future__ import annotations

import sys

from ivr.settings import Settings, SettingsError, load_settings

EXIT_BAD_SETTING = 2


def settings_or_exit(command: str = "ivr") -> Settings:
    """The settings, or one line per wrong variable on stderr and SystemExit(2)."""
    try:
        return load_settings()
    except SettingsError as error:
        for problem in error.problems:
            print(f"{command}: {problem}", file=sys.stderr)
        raise SystemExit(EXIT_BAD_SETTING) from None
