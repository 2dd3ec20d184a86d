"""Tools to look inside a network: gradient checks, gradient flow through time, word vectors in 2-D,
convolutional filters and activation maps as pictures, captions and their attention as pictures."""

from .captions import attention_overlay, plot_caption_attention, plot_caption_grid, upsample
from .features import conv_filters, feature_maps, plot_feature_maps, plot_filters, plot_image_rows
from .gradcheck import check_gradients, check_loss_gradients, float64_clone, numerical_gradient, relative_error
from .gradflow import gradient_flow, input_influence, plot_gradient_flow, plot_influence, state_gradients
from .projection import pca, plot_words

__all__ = [
    "check_gradients",
    "check_loss_gradients",
    "float64_clone",
    "numerical_gradient",
    "relative_error",
    "state_gradients",
    "input_influence",
    "gradient_flow",
    "plot_gradient_flow",
    "plot_influence",
    "pca",
    "plot_words",
    "feature_maps",
    "conv_filters",
    "plot_filters",
    "plot_feature_maps",
    "plot_image_rows",
    "upsample",
    "attention_overlay",
    "plot_caption_attention",
    "plot_caption_grid",
]
