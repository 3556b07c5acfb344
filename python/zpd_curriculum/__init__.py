"""Python adapters of the zpd curriculum server (`zpd serve`): verl, TRL and prime-rl.

Standard library only; each trainer module imports without its trainer
installed. See docs/trainers/ for the configuration of each.
"""

from .client import ZpdClient, ZpdConnectionError, ZpdError, ZpdServerError, client_from_env
from .ledger import CursorLedger

__all__ = ["ZpdClient", "ZpdError", "ZpdServerError", "ZpdConnectionError", "client_from_env", "CursorLedger"]
