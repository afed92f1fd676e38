"""The `lienthong` command and the local development stack it drives."""
