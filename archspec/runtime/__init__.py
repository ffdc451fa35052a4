"""The only package that imports torch: lowering specs to modules (and, later, training)."""
