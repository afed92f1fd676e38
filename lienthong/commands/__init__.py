"""The subcommands of `lienthong`, one module per noun; each adds itself with `register`."""
