"""How ConvNets see: one module per visualisation technique, in the lecture's order.

    images.py           image files, normalisation, display, class names
    filters.py          first-layer filters and the mlp's hidden units as pictures
    receptive_field.py  the input region a unit can see, drawn as boxes on the image
    top_patches.py      the top-9 images of every channel, cropped to the receptive field
    layer_views.py      those crops beside their guided-backprop / deconvnet reconstructions
    targets.py          what is explained: a class score or one unit
    attribution.py      saliency, guided backprop, deconvnet, SmoothGrad, gradient x input
    integrated.py       Integrated Gradients, and the baselines it starts from
    lrp.py              layer-wise relevance propagation, rule by rule and composite
    class_model.py      gradient ascent on the input for a class, with regularisers
    occlusion.py        occlusion sensitivity
    incremental.py      its occluded copies, recomputing only what the square changes
    gradcam.py          Grad-CAM, Grad-CAM++ and guided Grad-CAM
    faithfulness.py     deletion / insertion curves, class insensitivity
    adversarial.py      adversarial examples: FGSM and PGD
    sanity.py           sanity checks by cascading randomisation
    render.py           drawing: grids, heatmaps, renderings of signed maps
    tour.py             all of the above on one HTML page (`minicnn tour`)

Compute functions return NumPy arrays; plot_* functions take arrays and return matplotlib
Figures (save them with minicnn.plots.save_figure).
"""
from minicnn.visualize.attribution import (
    deconvnet,
    gradient,
    guided_backprop,
    input_x_gradient,
    saliency,
    smoothgrad,
    smoothgrad_sq,
    unit_gradient,
    vargrad,
)
from minicnn.visualize.adversarial import fgsm, pgd, plot_success_rate, success_rate
from minicnn.visualize.class_model import (
    PRESETS,
    class_model,
    gaussian_blur,
    high_frequency_energy,
    plot_history,
)
from minicnn.visualize.filters import (
    conv_filters,
    hidden_unit_weights,
    plot_filters,
    weights_to_rgb,
)
from minicnn.visualize.faithfulness import (
    MAP_METHODS,
    class_insensitivity,
    deletion_insertion,
    faithfulness,
    pixel_importance,
)
from minicnn.visualize.gradcam import gradcam, gradcam_plus_plus, guided_gradcam, upsample
from minicnn.visualize.images import (
    class_index,
    input_stats,
    load_image,
    model_classes,
    pixel_range,
    to_input,
    to_rgb,
)
from minicnn.visualize.layer_views import plot_layer_view, reconstructions
from minicnn.visualize.integrated import integrated_gradients, make_baseline
from minicnn.visualize.lrp import lrp
from minicnn.visualize.occlusion import occlusion, occlusion_attribution, plot_occlusion
from minicnn.visualize.receptive_field import (
    centre_unit,
    output_size,
    plot_receptive_fields,
    receptive_field,
    receptive_field_size,
)
from minicnn.visualize.render import (
    image_grid,
    mosaic,
    overlay,
    panel_grid,
    render_map,
    signed_panel,
    signed_to_rgb,
)
from minicnn.visualize.sanity import (
    cascading_randomization,
    plot_sanity_maps,
    plot_similarity,
    sanity_check,
    spearman,
)
from minicnn.visualize.targets import probabilities
from minicnn.visualize.top_patches import Top, crop_top, plot_top_patches, top_activations

__all__ = [
    "MAP_METHODS", "PRESETS", "Top", "cascading_randomization", "centre_unit", "class_index",
    "class_insensitivity", "class_model", "conv_filters", "crop_top", "deconvnet",
    "deletion_insertion", "faithfulness", "fgsm", "gaussian_blur", "gradcam",
    "gradcam_plus_plus", "gradient", "guided_backprop", "guided_gradcam", "hidden_unit_weights",
    "high_frequency_energy", "image_grid", "input_stats", "input_x_gradient",
    "integrated_gradients", "load_image", "lrp", "make_baseline", "model_classes", "mosaic",
    "occlusion", "occlusion_attribution", "output_size", "overlay", "panel_grid", "pgd",
    "pixel_importance", "pixel_range", "plot_filters", "plot_history", "plot_layer_view",
    "plot_occlusion", "plot_receptive_fields", "plot_sanity_maps", "plot_similarity",
    "plot_success_rate", "plot_top_patches", "probabilities", "receptive_field",
    "receptive_field_size", "reconstructions", "render_map", "saliency", "sanity_check",
    "signed_panel", "signed_to_rgb", "smoothgrad", "smoothgrad_sq", "spearman", "success_rate",
    "to_input", "to_rgb", "top_activations", "unit_gradient", "upsample", "vargrad",
    "weights_to_rgb",
]
