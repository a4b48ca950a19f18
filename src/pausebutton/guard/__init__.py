"""Framework guards: meter training compute, stop at a step boundary, refuse prohibited weights.

``pausebutton.guard.budget`` (no torch needed) holds the budget sources a
guard draws from; ``pausebutton.guard.torch`` wraps a PyTorch training loop;
``pausebutton.guard.artifacts`` hashes tensors and checks them against the
signed list of prohibited artifacts.
"""

from pausebutton.guard.budget import (
    BudgetSource,
    LicenseExhausted,
    LocalBudget,
    Paused,
    StepGrant,
)

__all__ = ["BudgetSource", "LicenseExhausted", "LocalBudget", "Paused", "StepGrant"]
