"""Python source backend: a network as standalone Python that needs only torch (`archc emit`),
the source `archc.build` compiles and runs."""
