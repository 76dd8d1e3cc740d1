"""The existence network (defined with the objectness network in `models.objectness_net`)."""

from models.objectness_net import EXISTENCE_ARCHS, ExistenceNet

__all__ = ["EXISTENCE_ARCHS", "ExistenceNet"]
