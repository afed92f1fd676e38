"""The console's pages, one module per subject; console.app mounts every module here that
has `routes` (and puts its `menu` items in the menu)."""
