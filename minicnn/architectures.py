"""The architectures, and the registry that names them.

reference_net: a small VGG-style CIFAR-10 net (two conv-conv-pool blocks and
two fully connected layers); layer names match its state dict, e.g.
"conv1.weight", so PyTorch code with the same names can share its weights.

mlp: one hidden layer, whose units' weights are pictures (lesson 3).

residual_net: a modern CIFAR-10 net (BatchNorm, residual blocks, global average pooling)
with a 5x5 first layer, big enough for the lecture's oriented edges and colour blobs
(a 3x3 filter cannot hold a Gabor-like edge). Its shape follows the fast CIFAR-10 nets of
Page's DAWNBench ResNet-9 and Keller Jordan's airbench (2024): a stage is a convolution,
a 2x2 max-pool, BatchNorm and ReLU, then (in some stages) a residual block at that
resolution; it ends in global average pooling, so CAM (Zhou et al. 2016) applies.

vgg_bn_net: the most accurate shipped net, a VGG-style net with BatchNorm in the shape of
airbench94 (Jordan 2024): a 2x2 first layer that the trainer starts from patch whitening and keeps fixed, then
three groups of conv-pool-BN-ReLU-conv-BN-ReLU at 64, 256 and 256 channels, a max over the
last 3x3 map and a linear layer.

MODELS maps a name to the function that builds the network with fresh random
weights. A checkpoint records that name as its "architecture", so
minicnn.checkpoint can rebuild the network before loading the weights; the
`--model` options of the command line offer the same names. Trained networks
come from minicnn.models (pretrained, open_model).
"""
from minicnn.init import dirac, kaiming_uniform
from minicnn.nn import (
    AdaptiveAvgPool2d,
    BasicBlock,
    BatchNorm2d,
    Conv2d,
    Flatten,
    Linear,
    MaxPool2d,
    ReLU,
    Sequential,
)


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


def residual_net(num_classes=10, stem=32, widths=(64, 128, 256), blocks=(1, 0, 1)):
    """(N, 3, 32, 32) images -> (N, num_classes) logits; by default about 97 M multiply-adds
    and 1.6 M parameters, three stages at 16x16, 8x8 and 4x4.

    - stem: channels of the 5x5 first layer (conv1, padding 2, at 32x32)
    - widths: channels of the three stages; blocks: residual blocks (BasicBlock, two 3x3
      convolutions and an identity shortcut) after each stage's conv-pool-bn-relu
    Convolutions followed by BatchNorm have no bias (BatchNorm's own bias replaces it).
    """
    if len(widths) != 3 or len(blocks) != 3:
        raise ValueError(f"residual_net: widths and blocks need 3 entries, got {widths}, {blocks}")
    layers = {
        "conv1": Conv2d(3, stem, 5, padding=2, bias=False),   # (N, stem, 32, 32)
        "bn1": BatchNorm2d(stem),
        "relu1": ReLU(),
    }
    channels = stem
    for s, (width, count) in enumerate(zip(widths, blocks), start=2):
        layers[f"conv{s}"] = Conv2d(channels, width, 3, padding=1, bias=False)
        layers[f"pool{s - 1}"] = MaxPool2d(2)                 # (N, width, 32 / 2^(s-1), ...)
        layers[f"bn{s}"] = BatchNorm2d(width)
        layers[f"relu{s}"] = ReLU()
        for b in range(count):
            layers[f"block{s}" + (f"_{b + 1}" if count > 1 else "")] = BasicBlock(width, width)
        channels = width
    layers["gap"] = AdaptiveAvgPool2d(1)                      # (N, widths[-1], 1, 1)
    layers["flatten"] = Flatten()                             # (N, widths[-1])
    layers["fc"] = Linear(channels, num_classes)              # (N, num_classes)
    return Sequential(layers)


def vgg_bn_net(num_classes=10, widths=(64, 256, 256)):
    """(N, 3, 32, 32) images -> (N, num_classes) logits; about 118 M multiply-adds and 1.97 M
    parameters at the default widths.

    - conv1: 24 2x2 filters without padding (31x31); minicnn.train starts them from
      whitening (init_whitening) and trains only their bias, for the first epochs
    - three groups at 31 -> 15, 15 -> 7 and 7 -> 3: conv, 2x2 max-pool, BN, ReLU, conv, BN, ReLU
    - pool4 takes the max over the last 3x3 map; fc has no bias
    Initialisation as airbench's: PyTorch's default scale (init.kaiming_uniform), the
    first filters of every 3x3 convolution the identity (init.dirac), BatchNorm's running
    statistics with momentum 0.4, and a head 1/9 the usual size (airbench multiplies the
    logits by 1/9; the trainer gives the head 1/81 of the learning rate, which is the same).
    """
    if len(widths) != 3:
        raise ValueError(f"vgg_bn_net: widths needs 3 entries, got {widths}")
    layers = {"conv1": Conv2d(3, 24, 2),                     # (N, 24, 31, 31)
              "relu1": ReLU()}
    channels, n = 24, 2
    for g, width in enumerate(widths, start=1):              # 31 -> 15 -> 7 -> 3
        layers[f"conv{n}"] = Conv2d(channels, width, 3, padding=1, bias=False)
        layers[f"pool{g}"] = MaxPool2d(2)
        layers[f"bn{n}"] = BatchNorm2d(width, momentum=0.4)
        layers[f"relu{n}"] = ReLU()
        layers[f"conv{n + 1}"] = Conv2d(width, width, 3, padding=1, bias=False)
        layers[f"bn{n + 1}"] = BatchNorm2d(width, momentum=0.4)
        layers[f"relu{n + 1}"] = ReLU()
        channels, n = width, n + 2
    layers["pool4"] = MaxPool2d(3)                           # (N, widths[-1], 1, 1)
    layers["flatten"] = Flatten()                            # (N, widths[-1])
    layers["fc"] = Linear(channels, num_classes, bias=False)  # (N, num_classes)
    net = Sequential(layers)
    for _, layer in net.named_modules():
        if isinstance(layer, (Conv2d, Linear)):
            fan_in = layer.weight.data[0].size               # C*KH*KW or D
            layer.weight.data = kaiming_uniform(layer.weight.shape, fan_in)
            if isinstance(layer, Conv2d) and layer.kernel_size == (3, 3):
                dirac(layer.weight.data)
    net.fc.weight.data /= 9
    return net


MODELS = {"reference_net": reference_net, "mlp": mlp, "residual_net": residual_net,
          "vgg_bn_net": vgg_bn_net}
