"""The national document axis protocol (VDXP/LGSP "XroadVnpt"), served under /vxp."""

from connectors.vxp.server import answering, authenticate, mount, serves

__all__ = ["answering", "authenticate", "mount", "serves"]
