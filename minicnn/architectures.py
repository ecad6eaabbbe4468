"""The architectures, and the registry that names them.

reference_net: a small VGG-style CIFAR-10 net (two conv-conv-pool blocks and
two fully connected layers); layer names match its state dict, e.g.
"conv1.weight", so PyTorch code with the same names can share its weights.

mlp: one hidden layer, whose units' weights are pictures (lesson 3).

MODELS maps a name to the function that builds the network with fresh random
weights. A checkpoint records that name as its "architecture", so
minicnn.checkpoint can rebuild the network before loading the weights; the
`--model` options of the command line offer the same names. Trained networks
come from minicnn.models (pretrained, open_model).
"""
from minicnn.nn import Conv2d, Flatten, Linear, MaxPool2d, ReLU, Sequential


def reference_net(num_classes=10):
    """(N, 3, 32, 32) images -> (N, num_classes) logits."""
    return Sequential({
        "conv1": Conv2d(3, 32, 3, padding=1),      # (N, 32, 32, 32)
        "relu1": ReLU(),
        "conv2": Conv2d(32, 32, 3, padding=1),     # (N, 32, 32, 32)
        "relu2": ReLU(),
        "pool1": MaxPool2d(2),                     # (N, 32, 16, 16)
        "conv3": Conv2d(32, 64, 3, padding=1),     # (N, 64, 16, 16)
        "relu3": ReLU(),
        "conv4": Conv2d(64, 64, 3, padding=1),     # (N, 64, 16, 16)
        "relu4": ReLU(),
        "pool2": MaxPool2d(2),                     # (N, 64, 8, 8)
        "flatten": Flatten(),                      # (N, 4096) in C, H, W order
        "fc1": Linear(64 * 8 * 8, 256),            # (N, 256)
        "relu5": ReLU(),
        "fc2": Linear(256, num_classes),           # (N, num_classes)
    })


def mlp(hidden=256, num_classes=10):
    """One hidden layer: (N, 3, 32, 32) -> 3,072 pixels -> `hidden` ReLUs -> logits.
    Each hidden unit's weights are a 32x32 RGB image (the lecture's weight pictures)."""
    return Sequential({
        "flatten": Flatten(),                      # (N, 3072)
        "fc1": Linear(3 * 32 * 32, hidden),        # (N, hidden)
        "relu1": ReLU(),
        "fc2": Linear(hidden, num_classes),        # (N, num_classes)
    })


MODELS = {"reference_net": reference_net, "mlp": mlp}
