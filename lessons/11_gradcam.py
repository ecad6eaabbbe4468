# %% [markdown]
# # Lesson 11: Grad-CAM, a map that knows the class
#
# Selvaraju, Cogswell, Das, Vedantam, Parikh & Batra, "Grad-CAM: Visual Explanations from
# Deep Networks via Gradient-based Localization" (ICCV 2017).
#
# Lesson 7 ended with a problem: guided backprop is sharp but hardly changes with the class.
# Grad-CAM goes the other way. It stops the gradient at the last convolutional layer, whose
# K channels A_k (each an h x w map) are what the classifier reads, and asks how much the
# class score cares about each channel on average:
#
#     alpha_k = (1 / hw) sum_{i,j} d score / d A_k[i, j]    (global average of the gradient)
#     cam     = relu( sum_k alpha_k A_k )                    (h x w: evidence *for* the class)
#
# then upsamples the h x w map to the image. Coarse, but class-specific. Multiplying it with
# guided backprop gives **guided Grad-CAM**: sharp *and* class-specific.
#
# Needs CIFAR-10 (`--data PATH` or `MINICNN_DATA`).

# %%
import numpy as np

import _common
import minicnn
from minicnn import visualize as vis

args = _common.parse_args("11_gradcam")
data = _common.load_data(args)
model = minicnn.models.pretrained("reference_net")
mean, std = vis.input_stats(model)
classes = vis.model_classes(model)
x, y = _common.examples(model, data, count=4)            # (4, 3, 32, 32), (4,)
rgb = vis.to_rgb(x, mean, std)
names = [classes[k] for k in y]

# %% [markdown]
# ## Grad-CAM by hand
#
# reference_net's last conv layer is conv4; its ReLU's output, relu4, is (N, 64, 16, 16).
# One forward pass keeping relu4 and the logits, one backward pass from the class logit,
# and the formula above.

# %%
acts = model.activations(minicnn.Tensor(x, requires_grad=True), ["relu4", "fc2"])
dout = np.zeros_like(acts["fc2"].data)
dout[np.arange(len(y)), y] = 1                            # d logit_y
acts["fc2"].backward(dout)
A, dA = acts["relu4"].data, acts["relu4"].grad            # (4, 64, 16, 16) each
alpha = dA.mean(axis=(2, 3))                              # (4, 64) one weight per channel
cam = np.maximum(np.einsum("nk,nkhw->nhw", alpha, A), 0)  # (4, 16, 16)
print(f"by hand vs vis.gradcam: largest difference "
      f"{np.abs(cam - vis.gradcam(model, x, y, 'relu4')).max():.1e}")
print(f"channels with a positive weight: {(alpha > 0).sum(axis=1)} of {alpha.shape[1]}")

# %% [markdown]
# ## The maps
#
# The 16 x 16 map, the same upsampled bilinearly to 32 x 32 and laid over the image, and
# guided Grad-CAM (guided backprop times the upsampled map).

# %%
up = vis.upsample(cam, (32, 32))                          # (4, 32, 32)
up = up / np.maximum(up.max(axis=(1, 2), keepdims=True), 1e-12)
guided_cam = vis.guided_gradcam(model, x, y, "relu4")     # (4, 3, 32, 32) signed
panels = [[rgb[n], cam[n] / max(cam[n].max(), 1e-12), vis.overlay(rgb[n], up[n]),
           vis.render_map(vis.guided_backprop(model, x, y), "rgb")[n],
           vis.render_map(guided_cam, "rgb")[n]] for n in range(len(x))]
fig = vis.panel_grid(panels, row_titles=names, col_titles=[
    "image", "Grad-CAM (16x16)", "upsampled, on image", "guided backprop", "guided Grad-CAM"],
    title="Grad-CAM at relu4 for the true class")
_common.save(fig, args.out / "gradcam.png")

# %% [markdown]
# ## Does it know the class?
#
# The test that guided backprop failed in lesson 7: explain each image for its true class
# and for the runner-up class, and compare the maps (Spearman rank correlation).

# %%
with minicnn.no_grad():
    second = np.argsort(-model(minicnn.Tensor(x)).data, axis=1)[:, 1]   # (4,) runner-up
cam_second = vis.gradcam(model, x, second, "relu4")
guided_true = np.abs(vis.guided_backprop(model, x, y)).max(axis=1)
guided_second = np.abs(vis.guided_backprop(model, x, second)).max(axis=1)
for n in range(len(x)):
    print(f"{names[n]:<11} vs {classes[second[n]]:<11} Spearman: Grad-CAM "
          f"{vis.spearman(cam[n], cam_second[n]):5.2f}, guided backprop "
          f"{vis.spearman(guided_true[n], guided_second[n]):5.2f}")
up_second = vis.upsample(cam_second, (32, 32))
up_second = up_second / np.maximum(up_second.max(axis=(1, 2), keepdims=True), 1e-12)
panels = [[rgb[n], vis.overlay(rgb[n], up[n]), vis.overlay(rgb[n], up_second[n])]
          for n in range(len(x))]
titles = [f"{names[n]} / {classes[k]}" for n, k in enumerate(second)]
fig = vis.panel_grid(panels, row_titles=titles,
                     col_titles=["image", "Grad-CAM: true class", "Grad-CAM: runner-up"],
                     title="the same image explained for two classes")
_common.save(fig, args.out / "two_classes.png")

# %% [markdown]
# ## Which layer?
#
# Grad-CAM works at any layer with spatial maps. Early layers are sharp but know little
# about classes; later ones are coarse. The paper uses the last conv layer.

# %%
layers = ["relu2", "relu3", "relu4", "pool2"]
panels = []
for n in range(len(x)):
    row = [rgb[n]]
    for layer in layers:
        m = vis.upsample(vis.gradcam(model, x[n:n + 1], y[n:n + 1], layer), (32, 32))[0]
        row.append(vis.overlay(rgb[n], m / max(m.max(), 1e-12)))
    panels.append(row)
sizes = [vis.output_size(model, layer) for layer in layers]
fig = vis.panel_grid(panels, row_titles=names, col_titles=["image"] + [
    f"{layer} ({h}x{w})" for layer, (h, w) in zip(layers, sizes)],
    title="Grad-CAM at four layers, upsampled to the image")
_common.save(fig, args.out / "layers.png")

# %% [markdown]
# ## What to look for
# - The Grad-CAM map is blobby (16 x 16 cells, then smoothed) and covers the object, or
#   the part of the scene that decided the class.
# - Its Spearman correlation between two classes is much lower than guided backprop's: the
#   weights alpha_k come from the class score, so a different class weighs the channels
#   differently and lights up different regions.
# - Guided Grad-CAM keeps guided backprop's sharp edges only where Grad-CAM is on.
# - At relu2 the map is sharp but noisy and weakly class-specific; at pool2 it is an 8 x 8
#   blur. Grad-CAM's resolution is the price of its class-specificity.

# %%
_common.done(args)

# %% [markdown]
# ## Your turn
#
# Your turn: `minicnn exercise start gradcam` writes `minicnn-exercises/gradcam.py`, a
# skeleton with the math and hints: Grad-CAM's channel weights and map from A and dA; the
# checker then draws the Grad-CAM maps of test images at relu4 with your function. Check it
# with `minicnn exercise check gradcam`.
