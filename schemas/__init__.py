"""JSON Schemas of the bridge's records (and, later, the AsyncAPI document of the downstream topics).

A package only so that the schema files ship inside the wheel and are found wherever it is installed.
"""

from pathlib import Path
from typing import Final

SCHEMA_DIR: Final[Path] = Path(__file__).resolve().parent
BASE_URI: Final[str] = "https://schemas.vtex-kafka-bridge.dev/"
