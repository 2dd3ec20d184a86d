"""Tools to look inside a network: gradient checks (and, later, gradient flow through time)."""
from .gradcheck import check_gradients, check_loss_gradients, float64_clone, numerical_gradient, relative_error

__all__ = ["check_gradients", "check_loss_gradients", "float64_clone", "numerical_gradient", "relative_error"]
