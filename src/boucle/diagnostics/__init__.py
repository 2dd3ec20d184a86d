"""Tools to look inside a network: gradient checks (and, later, gradient flow through time)."""
from .gradcheck import check_gradients, check_loss_gradients, numerical_gradient

__all__ = ["check_gradients", "check_loss_gradients", "numerical_gradient"]
