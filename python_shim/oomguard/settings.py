"""How a part of oomguard takes its settings: each part names the settings it owns in
`SETTINGS` and takes them in `apply_setting(name, value, complain)`, checking the value
itself. Runtime only hands each setting to its owner. A bad value is complained about
(the logger, and a warning to the user) and the setting kept; nothing raises."""
from __future__ import annotations

import logging
import math
import warnings

log = logging.getLogger("oomguard")


def complain(message: str) -> None:
    """Tell the user about a bad argument without raising (even under -W error)."""
    log.warning(message)
    try:
        warnings.warn(message, stacklevel=6)  # the caller of oomguard.enable()
    except Exception:
        pass


def is_number(value) -> bool:
    """An int or float (not a bool), finite."""
    return not isinstance(value, bool) and isinstance(value, (int, float)) \
        and math.isfinite(value)
