"""The lecture's two networks, layer for layer as in the course notebook."""

from torch import nn


class Autoencoder(nn.Module):
    """784 -> 400 (tanh) -> 784 (sigmoid): hidden codes in [-1, 1], pixels out in [0, 1].

    >>> Autoencoder()(torch.zeros(2, 784)).shape
    torch.Size([2, 784])
    """

    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(28 * 28, 400), nn.Tanh())
        self.decoder = nn.Sequential(nn.Linear(400, 28 * 28), nn.Sigmoid())

    def forward(self, x):  # x: [N, 784]
        return self.decoder(self.encoder(x))


class Classifier(nn.Module):
    """784 -> 400 -> ReLU -> 256 -> ReLU -> 10 raw scores (no softmax: the loss decides).

    >>> Classifier()(torch.zeros(2, 784)).shape
    torch.Size([2, 10])
    """

    def __init__(self):
        super().__init__()
        # The notebook's Layer1 (representation) and Layer2 (classifier).
        self.features = nn.Sequential(nn.Linear(28 * 28, 400), nn.ReLU(), nn.Linear(400, 256), nn.ReLU())
        self.classifier = nn.Linear(256, 10)

    def forward(self, x):  # x: [N, 784] -> [N, 10]
        return self.classifier(self.features(x))


NETWORKS = {"regression": Autoencoder, "classification": Classifier}
