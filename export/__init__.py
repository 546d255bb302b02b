"""PyTorch side of rtstyle: the transformation network, its ONNX export and training.

Everything under this package imports torch; the runtime (``rtstyle/``) never imports it.
"""
