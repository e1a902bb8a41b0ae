"""Names shared by the converter and the code that loads its output.

Kept apart from convert.py so that loading already-converted files never imports ``onnx``
(~45 ms of a cold start).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

Precision = Literal["fp32", "int8"]
ProgressCallback = Callable[[int, int], None]  # (bytes of weights done, total)

# Bump when convert.py changes the graph it writes: runtime files are rebuilt on mismatch.
CONVERTER_VERSION = "3"
