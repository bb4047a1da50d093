"""PyTorch backend: the IR compiled to nn.Modules with generated forward code."""
