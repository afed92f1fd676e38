"""The unit directory: who may send and receive, at which level, and who took over from whom."""

from broker.directory.model import Directory, Resolution, Unit, check_organ_id

__all__ = ["Directory", "Resolution", "Unit", "check_organ_id"]
